// What a station run leaves behind: a JSON report per job (drive identities, ranges,
// outcomes per target with reasons and offsets, durations, throughput) and a table.
import type { DriveInfo } from '../drive.js';
import { formatBytes, formatRate } from '../units.js';
import { fitTable } from '../../dashboard/format.js';
import type { StationJob } from './station.js';

function driveIdentity(path: string, d: DriveInfo | undefined): Record<string, unknown> {
  return { path, kind: d?.kind ?? 'file', model: d?.model, serial: d?.serial, wwn: d?.wwn, size: d?.size, logicalSectorSize: d?.logicalSectorSize };
}

export function jobReport(j: StationJob): Record<string, unknown> {
  const seconds = j.startedAt && j.endedAt ? (j.endedAt - j.startedAt) / 1000 : 0;
  const copySeconds = j.result?.copySeconds ?? 0;
  return {
    id: j.id,
    state: j.state,
    source: driveIdentity(j.spec.source, j.source),
    range: { offset: j.spec.offset, length: j.spec.length, targetOffset: j.spec.offset + j.spec.targetDelta },
    bytes: j.spec.length,
    seconds,
    copySeconds,
    verifySeconds: j.result?.verifySeconds ?? 0,
    averageBytesPerSec: copySeconds > 0 ? j.spec.length / copySeconds : 0,
    backend: j.result?.backend,
    hashes: j.result?.hashes,
    hashNote: j.result?.hashNote,
    readError: j.result?.readError,
    map: j.map,
    rescue: j.rescue?.summary,
    error: j.error,
    targets: j.targets.map((t, i) => ({ ...driveIdentity(t.path, t.drive), ...(j.result?.targets[i] ?? { state: j.state, ...(j.error ? { reason: j.error } : {}) }) })),
  };
}

function countTargets(reports: Record<string, unknown>[], state: string): number {
  let n = 0;
  for (const r of reports) for (const t of r.targets as { state: string }[]) if (t.state === state) n++;
  return n;
}

export function stationReport(jobs: StationJob[], started: Date): Record<string, unknown> {
  const reports = jobs.map(jobReport);
  const rates = reports.map((r) => r.averageBytesPerSec as number).filter((r) => r > 0);
  return {
    startedAt: started.toISOString(),
    endedAt: new Date().toISOString(),
    jobs: reports,
    summary: {
      jobs: jobs.length,
      done: jobs.filter((j) => j.state === 'done').length,
      failed: jobs.filter((j) => j.state === 'failed').length,
      cancelled: jobs.filter((j) => j.state === 'cancelled').length,
      targetsDone: countTargets(reports, 'done'),
      targetsFailed: countTargets(reports, 'failed'),
      // (a loop, not Math.min(...rates): spreading 100,000 jobs' rates overflows the stack)
      slowestBytesPerSec: rates.reduce((m, r) => Math.min(m, r), rates.length > 0 ? Infinity : 0),
    },
  };
}

/** The terminal's width when the summary goes to one (stderr), else none: a log keeps every character. */
function terminalWidth(): number {
  return process.stderr.isTTY && process.stderr.columns > 0 ? process.stderr.columns : Number.POSITIVE_INFINITY;
}

/** One row per target, for people, fitted to `width` (paths cut in the middle, notes folded). */
export function summaryTable(jobs: StationJob[], width = terminalWidth()): string[] {
  const rows = [['JOB', 'SOURCE', 'TARGET', 'STATE', 'BYTES', 'RATE', 'VERIFIED', 'NOTE']];
  for (const j of jobs) {
    if (j.map) {
      const r = j.rescue?.summary;
      rows.push([String(j.id), j.spec.source, j.targets[0].path, j.state, formatBytes(r?.rescuedBytes ?? 0), r ? formatRate(r.bytesPerSec) : '-', 'map', r ? `rescue: bad ${formatBytes(r.badBytes)} in ${r.badAreas} area(s), map ${j.map}` : (j.error ?? '')]);
      continue;
    }
    const rate = j.result && j.result.copySeconds > 0 ? formatRate(j.spec.length / j.result.copySeconds) : '-';
    j.targets.forEach((t, i) => {
      const o = j.result?.targets[i];
      const written = o?.writtenSeconds !== undefined ? `written at ${o.writtenSeconds.toFixed(2)} s` : '';
      const note = o?.reason ?? (o?.detachedAt !== undefined ? `slow: left the stream at ${o.detachedAt}, caught up; ${written}` : written || (j.error ?? ''));
      rows.push([String(j.id), j.spec.source, t.path, o?.state ?? j.state, formatBytes(j.spec.length), rate, o?.verified ? 'yes' : 'no', note]);
    });
  }
  return fitTable(rows, width, { paths: [1, 2], wrap: [7], min: 8 });
}
