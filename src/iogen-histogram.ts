// fio's latency histogram math (stat.c: plat_val_to_idx, plat_idx_to_val,
// calc_clat_percentiles) in TypeScript: the native generator fills the buckets, this reads
// them. No native code here, so the math is testable on its own.

/** FIO_IO_U_PLAT_BITS: 2^6 = 64 buckets per power of two. */
export const PLAT_BITS = 6;
/** FIO_IO_U_PLAT_VAL */
export const PLAT_VAL = 1 << PLAT_BITS;
/** FIO_IO_U_PLAT_GROUP_NR */
export const PLAT_GROUPS = 29;
/** FIO_IO_U_PLAT_NR: buckets in one histogram (values up to 2^34 ns, about 17 s; larger land in the last). */
export const PLAT_BUCKETS = PLAT_GROUPS * PLAT_VAL;

/** fio's default percentile list (stat.c / options.c: percentile_list). */
export const FIO_DEFAULT_PERCENTILES: readonly number[] = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];

/** The figures a drive benchmark reports (KDiskMark and the table). */
export const REPORT_PERCENTILES: readonly number[] = [50, 90, 99, 99.9, 99.99];

/** plat_val_to_idx: the bucket of a latency in ns (a non-negative integer below 2^53). */
export function valToIdx(val: number): number {
  if (!Number.isSafeInteger(val) || val < 0) throw new RangeError(`valToIdx: ${val} is not a non-negative safe integer`);
  const msb = mostSignificantBit(val);
  if (msb <= PLAT_BITS) return val;
  const errorBits = msb - PLAT_BITS;
  const base = (errorBits + 1) << PLAT_BITS;
  const offset = (PLAT_VAL - 1) & Math.floor(val / 2 ** errorBits);
  return Math.min(base + offset, PLAT_BUCKETS - 1);
}

/** The index of the highest set bit (0 for 0), exact for every safe integer. */
function mostSignificantBit(val: number): number {
  let msb = 0;
  let v = val;
  while (v >= 2 ** 32) {
    v = Math.floor(v / 2 ** 32);
    msb += 32;
  }
  return v === 0 ? msb : msb + 31 - Math.clz32(v);
}

/** plat_idx_to_val: the value a bucket stands for, the middle of its range (ns). */
export function idxToVal(idx: number): number {
  if (!Number.isInteger(idx) || idx < 0 || idx >= PLAT_BUCKETS) throw new RangeError(`idxToVal: no bucket ${idx}`);
  if (idx < PLAT_VAL << 1) return idx;
  const errorBits = (idx >> PLAT_BITS) - 1;
  const base = 2 ** (errorBits + PLAT_BITS);
  const k = idx % PLAT_VAL;
  return base + (k + 0.5) * 2 ** errorBits;
}

/** The range of values [low, high] a bucket holds (its last bucket is open-ended: high is Infinity). */
export function bucketRange(idx: number): { low: number; high: number } {
  if (idx < PLAT_VAL << 1) return { low: idx, high: idx };
  const errorBits = (idx >> PLAT_BITS) - 1;
  const low = 2 ** (errorBits + PLAT_BITS) + (idx % PLAT_VAL) * 2 ** errorBits;
  return { low, high: idx === PLAT_BUCKETS - 1 ? Infinity : low + 2 ** errorBits - 1 };
}

export interface Percentile {
  /** e.g. 99.9 */
  percent: number;
  /** the latency, ns: the representative value of the bucket the percentile falls in */
  ns: number;
}

/**
 * calc_clat_percentiles: walks the buckets in order, and the first bucket where the running
 * count reaches percent/100 of all samples gives that percentile its bucket's value. The
 * list is sorted first; an empty histogram has no percentiles.
 */
export function percentiles(histogram: ArrayLike<number>, list: readonly number[] = REPORT_PERCENTILES): Percentile[] {
  for (const p of list) if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p} is not in (0, 100]`);
  const sorted = [...list].sort((a, b) => a - b);
  let total = 0;
  for (let i = 0; i < histogram.length; i++) total += histogram[i];
  if (total === 0 || sorted.length === 0) return [];
  const out: Percentile[] = [];
  let sum = 0;
  let j = 0;
  for (let i = 0; i < histogram.length && j < sorted.length; i++) {
    sum += histogram[i];
    while (j < sorted.length && sum >= (sorted[j] / 100) * total) {
      out.push({ percent: sorted[j], ns: idxToVal(i) });
      j++;
    }
  }
  return out;
}

/** Adds histograms bucket by bucket (rings into a job, or two directions). */
export function mergeHistograms(hs: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(PLAT_BUCKETS);
  for (const h of hs) for (let i = 0; i < PLAT_BUCKETS; i++) out[i] += h[i] ?? 0;
  return out;
}

/** Exact running figures of a set of samples: count, min, max, mean and M2 (Welford). */
export interface SampleStats {
  ops: number;
  minNs: number;
  maxNs: number;
  meanNs: number;
  /** sum of squared deviations from the mean */
  m2: number;
}

/** Chan et al.'s merge of Welford states (what native does for lanes, here for rings). */
export function mergeSampleStats(parts: readonly SampleStats[]): SampleStats {
  let acc: SampleStats = { ops: 0, minNs: 0, maxNs: 0, meanNs: 0, m2: 0 };
  for (const p of parts) {
    if (p.ops === 0) continue;
    if (acc.ops === 0) {
      acc = { ...p };
      continue;
    }
    const n = acc.ops;
    const m = p.ops;
    const d = p.meanNs - acc.meanNs;
    acc = {
      ops: n + m,
      minNs: Math.min(acc.minNs, p.minNs),
      maxNs: Math.max(acc.maxNs, p.maxNs),
      meanNs: acc.meanNs + (d * m) / (n + m),
      m2: acc.m2 + p.m2 + (d * d * n * m) / (n + m),
    };
  }
  return acc;
}

/** fio's calc_lat: the sample standard deviation, sqrt(M2 / (n - 1)); 0 for one sample. */
export function stddev(s: SampleStats): number {
  return s.ops > 1 ? Math.sqrt(s.m2 / (s.ops - 1)) : 0;
}
