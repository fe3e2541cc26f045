// The station's planning without drives: rings cut to the job and to the budget, the gate
// that keeps running rings within it, and resources compared by identity (files, links,
// new paths, a map's journal and save names).
import { afterAll, describe, expect, it } from 'vitest';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryGate } from '../../src/station/ring.js';
import { MIN_RING_DEPTH, ringBytes, ringShape, type RingInput } from '../../src/jobs/ring.js';
import { ResourceTable, pathResource } from '../../src/station/resources.js';
import { RefusedError } from '../../src/errors.js';
import type { CloneJobSpec } from '../../src/contract.js';

const MiB = 1 << 20;
const base: RingInput = { length: 1 << 30, targets: 1, blockSize: 4 * MiB, blockSizeGiven: false, depth: 4, verifyDepth: 4, verify: false, hash: false, share: 256 * MiB };

describe('ringShape', () => {
  it('keeps the ring asked for when the share holds it', () => {
    expect(ringShape(base)).toEqual({ blockSize: 4 * MiB, depth: 4, verifyDepth: 4, bytes: 16 * MiB });
  });

  it('never makes a ring larger than the job', () => {
    expect(ringShape({ ...base, length: 4096 })).toMatchObject({ blockSize: 4096, depth: 1, bytes: 4096 });
    expect(ringShape({ ...base, length: 5000 })).toMatchObject({ blockSize: 8192, depth: 1 });
    expect(ringShape({ ...base, length: 0 })).toMatchObject({ blockSize: 4096, depth: 1 });
    expect(ringShape({ ...base, length: 6 * MiB })).toMatchObject({ blockSize: 4 * MiB, depth: 2 });
  });

  it('fits 16 jobs with --verify --hash into 16 MiB each: verify depth first, then the slot size', () => {
    const r = ringShape({ ...base, verify: true, hash: true, share: 16 * MiB });
    expect(r.bytes).toBeLessThanOrEqual(16 * MiB);
    expect(r.verifyDepth).toBe(MIN_RING_DEPTH);
    expect(r.depth).toBe(4);
    expect(r.blockSize).toBe(2 * MiB);
    expect(r.bytes).toBe(ringBytes(r, { targets: 1, verify: true, hash: true }));
  });

  it('keeps a block size the user gave, taking depth instead, never below the minimum', () => {
    const r = ringShape({ ...base, blockSizeGiven: true, verify: true, hash: true, share: 8 * MiB });
    expect(r.blockSize).toBe(4 * MiB);
    expect(r.depth).toBe(MIN_RING_DEPTH);
    expect(r.verifyDepth).toBe(MIN_RING_DEPTH);
    expect(r.bytes).toBeGreaterThan(8 * MiB); // over its share: the gate makes it wait
  });

  it('counts a 1:N verify ring as one buffer per drive a slot', () => {
    expect(ringBytes({ blockSize: MiB, depth: 4, verifyDepth: 4 }, { targets: 3, verify: true, hash: false })).toBe(16 * MiB);
    expect(ringBytes({ blockSize: MiB, depth: 4, verifyDepth: 4 }, { targets: 3, verify: true, hash: true })).toBe(20 * MiB);
  });
});

describe('MemoryGate', () => {
  it('admits while the total fits, in order, and a job larger than the budget alone', async () => {
    const gate = new MemoryGate(100);
    const order: string[] = [];
    await gate.take(60);
    const b = gate.take(50).then(() => order.push('b'));
    const c = gate.take(10).then(() => order.push('c')); // fits, but waits behind b: first come, first served
    await Promise.resolve();
    expect(order).toEqual([]);
    gate.give(60);
    await Promise.all([b, c]);
    expect(order).toEqual(['b', 'c']);
    gate.give(50);
    gate.give(10);
    await gate.take(500); // alone: runs
    const d = gate.take(1).then(() => order.push('d'));
    await Promise.resolve();
    expect(order).toEqual(['b', 'c']);
    gate.give(500);
    await d;
    expect(order).toEqual(['b', 'c', 'd']);
  });
});

