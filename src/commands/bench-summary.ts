// What `bench` prints on stdout once its jobs have ended: the drives side by side, test by
// test, or (--json) fio's JSON document of every drive's tests.
import { fitTable } from '../../dashboard/format.js';
import { formatRate } from '../units.js';
import type { StationJob } from '../station/station.js';
import type { BenchPayload, BenchResult } from '../jobs/bench.js';
import { fioJson, type DirFigures, type FioJob } from '../drivebench/figures.js';

type BenchJob = StationJob<BenchPayload, BenchResult>;

function isBench(j: StationJob): boolean {
  return j.kind.name === 'bench';
}

function cell(f: DirFigures | undefined): string {
  if (!f) return '';
  const p99 = f.lat.percentiles.find((p) => p.percent === 99)?.ns;
  return `${formatRate(f.bw)} ${Math.round(f.iops)} IOPS${p99 !== undefined ? ` p99 ${(p99 / 1e6).toFixed(p99 < 1e7 ? 2 : 1)} ms` : ''}`;
}

export function benchSummary(all: readonly StationJob[], o: { json: boolean; version: string; width?: number }): string {
  const jobs = all.filter(isBench) as unknown as BenchJob[];
  if (o.json) {
    const fio: FioJob[] = jobs.flatMap((j) => (j.result?.tests ?? []).map((outcome) => ({ drive: j.planned.payload.path, outcome, runtime: j.planned.payload.runtime, ramp: j.planned.payload.ramp })));
    const doc = fioJson(fio, o.version);
    // beside fio's fields: which drives these were, and what was noticed
    doc.clonestation = { jobs: jobs.map((j) => ({ id: j.id, state: j.state, ...j.kind.report(j), ...(j.error ? { error: j.error } : {}) })) };
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  const names: string[] = [];
  for (const j of jobs) for (const t of j.result?.tests ?? []) if (!names.includes(t.test.name)) names.push(t.test.name);
  if (names.length === 0) return '';
  const rows = [['TEST', ...jobs.map((j) => j.planned.payload.path)]];
  for (const n of names) {
    rows.push([
      n,
      ...jobs.map((j) => {
        const t = j.result?.tests.find((x) => x.test.name === n);
        if (!t) return '-';
        if (t.state !== 'done') return t.state;
        return [cell(t.read), cell(t.write)].filter(Boolean).join('; ');
      }),
    ]);
  }
  const notes = jobs.flatMap((j) => (j.result?.notes ?? []).map((n) => `${j.planned.payload.path}: ${n}`));
  const width = o.width ?? (process.stdout.isTTY && process.stdout.columns > 0 ? process.stdout.columns : Number.POSITIVE_INFINITY);
  return `${fitTable(rows, width, { wrap: rows[0].map((_, i) => i).slice(1), min: 14 }).join('\n')}\n${notes.map((n) => `note: ${n}\n`).join('')}`;
}
