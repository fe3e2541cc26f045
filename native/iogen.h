// The I/O generator: a benchmark workload on one drive or file (no copy), O_DIRECT always,
// with per-I/O completion latency in fio's histogram. Mechanism only: which workloads and
// what the figures mean is src/iogen.ts's business.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fd.h"
#include "histogram.h"
#include "job.h"
#include "probe.h"

namespace cs {

// Live figures in the caller's memory (a SharedArrayBuffer on the JS side), uint64 each.
// The generator's own thread sums every lane's figures into it every kPublishMs and once
// more at the end, so the lanes never touch shared cache lines: JS reads it with
// Atomics.load (or a copy) at its own pace, from any thread.
namespace genctr {
constexpr size_t kState = 0;        // JobState
constexpr size_t kPhase = 1;        // 0 ramp (not counted), 1 measuring, 2 ended
constexpr size_t kReadOps = 2;
constexpr size_t kReadBytes = 3;
constexpr size_t kWriteOps = 4;
constexpr size_t kWriteBytes = 5;
constexpr size_t kReadLatSum = 6;   // ns, sum over the counted reads (mean = sum / ops)
constexpr size_t kWriteLatSum = 7;
constexpr size_t kInFlight = 8;     // I/Os submitted and not yet completed
constexpr size_t kMeasuredNs = 9;   // ns measured so far (since the ramp ended)
constexpr size_t kHeader = 16;
constexpr size_t kReadHist = kHeader;                        // hist::kBuckets counts
constexpr size_t kWriteHist = kHeader + hist::kBuckets;      // hist::kBuckets counts
constexpr size_t kCount = kHeader + 2 * hist::kBuckets;
constexpr unsigned kPublishMs = 50;
}  // namespace genctr

struct IoGenSpec {
  std::string path;
  BackendKind backend = BackendKind::Auto;
  uint32_t readPercent = 100;  // each I/O is a read with this probability, else a write
  bool random = false;         // uniform block-aligned offsets, else sequential (wrapping)
  uint32_t blockSize = 4096;
  uint32_t depth = 1;          // I/Os in flight per ring
  uint32_t jobs = 1;           // rings, each on its own thread, each over the whole range
  uint64_t offset = 0;         // the range tested: [offset, offset + size)
  uint64_t size = 0;
  uint64_t ops = 0;            // total I/Os, split evenly over the rings; 0: time-based
  uint64_t runtimeMs = 0;      // time-based: measured time, after the ramp
  uint64_t rampMs = 0;         // time-based: I/Os completed in this first stretch are not counted
  uint64_t seed = 1;
  bool zeroBuffers = false;    // write zeros (else incompressible data, varied per write)
  bool exclusive = false;      // O_EXCL on a block device written to
  uint32_t recordOffsets = 0;  // test aid: keep each ring's first K offsets
};

struct IoGenError {
  int err = 0;
  std::string op;  // "read", "write", "short read", "short write", "io_uring_setup", ...
  uint64_t offset = 0;
};

// xoshiro256** seeded through splitmix64: fast, and the same seed gives the same offsets.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& w : s_) w = splitmix(seed);
  }
  uint64_t next() {
    const uint64_t r = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  // Uniform in [0, n) by Lemire's multiply-shift (bias below n / 2^64).
  uint64_t below(uint64_t n) { return uint64_t((unsigned __int128)next() * n >> 64); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t s_[4];
};

class IoGen {
 public:
  struct Op {
    uint64_t offset = 0;
    bool write = false;
  };
  // One thread that completes I/O: an io_uring ring, or one pread/pwrite thread of the
  // portable backend. Its figures are its own (see DirStats).
  struct Lane {
    Lane(size_t r, uint64_t seed) : ring(r), rng(seed) {}
    size_t ring;
    Rng rng;
    DirStats stat[2];  // [0] reads, [1] writes
    uint64_t inFlight = 0;
    uint64_t lastDone = 0;  // ns of its last counted completion
    // This thread's own CPU time while counting (CLOCK_THREAD_CPUTIME_ID, as fio's per-job
    // usr_cpu/sys_cpu count the job thread only): from its first counted completion to its end.
    bool cpuOn = false;
    uint64_t cpuFrom = 0;
    uint64_t cpuNs = 0;
  };
  struct RingState {
    std::atomic<uint64_t> seq{0};      // sequential: the next block
    std::atomic<uint64_t> claimed{0};  // count mode: I/Os taken so far
    uint64_t quota = 0;
    std::atomic<uint32_t> recorded{0};
    std::vector<double> offsets;  // offset + 1 for a write
    bool registeredBuffers = false;
    bool registeredFiles = false;
  };

  // Opens the path with O_DIRECT and checks the spec; throws SysError. Starts nothing.
  IoGen(IoGenSpec spec, uint64_t* counters);
  IoGen(const IoGen&) = delete;
  IoGen& operator=(const IoGen&) = delete;
  ~IoGen();

  void start(std::function<void()> onFinish, std::function<void()> onExit);
  void cancel();
  void join();

  // After onFinish:
  JobState state() const { return state_; }
  const std::string& backend() const { return backend_; }
  const std::string& backendNote() const { return backendNote_; }
  const IoGenError& error() const { return error_; }
  uint64_t elapsedNs() const { return elapsedNs_; }
  uint64_t measuredNs() const { return measuredNs_; }
  // CPU time of the I/O threads (rings, or the portable backend's threads) while counting.
  uint64_t cpuNs() const { return cpuNs_; }
  size_t rings() const { return rings_.size(); }
  const DirStats& ringStats(size_t r, int dir) const { return ringStats_[r * 2 + size_t(dir)]; }
  const RingState& ring(size_t r) const { return *rings_[r]; }
  const ProbeInfo& probe() const { return info_; }

 private:
  static uint64_t now();
  static uint64_t threadCpu();
  bool stopping() const {
    return stop_.load(std::memory_order_relaxed) || cancel_.load(std::memory_order_relaxed) ||
           failed_.load(std::memory_order_relaxed);
  }
  bool next(Lane& l, Op& op);
  void fillWrite(Lane& l, unsigned char* buf);
  void completed(Lane& l, const Op& op, uint64_t submitted, uint64_t done);
  void fail(int err, std::string op, uint64_t offset);
  void run();
  void runLane(Lane& l, bool uring);
  void uringLane(Lane& l);
  void threadLane(Lane& l);
  void publish(uint64_t t);
  bool laneReady(bool ok);

  IoGenSpec spec_;
  uint64_t* counters_;
  ProbeInfo info_;
  Fd fd_;
  uint64_t blocks_ = 0;  // whole blocks in the range

  std::vector<std::unique_ptr<RingState>> rings_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::vector<DirStats> ringStats_;

  std::atomic<bool> cancel_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::mutex errMu_;
  IoGenError error_;

  // Start line: every lane set up (ring created on its own thread) before the clock starts.
  std::mutex mu_;
  std::condition_variable cv_;
  size_t ready_ = 0;
  size_t finished_ = 0;
  bool go_ = false;
  uint64_t t0_ = 0;
  uint64_t measureFrom_ = 0;

  JobState state_ = JobState::Init;
  std::string backend_;
  std::string backendNote_;
  uint64_t elapsedNs_ = 0;
  uint64_t measuredNs_ = 0;
  uint64_t cpuNs_ = 0;

  std::thread thread_;
  std::function<void()> onFinish_;
  std::function<void()> onExit_;
};

}  // namespace cs
