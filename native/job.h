// One job's data path: a list of source extents copied (or compared) through a ring of
// aligned slots, by one backend, on threads the job owns. Mechanism only: which extents,
// and what a failure means for the user, is decided in TypeScript.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fd.h"
#include "probe.h"

namespace cs {

enum class Mode { Copy, Verify };
enum class BackendKind { Auto, Uring, Threads };
enum class JobState : uint64_t { Init = 0, Running = 1, Done = 2, Failed = 3, Cancelled = 4 };

struct Extent {
  uint64_t offset;
  uint64_t length;
};

// Counter slots in the job's shared memory (a SharedArrayBuffer on the JS side). Written
// here with relaxed atomics, read by JS with Atomics.load at its own pace: no per-chunk
// message ever crosses threads.
namespace ctr {
constexpr size_t kState = 0;
constexpr size_t kBytesRead = 1;     // good bytes read from the source
constexpr size_t kBytesBad = 2;      // bytes of chunks whose read failed
constexpr size_t kReadErrors = 3;    // failed source chunks
constexpr size_t kPosition = 4;      // end of the last source chunk finished
constexpr size_t kBytesCompared = 5; // verify mode: bytes compared equal on every target
constexpr size_t kInFlight = 6;      // operations queued in the kernel right now
constexpr size_t kHeader = 8;
// Then, per target i: [kHeader + 2i] bytes written (or read back), [kHeader + 2i + 1] errors.
constexpr size_t count(size_t targets) { return kHeader + 2 * targets; }
}  // namespace ctr

struct EndpointSpec {
  std::string path;
  bool wantDirect = true;
  bool exclusive = false;  // O_EXCL on block devices: refuses mounted or claimed devices
  int64_t delta = 0;       // target offset = source offset + delta
};

struct JobSpec {
  Mode mode = Mode::Copy;
  EndpointSpec source;
  std::vector<EndpointSpec> targets;
  std::vector<Extent> extents;
  uint32_t blockSize = 1 << 20;
  uint32_t depth = 8;
  BackendKind backend = BackendKind::Auto;
  bool stopOnReadError = true;
  bool sync = true;
  // 1:N: a target that alone has held every slot for this long is detached (0: never).
  uint32_t lagMs = 0;
  // Rescue support. reportDone: keep the list of chunks that reached every live target, so
  // policy can mark them finished in its map. journalPath: also append each such chunk to
  // this file as it finishes ("0xPOS 0xSIZE +" lines, no fsync): a process killed at any
  // instant leaves the journal holding everything but the chunks in flight.
  bool reportDone = false;
  std::string journalPath;
  // Test mode (like ddrescue's -H): a source read overlapping one of these extents fails
  // with EIO without touching the device. Sorted, non-overlapping.
  std::vector<Extent> simulateBad;
  // Taps: when set, the ring's buffers are carved from this memory (a JS SharedArrayBuffer
  // the caller keeps alive) and every good source chunk is also handed to JS, which reads
  // the slot in place and releases it; the slot is reused only after every target write
  // and the tap are done. Copy mode only; a tapped job may have no targets at all.
  unsigned char* tapMemory = nullptr;
  size_t tapMemorySize = 0;
};

// Why a chunk failed; kMismatch is not an errno: the bytes read back differ.
constexpr int kMismatch = -1;
constexpr int kEndOfData = -2;  // the endpoint ended before the extent did

struct ChunkError {
  uint64_t offset;  // source offset of the failed range
  uint64_t length;
  int err;          // errno, kMismatch or kEndOfData
  int target;       // -1: the source read; else the target index
  std::string op;   // "read", "write", "fdatasync", "compare"
};

// An open endpoint: the O_DIRECT descriptor when the device or file system accepts it,
// plus a buffered twin for the pieces O_DIRECT cannot carry (unaligned tails, and EINVAL
// surprises from file systems that accept the open but not the I/O).
struct Endpoint {
  std::string path;
  ProbeInfo info;
  Fd fd;
  Fd buffered;
  bool direct = false;
  std::string directNote;  // why direct I/O is off, when it is
  uint32_t align = 1;      // offset/length alignment the direct descriptor needs
  int64_t delta = 0;
  bool failed = false;     // a target that failed leaves the job; the others go on
  // A target too slow to keep up left the shared stream: everything before detachedAt was
  // written (or is in flight); the station copies the rest to it on its own.
  bool detached = false;
  uint64_t detachedAt = 0;
  bool writable = false;

