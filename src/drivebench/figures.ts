// A drive benchmark's figures: a test's loops combined (mean, or the best loop), fio's JSON
// shape for them, SNIA's steady-state rule for preconditioning, and the signs of a cache
// (a write rate that collapses, a drive faster than its link).
import { mergeHistograms, percentiles, REPORT_PERCENTILES, type Percentile } from '../iogen-histogram.js';
import type { DirectionFigures, IoGenResult } from '../iogen.js';
import type { BenchTest, ProfileShape } from './tests.js';

/** One direction's figures, structured-cloneable (histogram as plain numbers). */
export interface DirFigures {
  ops: number;
  bytes: number;
  seconds: number;
  /** bytes/s */
  bw: number;
  iops: number;
  lat: { minNs: number; maxNs: number; meanNs: number; stddevNs: number; percentiles: Percentile[] };
  histogram: number[];
}

export interface TestOutcome {
  test: BenchTest;
  state: 'done' | 'failed' | 'cancelled';
  /** loops run (and counted) */
  loops: number;
  read?: DirFigures;
  write?: DirFigures;
  /** CPU seconds of the I/O threads while counting, all loops */
  cpuSeconds: number;
  backend: string;
  code?: string;
  reason?: string;
  /** bytes/s of writes sampled once a second through the loops, for the cache note */
  writeSamples?: number[];
}

function plain(d: DirectionFigures): DirFigures {
  return { ops: d.ops, bytes: d.bytes, seconds: d.seconds, bw: d.bw, iops: d.iops, lat: d.lat, histogram: Array.from(d.histogram) };
}

/**
 * A test's loops as one figure per direction: `mean` averages bandwidth, IOPS and mean
 * latency over the loops and takes percentiles from their merged histograms; `best` keeps the
 * loop with the most bytes per second (peak performance).
 */
export function combineLoops(loops: readonly IoGenResult[], combine: ProfileShape['combine'], list: readonly number[] = REPORT_PERCENTILES): { read?: DirFigures; write?: DirFigures } {
  const out: { read?: DirFigures; write?: DirFigures } = {};
  for (const dir of ['read', 'write'] as const) {
    const parts = loops.map((l) => l[dir]).filter((d) => d.ops > 0);
    if (parts.length === 0) continue;
    if (combine === 'best') {
      out[dir] = plain(parts.reduce((a, b) => (b.bw > a.bw ? b : a)));
      continue;
    }
    const n = parts.length;
    const histogram = mergeHistograms(parts.map((p) => p.histogram));
    const ops = parts.reduce((a, p) => a + p.ops, 0);
    out[dir] = {
      ops,
      bytes: parts.reduce((a, p) => a + p.bytes, 0),
      seconds: parts.reduce((a, p) => a + p.seconds, 0),
      bw: parts.reduce((a, p) => a + p.bw, 0) / n,
      iops: parts.reduce((a, p) => a + p.iops, 0) / n,
      lat: {
        minNs: Math.min(...parts.map((p) => p.lat.minNs)),
        maxNs: Math.max(...parts.map((p) => p.lat.maxNs)),
        // weighted by each loop's I/Os: the mean of every I/O's latency
        meanNs: ops > 0 ? parts.reduce((a, p) => a + p.lat.meanNs * p.ops, 0) / ops : 0,
        stddevNs: Math.sqrt(parts.reduce((a, p) => a + p.lat.stddevNs ** 2 * p.ops, 0) / Math.max(1, ops)),
        percentiles: percentiles(histogram, list),
      },
      histogram: Array.from(histogram),
    };
  }
  return out;
}

/** fio's percentile key: "%f" of the percent ("99.900000"). */
function pctKey(p: number): string {
  return p.toFixed(6);
}

function fioDir(d: DirFigures | undefined): Record<string, unknown> {
  if (!d) return { io_bytes: 0, io_kbytes: 0, bw_bytes: 0, bw: 0, iops: 0, runtime: 0, total_ios: 0, short_ios: 0, drop_ios: 0, clat_ns: { min: 0, max: 0, mean: 0, stddev: 0, N: 0 }, lat_ns: { min: 0, max: 0, mean: 0, stddev: 0, N: 0 } };
  const lat = { min: d.lat.minNs, max: d.lat.maxNs, mean: d.lat.meanNs, stddev: d.lat.stddevNs, N: d.ops };
  // bw (KiB/s) from the same whole bytes/s as bw_bytes, so the two never disagree by a rounding
  const bwBytes = Math.round(d.bw);
  return {
    io_bytes: d.bytes,
    io_kbytes: Math.floor(d.bytes / 1024),
    bw_bytes: bwBytes,
    bw: Math.floor(bwBytes / 1024),
    iops: d.iops,
    runtime: Math.round(d.seconds * 1000),
    total_ios: d.ops,
    short_ios: 0,
    drop_ios: 0,
    clat_ns: { ...lat, percentile: Object.fromEntries(d.lat.percentiles.map((p) => [pctKey(p.percent), p.ns])) },
    lat_ns: lat,
  };
}

