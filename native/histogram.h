// fio's log-linear latency histogram (stat.h / stat.c): 64 buckets per power of two, so a
// value is known to within 1/128 of itself; the bucket math matches fio's exactly so that
// our percentiles and fio's are the same numbers for the same samples.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cs {
namespace hist {

constexpr unsigned kBits = 6;                  // FIO_IO_U_PLAT_BITS
constexpr unsigned kVal = 1u << kBits;         // FIO_IO_U_PLAT_VAL: buckets per group
constexpr unsigned kGroups = 29;               // FIO_IO_U_PLAT_GROUP_NR
constexpr unsigned kBuckets = kGroups * kVal;  // FIO_IO_U_PLAT_NR = 1856 (up to ~17 s in ns)

// plat_val_to_idx: values below 128 have a bucket each; above, the MSB picks the group and
// the next kBits bits the bucket in it. Values past the last group land in the last bucket.
inline unsigned valToIdx(uint64_t val) {
  const unsigned msb = val == 0 ? 0 : 63u - unsigned(__builtin_clzll(val));
  if (msb <= kBits) return unsigned(val);
  const unsigned errorBits = msb - kBits;
  const unsigned base = (errorBits + 1) << kBits;
  const unsigned offset = unsigned((kVal - 1) & (val >> errorBits));
  return base + offset < kBuckets - 1 ? base + offset : kBuckets - 1;
}

// plat_idx_to_val: the bucket's representative value, the middle of its range.
inline uint64_t idxToVal(unsigned idx) {
  if (idx < (kVal << 1)) return idx;
  const unsigned errorBits = (idx >> kBits) - 1;
  const uint64_t base = uint64_t(1) << (errorBits + kBits);
  const uint64_t k = idx % kVal;
  // (k + 0.5) << errorBits, exact since errorBits >= 1 here
  return base + (k << errorBits) + (uint64_t(1) << (errorBits - 1));
}

}  // namespace hist

// One direction's figures for one lane (one thread that completes I/O): written by that
// thread only. Counters the publisher reads while the lane runs are touched with relaxed
// atomics (plain loads and stores on x86: no locked instruction per I/O).
struct DirStats {
  uint64_t ops = 0;
  uint64_t bytes = 0;
  uint64_t latSum = 0;  // ns, for the live mean
  uint64_t min = UINT64_MAX;
  uint64_t max = 0;
  // Welford's running mean and sum of squared deviations (fio's calc_lat does the same).
  double mean = 0;
  double m2 = 0;
  uint64_t buckets[hist::kBuckets] = {};

  static void bump(uint64_t& v, uint64_t by) {
    __atomic_store_n(&v, __atomic_load_n(&v, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
  }
  static uint64_t peek(const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }

  void record(uint64_t ns, uint64_t len) {
    bump(ops, 1);
    bump(bytes, len);
    bump(latSum, ns);
    bump(buckets[hist::valToIdx(ns)], 1);
    if (ns < min) min = ns;
    if (ns > max) max = ns;
    const double d = double(ns) - mean;
    mean += d / double(ops);
    m2 += d * (double(ns) - mean);
  }

  // Chan et al.'s parallel merge of two Welford states (the lane has stopped).
  void merge(const DirStats& o) {
    if (o.ops == 0) return;
    const double n = double(ops), m = double(o.ops);
    const double d = o.mean - mean;
    mean = ops == 0 ? o.mean : mean + d * m / (n + m);
    m2 += o.m2 + d * d * n * m / (n + m);
    ops += o.ops;
    bytes += o.bytes;
    latSum += o.latSum;
    if (o.min < min) min = o.min;
    if (o.max > max) max = o.max;
    for (unsigned i = 0; i < hist::kBuckets; ++i) buckets[i] += o.buckets[i];
  }
};

}  // namespace cs