describe('ResourceTable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-res-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const f = (name: string): string => {
    const p = join(dir, name);
    writeFileSync(p, 'x');
    return p;
  };
  const refuses = (fn: () => void): string => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(RefusedError);
      expect((e as RefusedError).code).toBe('STATION_CONFLICT');
      return (e as Error).message;
    }
    throw new Error('not refused');
  };

  it('lets jobs read one file, refuses a second writer or a reader of what is written', () => {
    const src = f('src');
    const t = new ResourceTable();
    t.claim(1, [pathResource(src, 'the source', false), pathResource(join(dir, 't1'), 'a target', true)]);
    t.claim(2, [pathResource(src, 'the source', false), pathResource(join(dir, 't2'), 'a target', true)]);
    expect(refuses(() => t.claim(3, [pathResource(join(dir, 't1'), 'the map', true)]))).toMatch(/is the map of job 3 and a target of job 1/);
    expect(refuses(() => t.claim(3, [pathResource(join(dir, 'x'), 'a target', true), pathResource(src, 'the map', true)]))).toMatch(/the source of job 1/);
    // a refused claim records nothing: x is still free
    t.claim(4, [pathResource(join(dir, 'x'), 'a target', true)]);
  });

  it('compares by identity: a hard link, a symbolic link, another spelling of a new path', () => {
    const a = f('a');
    linkSync(a, join(dir, 'a-hard'));
    symlinkSync(a, join(dir, 'a-soft'));
    mkdirSync(join(dir, 'sub'));
    symlinkSync(join(dir, 'new-target'), join(dir, 'dangling'));
    for (const [first, second] of [
      [a, join(dir, 'a-hard')],
      [a, join(dir, 'a-soft')],
      [join(dir, 'new-map'), join(dir, 'sub', '..', 'new-map')],
      [join(dir, 'new-target'), join(dir, 'dangling')],
      [join(dir, 'no', 'such', 'folder', 'm'), join(dir, 'no', 'such', '..', 'such', 'folder', 'm')],
    ]) {
      const t = new ResourceTable();
      t.claim(1, [pathResource(first, 'a target', true)]);
      refuses(() => t.claim(2, [pathResource(second, 'the map', true, { ownsFamily: true })]));
    }
  });

  it("refuses a target among a map's save and journal names, either order", () => {
    const map = join(dir, 'r.map');
    // (a file that owns its names owns every NAME.* beside it: an image's .001, .partial, .manifest.json too)
    for (const other of ['r.map.tmp', 'r.map.journal-1', 'r.map.journal-12', 'r.map.journal-x', 'r.map.001.tmp']) {
      const t = new ResourceTable();
      t.claim(1, [pathResource(map, 'the map', true, { ownsFamily: true })]);
      refuses(() => t.claim(2, [pathResource(join(dir, other), 'a target', true)]));
      const u = new ResourceTable();
      u.claim(1, [pathResource(join(dir, other), 'a target', true)]);
      refuses(() => u.claim(2, [pathResource(map, 'the map', true, { ownsFamily: true })]));
    }
    // names that only look alike are free
    const t = new ResourceTable();
    t.claim(1, [pathResource(map, 'the map', true, { ownsFamily: true })]);
    t.claim(2, [pathResource(join(dir, 'r.mapp.tmp'), 'a target', true), pathResource(join(dir, 'r.ma.tmp'), 'a target', true)]);
    t.claim(3, [pathResource(join(dir, 'a.tmp'), 'a target', true)]);
    t.claim(4, [pathResource(join(dir, 'a.journal-1'), 'a target', true)]);
  });

  it('refuses one job that writes a thing twice or reads what it writes', () => {
    const s = f('s2');
    expect(refuses(() => new ResourceTable().claim(1, [pathResource(s, 'the source', false), pathResource(s, 'the map', true)]))).toMatch(/the map and the source of job 1/);
    refuses(() => new ResourceTable().claim(1, [pathResource(join(dir, 'n'), 'a target', true), pathResource(join(dir, 'n'), 'a target', true)]));
  });

  it("refuses a job that writes the station's report", () => {
    const t = new ResourceTable();
    t.claim(0, [pathResource(join(dir, 'report.json'), 'the report (--report)', true)]);
    expect(refuses(() => t.claim(1, [pathResource(join(dir, 'report.json'), 'a target', true)]))).toMatch(/the report \(--report\)/);
  });
});

describe('Station.validate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-ring-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps the rings of the jobs that run at once within the budget, and a tiny job's ring tiny", async () => {
    const { Station } = await import('../../src/station/station.js');
    const { RING_BUDGET_BYTES } = await import('../../src/jobs/ring.js');
    const station = new Station({ maxParallel: 16, verify: true, hash: ['sha256'] });
    for (let i = 0; i < 16; i++) {
      const src = join(dir, `s${i}`);
      writeFileSync(src, '');
      truncateSync(src, 64 * MiB);
      await station.add({ source: src, targets: [join(dir, `t${i}`)] });
    }
    const tiny = join(dir, 'tiny');
    writeFileSync(tiny, Buffer.alloc(4096, 1));
    await station.add({ source: tiny, targets: [join(dir, 'tiny-copy')] });
    station.validate();
    const big = station.jobs.slice(0, 16);
    expect(big.reduce((n, j) => n + j.ringBytes, 0)).toBeLessThanOrEqual(RING_BUDGET_BYTES);
    const spec = (j: (typeof station.jobs)[number]): CloneJobSpec => j.planned.payload as CloneJobSpec;
    for (const j of big) expect(j.ringBytes).toBe(ringBytes({ blockSize: spec(j).blockSize, depth: spec(j).depth, verifyDepth: spec(j).verifyDepth ?? spec(j).depth }, { targets: 1, verify: true, hash: true }));
    expect(spec(station.jobs[16])).toMatchObject({ blockSize: 4096, depth: 1, verifyDepth: 1 });
    await station.close();
  });
});

describe('Station.run within a ring budget', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-gate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs jobs whose rings do not fit together one after another, every copy exact', async () => {
    const { Station } = await import('../../src/station/station.js');
    const station = new Station({ maxParallel: 4, ringBudget: MiB, verify: false });
    for (let i = 0; i < 5; i++) {
      const src = join(dir, `s${i}`);
      writeFileSync(src, Buffer.alloc(MiB, i + 1));
      await station.add({ source: src, targets: [join(dir, `t${i}`)] });
    }
    const jobs = await station.run();
    for (const j of jobs) expect(j.ringBytes).toBe(MiB); // one 1 MiB slot: more than a quarter of the budget
    for (let i = 0; i < 5; i++) {
      expect(jobs[i].state).toBe('done');
      expect(readFileSync(join(dir, `t${i}`)).equals(readFileSync(join(dir, `s${i}`)))).toBe(true);
      // the next job was let in only when this one had ended and given its ring back
      if (i > 0) expect(jobs[i].startedAt!).toBeGreaterThanOrEqual(jobs[i - 1].endedAt!);
    }
  });
});
