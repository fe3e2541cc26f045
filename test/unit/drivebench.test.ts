// The drive benchmark's policy without a drive: profiles, custom tests, loops combined, fio's
// JSON shape, SNIA's steady-state rule and the write-cache note. No root.
import { describe, expect, it } from 'vitest';
import { parseTestEntry, profileTests, writes } from '../../src/drivebench/tests.js';
import { combineLoops, fioJson, steadyState, writeCollapse, type TestOutcome } from '../../src/drivebench/figures.js';
import { PLAT_BUCKETS, valToIdx } from '../../src/iogen-histogram.js';
import type { DirectionFigures, IoGenResult } from '../../src/iogen.js';
import { CloneStationError } from '../../src/errors.js';

const MiB = 1 << 20;

/** A direction whose I/Os all took `ns` (its histogram one bucket). */
function dir(ops: number, bytes: number, seconds: number, ns: number): DirectionFigures {
  const histogram = new Float64Array(PLAT_BUCKETS);
  if (ops > 0) histogram[valToIdx(ns)] = ops;
  return { ops, bytes, seconds, bw: seconds > 0 ? bytes / seconds : 0, iops: seconds > 0 ? ops / seconds : 0, lat: { minNs: ns, maxNs: ns, meanNs: ns, stddevNs: 0, percentiles: [] }, histogram };
}

function loop(read: DirectionFigures, write = dir(0, 0, 1, 0)): IoGenResult {
  return { state: 'done', backend: 'io_uring', backendNote: '', registeredBuffers: true, registeredFiles: true, elapsedSeconds: 1, cpuSeconds: 0.1, read, write, rings: [] };
}