  bool aligned(uint64_t v) const { return !direct || v % align == 0; }
};

struct JobResult {
  JobState state = JobState::Init;
  std::string backend;
  std::string backendNote;
  bool registeredBuffers = false;
  bool registeredFiles = false;
  // Set when the job as a whole failed (not per-chunk outcomes, which are in errors).
  int fatalErr = 0;
  std::string fatalOp;
  std::string fatalPath;
};

class Job {
 public:
  // Opens every endpoint (throws SysError) and allocates the ring. Does not start I/O.
  Job(JobSpec spec, uint64_t* counters);
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  ~Job();

  // onFinish delivers the result; onExit runs last on the I/O thread, after any drain.
  void start(std::function<void()> onFinish, std::function<void()> onExit = nullptr);
  void cancel() {
    cancel_.store(true, std::memory_order_relaxed);
    // A ring waiting only on taps sleeps on the tap eventfd: wake it to see the cancel.
    wakeTapWaiters();
  }
  void setPaused(bool paused);
  void join();

  std::vector<ChunkError> takeErrors();
  std::vector<Extent> takeDone();
  // Switches journal files: records after this call go to `path`. The caller may delete
  // the old one once its map snapshot covers every chunk drained before the switch.
  void rotateJournal(const std::string& path);
  const JobSpec& spec() const { return spec_; }
  const Endpoint& source() const { return source_; }
  const std::vector<Endpoint>& targets() const { return targets_; }
  const JobResult& result() const { return result_; }

  // --- taps ---
  bool tapping() const { return spec_.tapMemory != nullptr; }
  // Buffers in the ring: depth * buffersPerSlot, plus spares a lagging target's orphaned
  // writes can keep while its slots go on with fresh ones (1:N copies only).
  size_t spareBuffers() const;
  // Where the tapped ring's buffer i starts, as an offset into tapMemory.
  size_t tapBufferOffset(size_t i) const { return tapPad_ + i * spec_.blockSize; }
  // Set before start(): how a filled slot reaches JS (buffer index, source offset, length).
  void setTapSink(std::function<void(uint32_t, uint64_t, uint32_t)> sink) { tapSink_ = std::move(sink); }
  // I/O thread: hands buffer `buf` holding chunk c to JS.
  void postTap(uint32_t buf, const Extent& c) {
    if (tapSink_) tapSink_(buf, c.offset, uint32_t(c.length));
  }
  // Any thread (JS): JS is done reading buffer `buf`.
  void tapRelease(uint32_t buf);
  // I/O thread: the buffers released since the last call.
  std::vector<uint32_t> takeTapReleases();
  // Threads backend: blocks until JS releases `buf`; false if the job stops meanwhile.
  bool waitTapRelease(uint32_t buf);
  // io_uring backend: readable (8 bytes) whenever releases are waiting or on cancel.
  int tapEventFd() const { return tapEvent_.get(); }

  // --- used by the backends ---
  // The next chunk to transfer; false when the extents are exhausted or the job stops.
  bool nextChunk(Extent& out);
  bool stopping() const;
  // Cancelled by the user (not stopped by an error): data in flight may be dropped.
  bool cancelled() const { return cancel_.load(std::memory_order_relaxed); }
  // Blocks while paused; returns false if cancelled meanwhile.
  bool waitWhilePaused();
  void add(size_t slot, uint64_t v) { __atomic_fetch_add(&counters_[slot], v, __ATOMIC_RELAXED); }
  void store(size_t slot, uint64_t v) { __atomic_store_n(&counters_[slot], v, __ATOMIC_RELAXED); }
  // Records a failed chunk; returns true when the job must stop because of it.
  bool recordError(const ChunkError& e);
  bool anyTargetLeft() const;
  // Ends with a whole-job failure (the backend could not continue at all).
  void fail(int err, std::string op, std::string path);

