// The latency histogram's math against fio's (stat.c): bucket index and value, the bounded
// relative error, percentiles the way calc_clat_percentiles picks them, and merging.
import { describe, expect, it } from 'vitest';
import {
  FIO_DEFAULT_PERCENTILES,
  PLAT_BUCKETS,
  bucketRange,
  idxToVal,
  mergeHistograms,
  mergeSampleStats,
  percentiles,
  stddev,
  valToIdx,
  type SampleStats,
} from '../../src/iogen-histogram.js';

// fio's plat_val_to_idx and plat_idx_to_val, transcribed line by line over 64-bit integers
// (FIO_IO_U_PLAT_BITS 6, FIO_IO_U_PLAT_VAL 64, FIO_IO_U_PLAT_NR 29 * 64).
const BITS = 6n;
const VAL = 1n << BITS;
const NR = 29n * VAL;
function fioValToIdx(val: bigint): bigint {
  const msb = val === 0n ? 0n : BigInt(val.toString(2).length - 1);
  if (msb <= BITS) return val;
  const errorBits = msb - BITS;
  const base = (errorBits + 1n) << BITS;
  const offset = (VAL - 1n) & (val >> errorBits);
  return base + offset < NR - 1n ? base + offset : NR - 1n;
}
function fioIdxToVal(idx: bigint): number {
  if (idx < VAL << 1n) return Number(idx);
  const errorBits = (idx >> BITS) - 1n;
  const base = 1n << (errorBits + BITS);
  const k = idx % VAL;
  // return base + ((k + 0.5) * (1 << error_bits)), as unsigned long long
  return Math.trunc(Number(base) + (Number(k) + 0.5) * Number(1n << errorBits));
}

// A small seeded generator (mulberry32) so that every run checks the same values.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('fio bucket math', () => {
  it('has fio 3.x size: 29 groups of 64 buckets', () => {
    expect(PLAT_BUCKETS).toBe(1856);
  });

  it('maps known values to the buckets fio gives them', () => {
    const known: [number, number, number][] = [
      // [value ns, bucket, bucket's value]
      [0, 0, 0],
      [1, 1, 1],
      [63, 63, 63],
      [64, 64, 64],
      [127, 127, 127],
      [128, 128, 129],
      [129, 128, 129],
      [130, 129, 131],
      [255, 191, 255],
      [256, 192, 258],
      [1000, 317, 1004],
      [1_000_000, 954, 1_003_520],
      [2 ** 34 - 1, 1855, 2 ** 33 + 63.5 * 2 ** 27],
      [2 ** 40, 1855, 2 ** 33 + 63.5 * 2 ** 27],
    ];
    for (const [v, idx, rep] of known) {
      expect(valToIdx(v), `valToIdx(${v})`).toBe(idx);
      expect(Number(fioValToIdx(BigInt(v))), `fio's index of ${v}`).toBe(idx);
      expect(idxToVal(idx), `idxToVal(${idx})`).toBe(rep);
      expect(fioIdxToVal(BigInt(idx)), `fio's value of ${idx}`).toBe(rep);
    }
  });

  it('agrees with fio on every bucket and on a million values from 0 to 2^53', () => {
    for (let i = 0; i < PLAT_BUCKETS; i++) expect(idxToVal(i)).toBe(fioIdxToVal(BigInt(i)));
    const r = rng(13);
    for (let n = 0; n < 1_000_000; n++) {
      // log-uniform: every group gets its share
      const v = Math.floor(2 ** (r() * 53));
      const ours = valToIdx(v);
      if (ours !== Number(fioValToIdx(BigInt(v)))) expect(ours, `value ${v}`).toBe(Number(fioValToIdx(BigInt(v))));
    }
    // the edges of every group
    for (let e = 0; e < 53; e++) {
      for (const v of [2 ** e - 1, 2 ** e, 2 ** e + 1]) expect(valToIdx(v), `value ${v}`).toBe(Number(fioValToIdx(BigInt(v))));
    }
  });

  it('keeps every value within 1/128 of its bucket value, below fio’s 17 s ceiling', () => {
    const r = rng(7);
    let worst = 0;
    for (let n = 0; n < 500_000; n++) {
      const v = Math.floor(2 ** (r() * 34));
      const rep = idxToVal(valToIdx(v));
      const rel = v === 0 ? 0 : Math.abs(rep - v) / v;
      worst = Math.max(worst, rel);
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(1 / 128);
    // and each value lies inside its bucket's range
    for (const v of [0, 100, 128, 999, 123_456, 98_765_432]) {
      const { low, high } = bucketRange(valToIdx(v));
      expect(v).toBeGreaterThanOrEqual(low);
      expect(v).toBeLessThanOrEqual(high);
    }
  });

  it('refuses values it cannot bucket', () => {
    expect(() => valToIdx(-1)).toThrow(RangeError);
    expect(() => valToIdx(1.5)).toThrow(RangeError);
    expect(() => idxToVal(PLAT_BUCKETS)).toThrow(RangeError);
  });
});