export interface FioJob {
  drive: string;
  outcome: TestOutcome;
  runtime: number;
  ramp: number;
}

/**
 * The figures as fio's `--output-format=json` lays them out (jobs[].read/write with bw in
 * KiB/s, bw_bytes, iops, clat_ns with its percentiles), one job per drive and test, so tools
 * that read fio's JSON read ours.
 */
export function fioJson(jobs: readonly FioJob[], version: string, now = new Date()): Record<string, unknown> {
  return {
    'fio version': `clonestation-${version}`,
    timestamp: Math.floor(now.getTime() / 1000),
    timestamp_ms: now.getTime(),
    time: now.toString(),
    'global options': { direct: '1', ioengine: 'io_uring' },
    jobs: jobs.map((j, i) => {
      const t = j.outcome.test;
      const seconds = Math.max(j.outcome.read?.seconds ?? 0, j.outcome.write?.seconds ?? 0);
      return {
        jobname: `${j.drive}: ${t.name}`,
        groupid: i,
        error: j.outcome.state === 'failed' ? 1 : 0,
        eta: 0,
        elapsed: Math.round(seconds),
        'job options': {
          name: t.name,
          filename: j.drive,
          rw: t.rw,
          bs: String(t.blockSize),
          iodepth: String(t.depth),
          numjobs: String(t.jobs),
          ...(t.readPercent !== undefined ? { rwmixread: String(t.readPercent) } : {}),
          runtime: String(j.runtime),
          ramp_time: String(j.ramp),
          loops: String(j.outcome.loops),
        },
        read: fioDir(j.outcome.read),
        write: fioDir(j.outcome.write),
        trim: fioDir(undefined),
        job_runtime: Math.round(seconds * 1000),
        usr_cpu: seconds > 0 ? (100 * j.outcome.cpuSeconds) / seconds : 0,
        sys_cpu: 0,
      };
    }),
    disk_util: [],
  };
}

/**
 * SNIA's steady state (Solid State Storage Performance Test Specification): over the last
 * `window` rounds, the IOPS range is within 20% of their average and the best-fit line's
 * excursion over the window within 10% of it.
 */
export function steadyState(iops: readonly number[], window = 5): { steady: boolean; average: number; range: number; excursion: number } {
  const w = iops.slice(-window);
  const average = w.reduce((a, b) => a + b, 0) / Math.max(1, w.length);
  if (w.length < window || average <= 0) return { steady: false, average, range: Infinity, excursion: Infinity };
  const range = Math.max(...w) - Math.min(...w);
  const xMean = (w.length - 1) / 2;
  let num = 0;
  let den = 0;
  w.forEach((y, x) => {
    num += (x - xMean) * (y - average);
    den += (x - xMean) ** 2;
  });
  const slope = den > 0 ? num / den : 0;
  const excursion = Math.abs(slope * (w.length - 1));
  return { steady: range <= 0.2 * average && excursion <= 0.1 * average, average, range, excursion };
}

/**
 * Write rates sampled once a second that fall for good (the last 3 seconds below half the
 * first 3) are a cache filling: the bytes written until the fall, or undefined.
 */
export function writeCollapse(samples: readonly number[]): { fromBw: number; toBw: number; afterBytes: number } | undefined {
  if (samples.length < 8) return undefined;
  const mean = (a: readonly number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
  const first = mean(samples.slice(0, 3));
  const last = mean(samples.slice(-3));
  if (!(first > 0) || last >= first / 2) return undefined;
  // where it fell: the first second below half the start, and it stayed down
  let at = samples.findIndex((s, i) => i >= 3 && s < first / 2 && samples.slice(i).every((x) => x < (first * 2) / 3));
  if (at < 0) at = samples.length - 3;
  return { fromBw: first, toBw: last, afterBytes: samples.slice(0, at).reduce((a, b) => a + b, 0) };
}
