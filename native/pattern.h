// Erase passes: a generated pattern (repeated bytes, or a seeded random stream that any 4 KiB
// block of can be regenerated alone) written, or read back and compared, with O_DIRECT over a
// byte range; and the block-layer fast paths (BLKZEROOUT, BLKDISCARD, BLKSECDISCARD).
#pragma once

#include <napi.h>

#include "live_set.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cs {

enum class PatternOp { Write, Verify, ZeroOut, Discard, SecureDiscard };

struct PatternSpec {
  std::string path;
  PatternOp op = PatternOp::Write;
  // empty: the seeded random stream; else these bytes repeated from offset 0 of the device
  std::vector<uint8_t> bytes;
  uint64_t seed = 1;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t blockSize = 4 << 20;
  uint32_t threads = 2;
  // verify: check this many per 10000 of the blocks (chosen by the seed); 10000: all
  uint32_t samplePerTenThousand = 10000;
};

// Counter layout (BigUint64Array): bytes done, bytes checked, state (0 running, 1 done).
namespace patctr {
constexpr unsigned kBytesDone = 0, kBytesChecked = 1, kState = 2, kCount = 4;
}

// Fills `out` with the bytes a pattern has at absolute offsets [off, off + n).
void patternFill(const PatternSpec& s, uint64_t off, uint8_t* out, size_t n);

class PatternRun {
 public:
  PatternRun(PatternSpec spec, uint64_t* counters) : spec_(std::move(spec)), counters_(counters) {}
  ~PatternRun() { join(); }
  void start(std::function<void()> done);
  void cancel() { cancel_.store(true); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  const PatternSpec& spec() const { return spec_; }

  // outcome (read after done)
  std::string state = "done";
  int err = 0;
  std::string syscall;
  // the first failing byte: mismatch or I/O error; UINT64_MAX when none
  uint64_t failOffset = UINT64_MAX;
  uint64_t mismatches = 0;  // bytes that differed, in the blocks compared
  uint64_t bytesDone = 0, bytesChecked = 0;
  uint64_t elapsedNs = 0;

 private:
  void body();
  void ioLoop(int fd, int bufferedFd, uint32_t align);
  void fail(int e, const char* call, uint64_t off);
  PatternSpec spec_;
  uint64_t* counters_;
  std::atomic<bool> cancel_{false};
  std::atomic<uint64_t> next_{0};
  std::mutex mu_;
  std::thread thread_;
};

using PatternRegistry = LiveSet<PatternRun>;

// new Pattern(spec, counters: BigUint64Array) with start(): Promise<result>, cancel();
// patternBytes(spec, offset, length): Uint8Array (what a pattern holds there, for tests).
void registerPattern(Napi::Env env, Napi::Object exports, PatternRegistry* registry);

}  // namespace cs