function histogramOf(values: number[]): Float64Array {
  const h = new Float64Array(PLAT_BUCKETS);
  for (const v of values) h[valToIdx(v)]++;
  return h;
}

describe('percentiles (calc_clat_percentiles)', () => {
  it('gives the exact values of a distribution that fits in the exact buckets', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    const p = percentiles(histogramOf(values), [50, 90, 99, 99.9, 100]);
    expect(p).toEqual([
      { percent: 50, ns: 50 },
      { percent: 90, ns: 90 },
      { percent: 99, ns: 99 },
      { percent: 99.9, ns: 100 },
      { percent: 100, ns: 100 },
    ]);
  });

  it('gives a tail its bucket value once the running count reaches p% (fio’s >= rule)', () => {
    // 1000 I/Os at 1 µs and 10 at 1 ms: 99% of 1010 is 999.9, reached by the first bucket;
    // 99.9% is 1008.99, reached only by the second.
    const values = [...Array<number>(1000).fill(1000), ...Array<number>(10).fill(1_000_000)];
    const p = percentiles(histogramOf(values), [99.9, 50, 99]);
    expect(p).toEqual([
      { percent: 50, ns: 1004 },
      { percent: 99, ns: 1004 },
      { percent: 99.9, ns: 1_003_520 },
    ]);
  });

  it('is within 1/128 of the exact sample percentile on a long-tailed distribution', () => {
    const r = rng(99);
    // log-normal-ish latencies around 100 µs with a long tail
    const values = Array.from({ length: 200_000 }, () => Math.floor(100_000 * Math.exp(1.2 * (r() + r() + r() - 1.5))));
    const sorted = [...values].sort((a, b) => a - b);
    const got = percentiles(histogramOf(values), FIO_DEFAULT_PERCENTILES);
    expect(got.map((x) => x.percent)).toEqual([...FIO_DEFAULT_PERCENTILES]);
    for (const { percent, ns } of got) {
      const exact = sorted[Math.ceil((percent / 100) * sorted.length) - 1];
      expect(Math.abs(ns - exact) / exact, `p${percent}: ${ns} vs ${exact}`).toBeLessThanOrEqual(1 / 128);
    }
  });

  it('has no percentiles without samples and refuses percentages outside (0, 100]', () => {
    expect(percentiles(new Float64Array(PLAT_BUCKETS))).toEqual([]);
    expect(() => percentiles(histogramOf([1]), [0])).toThrow(RangeError);
    expect(() => percentiles(histogramOf([1]), [101])).toThrow(RangeError);
  });
});

describe('merging rings', () => {
  function stats(values: number[]): SampleStats {
    let mean = 0;
    let m2 = 0;
    values.forEach((v, i) => {
      const d = v - mean;
      mean += d / (i + 1);
      m2 += d * (v - mean);
    });
    return { ops: values.length, minNs: Math.min(...values), maxNs: Math.max(...values), meanNs: mean, m2 };
  }

  it('merges Welford states into the figures of all samples together', () => {
    const r = rng(5);
    const all = Array.from({ length: 3000 }, () => Math.floor(r() * 1e6));
    const parts = [all.slice(0, 1000), all.slice(1000, 1001), all.slice(1001)];
    const merged = mergeSampleStats([...parts.map(stats), { ops: 0, minNs: 0, maxNs: 0, meanNs: 0, m2: 0 }]);
    const whole = stats(all);
    expect(merged.ops).toBe(3000);
    expect(merged.minNs).toBe(whole.minNs);
    expect(merged.maxNs).toBe(whole.maxNs);
    expect(merged.meanNs).toBeCloseTo(whole.meanNs, 6);
    expect(stddev(merged)).toBeCloseTo(stddev(whole), 6);
    // the sample standard deviation, as fio's calc_lat: sqrt(S / (n - 1))
    const mean = all.reduce((a, b) => a + b, 0) / all.length;
    const sd = Math.sqrt(all.reduce((a, v) => a + (v - mean) ** 2, 0) / (all.length - 1));
    expect(stddev(merged) / sd).toBeCloseTo(1, 9);
  });

  it('adds histograms bucket by bucket', () => {
    const a = histogramOf([1, 2, 1000]);
    const b = histogramOf([2, 1_000_000]);
    const m = mergeHistograms([a, b]);
    expect(m[2]).toBe(2);
    expect(m[valToIdx(1000)]).toBe(1);
    expect(m.reduce((x, y) => x + y, 0)).toBe(5);
  });
});