describe('profiles', () => {
  it("default is CrystalDiskMark's set, reads then writes; --threads adds RND4K Q32T16; --read-only drops the writes", () => {
    expect(profileTests('default').map((t) => t.name)).toEqual([
      'SEQ1M Q8T1 read',
      'SEQ1M Q1T1 read',
      'RND4K Q32T1 read',
      'RND4K Q1T1 read',
      'SEQ1M Q8T1 write',
      'SEQ1M Q1T1 write',
      'RND4K Q32T1 write',
      'RND4K Q1T1 write',
    ]);
    const t16 = profileTests('default', { threads: true }).find((t) => t.name === 'RND4K Q32T16 read');
    expect(t16).toMatchObject({ rw: 'randread', blockSize: 4096, depth: 32, jobs: 16 });
    expect(profileTests('default', { readOnly: true }).some(writes)).toBe(false);
    expect(profileTests('realworld').map((t) => t.name)).toEqual(['SEQ1M Q1T1 read', 'RND4K Q1T1 read', 'SEQ1M Q1T1 write', 'RND4K Q1T1 write']);
    expect(profileTests('peak').map((t) => [t.name, t.depth, t.jobs])).toEqual([
      ['SEQ1M Q8T1 read', 8, 1],
      ['RND4K Q32T16 read', 32, 16],
      ['SEQ1M Q8T1 write', 8, 1],
      ['RND4K Q32T16 write', 32, 16],
    ]);
  });

  it('reads custom tests in fio words, and refuses what is not one, naming the key', () => {
    expect(parseTestEntry('rw=randread,bs=4k,qd=32,jobs=4')).toEqual({ name: 'rw=randread,bs=4k,qd=32,jobs=4', rw: 'randread', blockSize: 4096, depth: 32, jobs: 4, readPercent: undefined });
    expect(parseTestEntry('rw=randrw,bs=64KiB,mix=70')).toMatchObject({ rw: 'randrw', blockSize: 65536, depth: 1, jobs: 1, readPercent: 70 });
    expect(writes(parseTestEntry('rw=randrw,mix=100'))).toBe(false);
    expect(writes(parseTestEntry('rw=rw'))).toBe(true);
    for (const [text, says] of [
      ['rw=randred', /rw must be one of/],
      ['bs=4k', /rw must be one of/],
      ['rw=read,bs=1000', /bs must be a multiple of 512/],
      ['rw=read,qd=0', /qd must be a whole number from 1 to 1024/],
      ['rw=read,jobs=999', /jobs must be a whole number from 1 to 256/],
      ['rw=read,depth=4', /unknown key "depth"/],
      ['rw=read,mix=50', /mix is for rw=rw or rw=randrw/],
      ['rw=randrw,mix=101', /mix \(the percent of reads\)/],
      ['rw=read,rw=write', /given twice/],
      ['read', /is not KEY=VALUE/],
    ] as const) {
      let err: unknown;
      try {
        parseTestEntry(text);
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(CloneStationError);
      expect((err as CloneStationError).code).toBe('BAD_TEST');
      expect((err as CloneStationError).message).toMatch(says);
    }
  });
});

describe('loops combined', () => {
  it('mean: bandwidth and IOPS averaged, latency weighted by I/Os, percentiles from the merged histogram', () => {
    const a = loop(dir(1000, 1000 * MiB, 1, 100_000));
    const b = loop(dir(3000, 3000 * MiB, 1, 300_000));
    const m = combineLoops([a, b], 'mean');
    expect(m.write).toBeUndefined();
    expect(m.read?.bw).toBe((1000 * MiB + 3000 * MiB) / 2);
    expect(m.read?.iops).toBe(2000);
    expect(m.read?.lat.meanNs).toBe((1000 * 100_000 + 3000 * 300_000) / 4000);
    // a quarter of the I/Os took 100 µs, the rest 300 µs: p50 and p99 in the 300 µs bucket, within fio's bound
    const p = Object.fromEntries(m.read!.lat.percentiles.map((x) => [x.percent, x.ns]));
    expect(Math.abs(p[50] - 300_000) / 300_000).toBeLessThan(1 / 64);
    expect(Math.abs(p[99] - 300_000) / 300_000).toBeLessThan(1 / 64);
    const best = combineLoops([a, b], 'best');
    expect(best.read?.bw).toBe(3000 * MiB);
  });
});

describe("fio's JSON shape", () => {
  it('has jobs[].read/write with bw (KiB/s), bw_bytes, iops and clat_ns with its percentile keys', () => {
    const r = combineLoops([loop(dir(2000, 2000 * 4096, 2, 50_000))], 'mean');
    const outcome: TestOutcome = { test: { name: 'RND4K Q1T1 read', rw: 'randread', blockSize: 4096, depth: 1, jobs: 1 }, state: 'done', loops: 1, cpuSeconds: 0.5, backend: 'io_uring', ...r };
    const doc = fioJson([{ drive: '/dev/sdz', outcome, runtime: 2, ramp: 0 }], '9.9') as { jobs: Record<string, any>[] }; // eslint: the document is fio's, untyped by design
    expect(doc['fio version' as never]).toBe('clonestation-9.9');
    const job = doc.jobs[0];
    expect(job.jobname).toBe('/dev/sdz: RND4K Q1T1 read');
    expect(job['job options']).toMatchObject({ rw: 'randread', bs: '4096', iodepth: '1', numjobs: '1', filename: '/dev/sdz' });
    expect(job.read.bw_bytes).toBe(4096 * 1000);
    expect(job.read.bw).toBe(4000);
    expect(job.read.iops).toBe(1000);
    expect(job.read.total_ios).toBe(2000);
    expect(job.read.runtime).toBe(2000);
    expect(job.read.clat_ns.mean).toBe(50_000);
    expect(Object.keys(job.read.clat_ns.percentile)).toEqual(['50.000000', '90.000000', '99.000000', '99.900000', '99.990000']);
    expect(job.write.iops).toBe(0);
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });
});

describe("SNIA's steady state and the write-cache note", () => {
  it('is steady only with 5 rounds within 20% and a flat enough slope', () => {
    expect(steadyState([100, 101, 99, 100]).steady).toBe(false);
    expect(steadyState([300, 200, 100, 101, 99, 100, 102]).steady).toBe(true);
    expect(steadyState([100, 104, 108, 112, 116]).steady).toBe(false); // range 16% but slope 16%
    expect(steadyState([100, 125, 100, 125, 100]).steady).toBe(false); // range 25%
  });
  it('finds writes that fall for good, and where', () => {
    const fell = writeCollapse([1000, 1000, 1000, 1000, 1000, 200, 210, 190, 200, 205]);
    expect(fell).toMatchObject({ fromBw: 1000, afterBytes: 5000 });
    expect(fell!.toBw).toBeCloseTo(198.3, 0);
    expect(writeCollapse([1000, 1000, 1000, 900, 950, 1000, 980, 1010])).toBeUndefined();
    expect(writeCollapse([1000, 1000, 200])).toBeUndefined();
  });
});
