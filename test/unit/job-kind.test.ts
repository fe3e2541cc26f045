// A kind declared in the test tree runs through the job-file reader, the station, the worker
// task and the dashboard adapter without a line of theirs naming it: the job model's promise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { BUILT_IN_KINDS, loadAllKinds, registerKind, kindNames } from '../../src/jobs/index.js';
import { Station } from '../../src/station/station.js';
import { StationSource } from '../../src/station/view.js';
import { stationReport, summaryTable } from '../../src/station/report.js';
import { parseJobDocument } from '../../src/station/jobfile.js';
import { CloneStationError } from '../../src/errors.js';
import toyKind from '../helpers/toy-kind.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cs-kind-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  // The worker imports a kind's compiled module (src/worker-file.ts compiledFile): this one
  // is compiled here, beside the project's own under dist/, so its imports resolve there.
  const src = join(root, 'test', 'helpers', 'toy-kind.ts');
  const out = join(root, 'dist', 'test', 'helpers', 'toy-kind.js');
  const js = ts.transpileModule(readFileSync(src, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, js);
  registerKind(toyKind);
});

async function refusal(f: () => unknown): Promise<CloneStationError> {
  try {
    await f();
  } catch (e) {
    if (e instanceof CloneStationError) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('the registry', () => {
  it("says each built-in kind's JS work as the kind itself does (the pool is sized before kinds load)", async () => {
    for (const k of await loadAllKinds()) if (Object.hasOwn(BUILT_IN_KINDS, k.name)) expect(BUILT_IN_KINDS[k.name].jsWork, k.name).toBe(k.jsWork);
  });
});

describe('the parts that run jobs', () => {
  it('name no kind: the station, its report, the job-file reader, the pool and the worker task', () => {
    for (const f of ['src/station/station.ts', 'src/station/report.ts', 'src/station/jobfile.ts', 'src/station/pool.ts', 'src/station/cli.ts', 'workers/job-task.ts']) {
      const text = readFileSync(join(root, f), 'utf8');
      expect(text, f).not.toMatch(/['"](clone|rescue|backup|restore)['"]/);
      expect(text, f).not.toMatch(/kind\.name\s*===|\.map\s*\?|j\.map\b/);
    }
  });
});

describe('a kind registered from outside', () => {
  it('is known to the job-file reader, which checks its fields by its declaration', async () => {
    expect(kindNames()).toEqual(expect.arrayContaining(['clone', 'rescue', 'backup', 'restore', 'verify', 'toy']));
    const got = await parseJobDocument({ jobs: [{ kind: 'toy', out: '/x', lines: 3 }, { source: '/a', targets: ['/b'] }] }, 'j.json');
    expect(got.jobs).toEqual([{ kind: 'toy', out: '/x', lines: 3 }, { kind: 'clone', source: '/a', targets: ['/b'] }]);
    const zero = await refusal(() => parseJobDocument({ jobs: [{ source: '/a', targets: ['/b'] }, { kind: 'toy', out: '/x', lines: 0 }] }, 'j.json'));
    expect([zero.code, zero.message]).toEqual(['BAD_JOBFILE', 'job file j.json: job 2 (toy): "lines" must be a whole number from 1 to 100000']);
    const stray = await refusal(() => parseJobDocument({ jobs: [{ kind: 'toy', out: '/x', lines: 2, line: 2 }] }, 'j.json'));
    expect(stray.message).toMatch(/job 1 \(toy\) has an unknown field "line" \(did you mean "lines"\?\)/);
    const missing = await refusal(() => parseJobDocument({ jobs: [{ kind: 'toy', lines: 2 }] }, 'j.json'));
    expect(missing.message).toMatch(/job 1 \(toy\) needs a "out" path/);
    const unknown = await refusal(() => parseJobDocument({ jobs: [{ kind: 'toys', out: '/x', lines: 2 }] }, 'j.json'));
    expect(unknown.message).toMatch(/job 1: "kind" must be one of .*toy.* \(did you mean "toy"\?\)/);
  });

  it('runs in a worker beside a clone, shows on the dashboard adapter, pauses, cancels and reports', async () => {
    const src = join(dir, 'src.img');
    writeFileSync(src, Buffer.alloc(1 << 20, 7));
    const station = new Station({ maxParallel: 3, verify: true });
    const a = await station.add({ kind: 'toy', out: join(dir, 'a.txt'), lines: 40 });
    const b = await station.add({ kind: 'toy', out: join(dir, 'b.txt'), lines: 100000 });
    await station.add({ source: src, targets: [join(dir, 'copy.img')] });
    // its touches go through the station's conflict table like any kind's
    const twice = await station.add({ kind: 'toy', out: join(dir, 'a.txt'), lines: 1 }).catch((e: unknown) => e);
    expect(twice).toBeInstanceOf(CloneStationError);
    expect((twice as CloneStationError).code).toBe('STATION_CONFLICT');
    const view = new StationSource(station, 'toys');
    const running = station.run();
    // b is paused once it has written something, then cancelled: it stops where it was
    for (let i = 0; i < 2000 && (view.jobs()[1].bytesDone === 0 || view.jobs()[1].state !== 'running'); i++) await new Promise((r) => setTimeout(r, 5));
    view.pause(b.id);
    expect(view.jobs()[1].state).toBe('paused');
    await new Promise((r) => setTimeout(r, 100));
    const held = readFileSync(join(dir, 'b.txt'), 'utf8').split('\n').length;
    await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(join(dir, 'b.txt'), 'utf8').split('\n').length).toBe(held);
    view.cancel(b.id);
    await running;
    const rows = view.jobs();
    expect(rows.map((r) => [r.role, r.state])).toEqual([
      ['toy', 'done'],
      ['toy', 'cancelled'],
      ['pair', 'done'],
    ]);
    expect(rows[0].bytesDone).toBe(40);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe(Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`).join(''));
    const report = stationReport(station.jobs, new Date()) as { jobs: Record<string, unknown>[]; summary: Record<string, number> };
    expect(report.jobs[0]).toMatchObject({ id: a.id, kind: 'toy', state: 'done', written: 40 });
    expect(report.jobs[0].threadId).toBeGreaterThan(0);
    expect(report.jobs[1]).toMatchObject({ kind: 'toy', state: 'cancelled' });
    expect(report.jobs[1].written).toBeLessThan(100000);
    expect(report.jobs[2]).toMatchObject({ kind: 'clone', state: 'done' });
    expect(report.summary).toMatchObject({ jobs: 3, done: 2, cancelled: 1 });
    expect(view.report(a.id)).toMatchObject({ kind: 'toy', out: join(dir, 'a.txt') });
    expect(summaryTable(station.jobs, 200).join('\n')).toMatch(/a\.txt\s+done\s+40/);
  });
});
