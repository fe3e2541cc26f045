// The I/O generator's engine: opening the drive, the rings (io_uring or threads), the
// offsets, the write data and the latency figures. See iogen.h.
#include "iogen.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "uring.h"

namespace cs {

namespace {

unsigned nextPow2(unsigned v) {
  unsigned p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

IoGen::IoGen(IoGenSpec spec, uint64_t* counters) : spec_(std::move(spec)), counters_(counters) {
  const IoGenSpec& s = spec_;
  if (s.readPercent > 100) throw SysError{EINVAL, "readPercent must be 0..100", ""};
  if (s.depth == 0 || s.depth > 4096) throw SysError{EINVAL, "depth must be 1..4096", ""};
  if (s.jobs == 0 || s.jobs > 256) throw SysError{EINVAL, "jobs must be 1..256", ""};
  if (s.ops == 0 && s.runtimeMs == 0) throw SysError{EINVAL, "either an I/O count or a runtime is needed", ""};
  if (s.ops != 0 && s.rampMs != 0) throw SysError{EINVAL, "a ramp needs a time-based run", ""};
  if (s.blockSize == 0) throw SysError{EINVAL, "block size must be positive", ""};

  info_ = probePath(s.path);
  if (info_.kind == Kind::Other) throw SysError{EINVAL, "not a block device or regular file", s.path};
  const bool writes = s.readPercent < 100;
  const bool reads = s.readPercent > 0;
  if (writes && info_.readOnly) throw SysError{EROFS, "open", s.path};
  const uint32_t align = directAlignment(info_);
  if (s.blockSize % align != 0)
    throw SysError{EINVAL, "block size must be a multiple of the O_DIRECT alignment " + std::to_string(align), s.path};
  if (s.offset % align != 0) throw SysError{EINVAL, "offset must be a multiple of the O_DIRECT alignment " + std::to_string(align), s.path};
  if (s.size < s.blockSize || s.offset > info_.size || s.size > info_.size - s.offset)
    throw SysError{EINVAL, "the range must hold a block and lie inside the drive", s.path};
  blocks_ = s.size / s.blockSize;

  int flags = (writes ? (reads ? O_RDWR : O_WRONLY) : O_RDONLY) | O_CLOEXEC | O_DIRECT;
  if (writes && s.exclusive && info_.kind == Kind::Block) flags |= O_EXCL;
  fd_ = Fd(::open(s.path.c_str(), flags));
  // A benchmark through the page cache measures memory, not the drive: no buffered fallback.
  if (!fd_.valid() && errno == EINVAL) throw SysError{EINVAL, "open(O_DIRECT)", s.path};
  if (!fd_.valid()) throw SysError{errno, "open", s.path};
  info_ = probeFd(fd_.get(), s.path);
  if (s.offset + s.size > info_.size) throw SysError{EINVAL, "the range must lie inside the drive", s.path};

  for (uint32_t r = 0; r < s.jobs; ++r) {
    auto ring = std::make_unique<RingState>();
    ring->quota = s.ops / s.jobs + (r < s.ops % s.jobs ? 1 : 0);
    ring->offsets.assign(s.recordOffsets, -1);
    rings_.push_back(std::move(ring));
  }
  for (size_t i = 0; i < genctr::kCount; ++i) __atomic_store_n(&counters_[i], 0, __ATOMIC_RELAXED);
}

IoGen::~IoGen() {
  cancel();
  join();
}

uint64_t IoGen::now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

uint64_t IoGen::threadCpu() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

void IoGen::cancel() {
  cancel_.store(true, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lk(mu_);
  cv_.notify_all();
}

void IoGen::join() {
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
  else thread_.join();
}

void IoGen::fail(int err, std::string op, uint64_t offset) {
  {
    std::lock_guard<std::mutex> lk(errMu_);
    if (error_.err == 0) error_ = IoGenError{err, std::move(op), offset};
  }
  failed_.store(true, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lk(mu_);
  cv_.notify_all();
}

bool IoGen::next(Lane& l, Op& op) {
  if (stopping()) return false;
  RingState& r = *rings_[l.ring];
  if (spec_.ops != 0 && r.claimed.fetch_add(1, std::memory_order_relaxed) >= r.quota) return false;
  op.write = spec_.readPercent == 0 || (spec_.readPercent < 100 && l.rng.below(100) >= spec_.readPercent);
  const uint64_t block = spec_.random ? l.rng.below(blocks_) : r.seq.fetch_add(1, std::memory_order_relaxed) % blocks_;
  op.offset = spec_.offset + block * spec_.blockSize;
  if (spec_.recordOffsets != 0 && r.recorded.load(std::memory_order_relaxed) < spec_.recordOffsets) {
    const uint32_t i = r.recorded.fetch_add(1, std::memory_order_relaxed);
    if (i < spec_.recordOffsets) r.offsets[i] = double(op.offset) + (op.write ? 1 : 0);
  }
  return true;
}

// Incompressible and never the same twice: the buffer starts as generator output and every
// write rewrites 8 bytes of each 512-byte sector, so no two blocks written are alike (a
// deduplicating or compressing drive cannot shortcut them). About 2 ns per sector.
void IoGen::fillWrite(Lane& l, unsigned char* buf) {
  if (spec_.zeroBuffers) return;
  for (uint32_t off = 0; off < spec_.blockSize; off += 512) {
    const uint64_t v = l.rng.next();
    std::memcpy(buf + off, &v, sizeof v);
  }
}

void IoGen::completed(Lane& l, const Op& op, uint64_t submitted, uint64_t done) {
  if (done < measureFrom_) return;  // the ramp
  if (!l.cpuOn) {
    l.cpuOn = true;
    l.cpuFrom = threadCpu();
  }
  l.stat[op.write ? 1 : 0].record(done > submitted ? done - submitted : 0, spec_.blockSize);
  __atomic_store_n(&l.lastDone, done, __ATOMIC_RELAXED);
}

// Every lane reports here once set up (ok or not) and waits for the common start.
bool IoGen::laneReady(bool ok) {
  std::unique_lock<std::mutex> lk(mu_);
  ++ready_;
  cv_.notify_all();
  cv_.wait(lk, [this] { return go_; });
  return ok && !stopping();
}

void IoGen::runLane(Lane& l, bool uring) {
  if (uring) uringLane(l);
  else threadLane(l);
  if (l.cpuOn) l.cpuNs = threadCpu() - l.cpuFrom;
  std::lock_guard<std::mutex> lk(mu_);
  ++finished_;
  cv_.notify_all();
}

void IoGen::threadLane(Lane& l) {
  const bool writes = spec_.readPercent < 100;
  AlignedBuffer rbuf, wbuf;
  try {
    rbuf = AlignedBuffer(spec_.blockSize);
    if (writes) {
      wbuf = AlignedBuffer(spec_.blockSize);
      for (uint32_t off = 0; off < spec_.blockSize; off += 8) {
        const uint64_t v = spec_.zeroBuffers ? 0 : l.rng.next();
        std::memcpy(wbuf.data() + off, &v, sizeof v);
      }
    }
  } catch (const SysError& e) {
    fail(e.err, e.syscall, 0);
    laneReady(false);
    return;
  }
  if (!laneReady(true)) return;
  Op op;
  while (next(l, op)) {
    unsigned char* buf = op.write ? wbuf.data() : rbuf.data();
    if (op.write) fillWrite(l, buf);
    __atomic_store_n(&l.inFlight, 1, __ATOMIC_RELAXED);
    const uint64_t t = now();
    ssize_t n;
    do {
      n = op.write ? ::pwrite(fd_.get(), buf, spec_.blockSize, off_t(op.offset))
                   : ::pread(fd_.get(), buf, spec_.blockSize, off_t(op.offset));
    } while (n < 0 && (errno == EINTR || errno == EAGAIN));
    const uint64_t done = now();
    __atomic_store_n(&l.inFlight, 0, __ATOMIC_RELAXED);
    if (n < 0) {
      fail(errno, op.write ? "write" : "read", op.offset);
      break;
    }
    if (size_t(n) != spec_.blockSize) {
      fail(EIO, op.write ? "short write" : "short read", op.offset);
      break;
    }
    completed(l, op, t, done);
  }
}

void IoGen::uringLane(Lane& l) {
  struct Slot {
    Op op;
    uint64_t t = 0;
    unsigned char* buf = nullptr;
    unsigned bufIndex = 0;
  };
  const bool reads = spec_.readPercent > 0;
  const bool writes = spec_.readPercent < 100;
  const unsigned depth = spec_.depth;
  // Declared before the ring: the ring is closed first, and its close waits for the
  // kernel to finish with every buffer still in flight.
  std::vector<AlignedBuffer> bufs;
  std::vector<Slot> slots(depth);
  Uring ring;
  RingState& rs = *rings_[l.ring];
  bool registeredBuffers = false;
  try {
    // Per slot: a read buffer, and a write buffer whose data reads never overwrite.
    for (unsigned i = 0; i < depth; ++i) {
      if (reads) bufs.emplace_back(spec_.blockSize);
      if (writes) {
        bufs.emplace_back(spec_.blockSize);
        unsigned char* w = bufs.back().data();
        for (uint32_t off = 0; off < spec_.blockSize; off += 8) {
          const uint64_t v = spec_.zeroBuffers ? 0 : l.rng.next();
          std::memcpy(w + off, &v, sizeof v);
        }
      }
    }
  } catch (const SysError& e) {
    fail(e.err, e.syscall, 0);
    laneReady(false);
    return;
  }
  // Set up as fio sets up its rings (SINGLE_ISSUER, COOP_TASKRUN, DEFER_TASKRUN).
  const int rc = ring.init(nextPow2(depth), true);
  if (rc != 0) {
    fail(rc, "io_uring_setup", 0);
    laneReady(false);
    return;
  }
  std::vector<iovec> iov;
  for (AlignedBuffer& b : bufs) iov.push_back(iovec{b.data(), b.size()});
  // ENOMEM here is RLIMIT_MEMLOCK: plain buffers still work.
  registeredBuffers = ring.registerBuffers(iov.data(), unsigned(iov.size())) == 0;
  const int fd = fd_.get();
  const bool registeredFiles = ring.registerFiles(&fd, 1) == 0;
  rs.registeredBuffers = registeredBuffers;
  rs.registeredFiles = registeredFiles;
  const unsigned per = (reads ? 1 : 0) + (writes ? 1 : 0);
  std::vector<unsigned> freeSlots;
  for (unsigned i = depth; i-- > 0;) freeSlots.push_back(i);
  if (!laneReady(true)) return;

  unsigned inflight = 0;
  auto prep = [&](unsigned idx) {
    Slot& s = slots[idx];
    const unsigned b = idx * per + (s.op.write && reads ? 1 : 0);
    s.buf = bufs[b].data();
    s.bufIndex = b;
    io_uring_sqe* e = ring.sqe();  // never null: at most `depth` entries are ever queued
    if (registeredBuffers) {
      e->opcode = s.op.write ? IORING_OP_WRITE_FIXED : IORING_OP_READ_FIXED;
      e->buf_index = uint16_t(s.bufIndex);
    } else {
      e->opcode = s.op.write ? IORING_OP_WRITE : IORING_OP_READ;
    }
    if (registeredFiles) {
      e->fd = 0;
      e->flags |= IOSQE_FIXED_FILE;
    } else {
      e->fd = fd;
    }
    e->off = s.op.offset;
    e->addr = reinterpret_cast<uint64_t>(s.buf);
    e->len = spec_.blockSize;
    e->user_data = idx;
  };

  // Each I/O is submitted on its own and stamped when its submission returns, as fio does
  // (iodepth_batch=1): a batch of 32 stamped after one io_uring_enter would start the clock
  // late for the first ones, which the kernel may have finished during that very call.
  auto submit = [&](unsigned idx) -> bool {
    const int src = ring.submitAndWait(0);
    if (src != 0) {
      fail(src, "io_uring_enter", 0);
      return false;  // closing the ring waits for what is in flight
    }
    slots[idx].t = now();
    ++inflight;
    return true;
  };

  for (;;) {
    while (!freeSlots.empty()) {
      Op op;
      if (!next(l, op)) break;
      const unsigned idx = freeSlots.back();
      freeSlots.pop_back();
      slots[idx].op = op;
      if (op.write) fillWrite(l, bufs[idx * per + (reads ? 1 : 0)].data());
      prep(idx);
      if (!submit(idx)) return;
    }
    __atomic_store_n(&l.inFlight, inflight, __ATOMIC_RELAXED);
    if (inflight == 0) break;
    io_uring_cqe cqe{};
    if (!ring.peek(cqe)) {
      const int wrc = ring.submitAndWait(1);
      if (wrc != 0) {
        fail(wrc, "io_uring_enter", 0);
        return;
      }
      if (!ring.peek(cqe)) continue;
    }
    // One completion at a time, each slot refilled at once: fio's defaults
    // (iodepth_batch_complete_min = max = 1), so a slot never idles behind a batch.
    const uint64_t done = now();
    const unsigned idx = unsigned(cqe.user_data);
    Slot& s = slots[idx];
    --inflight;
    if (cqe.res == -EINTR || cqe.res == -EAGAIN) {
      prep(idx);
      if (!submit(idx)) return;
      continue;
    }
    if (cqe.res < 0) fail(-cqe.res, s.op.write ? "write" : "read", s.op.offset);
    else if (unsigned(cqe.res) != spec_.blockSize) fail(EIO, s.op.write ? "short write" : "short read", s.op.offset);
    else completed(l, s.op, s.t, done);
    freeSlots.push_back(idx);
  }
}

// Sums every lane's figures into the caller's memory (only this thread writes there).
void IoGen::publish(uint64_t t) {
  uint64_t ops[2] = {}, bytes[2] = {}, lat[2] = {}, inflight = 0;
  for (size_t d = 0; d < 2; ++d) {
    uint64_t* h = counters_ + (d == 0 ? genctr::kReadHist : genctr::kWriteHist);
    for (unsigned i = 0; i < hist::kBuckets; ++i) {
      uint64_t sum = 0;
      for (const auto& l : lanes_) sum += DirStats::peek(l->stat[d].buckets[i]);
      __atomic_store_n(&h[i], sum, __ATOMIC_RELAXED);
    }
  }
  for (const auto& l : lanes_) {
    for (size_t d = 0; d < 2; ++d) {
      ops[d] += DirStats::peek(l->stat[d].ops);
      bytes[d] += DirStats::peek(l->stat[d].bytes);
      lat[d] += DirStats::peek(l->stat[d].latSum);
    }
    inflight += DirStats::peek(l->inFlight);
  }
  auto put = [this](size_t slot, uint64_t v) { __atomic_store_n(&counters_[slot], v, __ATOMIC_RELAXED); };
  put(genctr::kReadOps, ops[0]);
  put(genctr::kReadBytes, bytes[0]);
  put(genctr::kWriteOps, ops[1]);
  put(genctr::kWriteBytes, bytes[1]);
  put(genctr::kReadLatSum, lat[0]);
  put(genctr::kWriteLatSum, lat[1]);
  put(genctr::kInFlight, inflight);
  if (go_ && t >= measureFrom_) {
    put(genctr::kMeasuredNs, t - measureFrom_);
    if (__atomic_load_n(&counters_[genctr::kPhase], __ATOMIC_RELAXED) == 0) put(genctr::kPhase, 1);
  }
}

void IoGen::start(std::function<void()> onFinish, std::function<void()> onExit) {
  onFinish_ = std::move(onFinish);
  onExit_ = std::move(onExit);
  thread_ = std::thread([this] {
    run();
    std::function<void()> f = std::move(onFinish_);
    std::function<void()> exit = std::move(onExit_);
    if (f) f();
    if (exit) exit();
  });
}

void IoGen::run() {
  __atomic_store_n(&counters_[genctr::kState], uint64_t(JobState::Running), __ATOMIC_RELAXED);
  bool uring = spec_.backend != BackendKind::Threads;
  if (uring) {
    // A throwaway ring on this thread says whether io_uring is there at all; each lane
    // then makes its own on the thread that submits to it (SINGLE_ISSUER).
    Uring probe;
    const int rc = probe.init(2);
    if (rc != 0 && spec_.backend == BackendKind::Uring) {
      fail(rc, "io_uring_setup", 0);
    } else if (rc != 0) {
      uring = false;
      backendNote_ = std::string("io_uring unavailable (") + std::strerror(rc) + "), using threads";
    }
  }
  backend_ = uring ? "io_uring" : "threads";

  std::vector<std::thread> threads;
  if (!failed_.load()) {
    const uint32_t perRing = uring ? 1 : spec_.depth;
    for (uint32_t r = 0; r < spec_.jobs; ++r)
      for (uint32_t k = 0; k < perRing; ++k)
        lanes_.push_back(std::make_unique<Lane>(r, spec_.seed + 0x632be59bd9b4e019ULL * (uint64_t(r) * 65536 + k + 1)));
    try {
      for (auto& l : lanes_) threads.emplace_back([this, &l, uring] { runLane(*l, uring); });
    } catch (const std::system_error& e) {
      fail(e.code().value(), "pthread_create", 0);
    }
  }

  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return ready_ == threads.size(); });
  t0_ = now();
  measureFrom_ = spec_.ops == 0 ? t0_ + spec_.rampMs * 1000000ULL : t0_;
  const uint64_t deadline = spec_.ops == 0 ? measureFrom_ + spec_.runtimeMs * 1000000ULL : UINT64_MAX;
  go_ = true;
  cv_.notify_all();
  while (finished_ < threads.size()) {
    uint64_t t = now();
    if (t >= deadline) stop_.store(true, std::memory_order_relaxed);
    uint64_t wake = t + genctr::kPublishMs * 1000000ULL;
    if (t < measureFrom_) wake = std::min(wake, measureFrom_);
    if (t < deadline) wake = std::min(wake, deadline);
    cv_.wait_for(lk, std::chrono::nanoseconds(wake - t), [&] {
      return finished_ == threads.size() || (cancel_.load() && !stop_.load());
    });
    if (cancel_.load()) stop_.store(true, std::memory_order_relaxed);
    lk.unlock();
    publish(now());
    lk.lock();
  }
  lk.unlock();
  for (auto& th : threads) th.join();

  uint64_t last = 0;
  for (const auto& l : lanes_) {
    last = std::max(last, l->lastDone);
    cpuNs_ += l->cpuNs;
  }
  const uint64_t end = now();
  elapsedNs_ = end - t0_;
  measuredNs_ = last > measureFrom_ ? last - measureFrom_ : 0;
  ringStats_.assign(rings_.size() * 2, DirStats{});
  for (const auto& l : lanes_)
    for (int d = 0; d < 2; ++d) ringStats_[l->ring * 2 + size_t(d)].merge(l->stat[d]);
  publish(end);
  __atomic_store_n(&counters_[genctr::kMeasuredNs], measuredNs_, __ATOMIC_RELAXED);
  __atomic_store_n(&counters_[genctr::kPhase], 2, __ATOMIC_RELAXED);
  state_ = failed_.load() ? JobState::Failed : cancel_.load() ? JobState::Cancelled : JobState::Done;
  __atomic_store_n(&counters_[genctr::kState], uint64_t(state_), __ATOMIC_RELAXED);
  fd_.reset();
}

}  // namespace cs