  // Synchronous full transfers used by the thread backend and for the pieces io_uring
  // hands back (tails, short transfers, EINVAL fallbacks). Return 0 or an errno /
  // kEndOfData.
  int readFull(Endpoint& ep, uint64_t off, unsigned char* buf, size_t len) {
    return transferFull(ep, off, buf, len, false);
  }
  int writeFull(Endpoint& ep, uint64_t off, const unsigned char* buf, size_t len) {
    // pwrite does not modify the buffer; one loop serves both directions.
    return transferFull(ep, off, const_cast<unsigned char*>(buf), len, true);
  }
  int transferFull(Endpoint& ep, uint64_t off, unsigned char* buf, size_t len, bool write);

  // How many bytes a direct read of len bytes at off must request (rounded to alignment).
  size_t readLength(const Endpoint& ep, uint64_t off, size_t len) const;
  // Compares a verify slot; returns the first differing index or -1.
  static int64_t firstDifference(const unsigned char* a, const unsigned char* b, size_t n);
  // Verify mode: compares every live target's buffer with the source's (bufs[0]) and
  // records the first differing offset of each target that differs.
  void compareChunk(const Extent& c, unsigned char* const* bufs);
  // Accounting for one finished chunk (source read, or one target's write or read-back).
  void chunkRead(const Extent& c);
  void targetDone(size_t t, const Extent& c);
  // A chunk reached every live target (copy mode): finished, as far as policy cares.
  void chunkFinished(const Extent& c);
  bool simulatedBad(uint64_t off, uint64_t len) const;
  bool targetLive(size_t t) const {
    return !__atomic_load_n(&targets_[t].failed, __ATOMIC_RELAXED) && !__atomic_load_n(&targets_[t].detached, __ATOMIC_RELAXED);
  }
  // Takes target t out of the shared stream; chunks from `at` on are not written to it.
  void detachTarget(size_t t, uint64_t at);
  // Work that must outlive the job's result: writes orphaned by a detach still in the
  // kernel. Runs on the I/O thread after the result has been delivered.
  void deferDrain(std::function<void()> drain) { drain_ = std::move(drain); }
  Endpoint& mutableSource() { return source_; }
  Endpoint& mutableTarget(size_t t) { return targets_[t]; }
  // fdatasync every written target; failures become chunk errors.
  void syncTargets();
  size_t buffersPerSlot() const { return spec_.mode == Mode::Verify ? 1 + targets_.size() : 1; }
  std::vector<AlignedBuffer>& slotBuffers() { return buffers_; }
  JobResult& mutableResult() { return result_; }

 private:
  void openEndpoint(Endpoint& ep, const EndpointSpec& s, bool write);
  void run();
  void release();

  JobSpec spec_;
  uint64_t* counters_;
  Endpoint source_;
  std::vector<Endpoint> targets_;
  std::vector<AlignedBuffer> buffers_;  // depth * buffersPerSlot, each blockSize
  JobResult result_;

  std::mutex iterMu_;
  size_t extentIndex_ = 0;
  uint64_t extentDone_ = 0;

  std::mutex errMu_;
  std::vector<ChunkError> errors_;
  std::vector<Extent> done_;
  Fd journal_;

  std::atomic<bool> cancel_{false};
  std::atomic<bool> stop_{false};
  std::mutex pauseMu_;
  std::condition_variable pauseCv_;
  bool paused_ = false;

  // Taps: released buffer indexes, and a wake-up for a ring sleeping on them.
  void wakeTapWaiters();
  size_t tapPad_ = 0;
  std::function<void(uint32_t, uint64_t, uint32_t)> tapSink_;
  std::mutex tapMu_;
  std::condition_variable tapCv_;
  std::vector<uint32_t> tapReleased_;
  Fd tapEvent_;

  std::thread thread_;
  std::function<void()> onFinish_;
  std::function<void()> onExit_;
  std::function<void()> drain_;
};

// Backends: each runs the whole job on the calling thread (the job's I/O thread) and
// returns 0, or a positive errno when it could not start (io_uring unavailable), so that
// Auto can fall back before any I/O happened.
int runUring(Job& job);
void runThreads(Job& job);

}  // namespace cs
