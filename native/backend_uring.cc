// The io_uring backend: `depth` slots in flight, each a chunk that is read from the source
// and then written to every live target (copy), or read from the source and every target
// and compared (verify). Submissions are batched into one io_uring_enter per loop turn;
// buffers and files are registered when the memlock limit allows.
#include <chrono>
#include <utility>
#include <cstdint>
#include <cstring>
#include <vector>

#include "job.h"
#include "uring.h"

namespace cs {

namespace {

struct Slot {
  bool active = false;
  Extent chunk{};
  unsigned pending = 0;
  bool sourceFailed = false;
  bool writeFailed = false;
  bool writesIssued = false;  // a read finished while stopping issues no writes
  std::vector<char> waiting;  // op k still in flight
  uint32_t buf = 0;           // its first buffer in the job's pool (a detach swaps it)
  bool tapHeld = false;       // JS is reading the buffer: the slot waits for its release
  std::vector<uint64_t> progress;  // op k: 0 = source read, 1 + t = target t
};

// A write still in the kernel for a target that left the shared stream, and the buffer it
// reads from; the buffer returns to the spares once the write is back and no tap holds it.
struct Orphan {
  size_t slot;
  unsigned k;
  uint32_t buf;
  bool writeDone = false;
  bool tapHeld = false;
};

// user_data of the eventfd read that wakes the ring when JS releases tapped buffers.
constexpr uint64_t kTapWake = ~uint64_t(0);

class UringCopier {
 public:
  UringCopier(Job& job, Uring& ring)
      : job_(job), ring_(ring), nt_(job.targets().size()),
        verify_(job.spec().mode == Mode::Verify), per_(job.buffersPerSlot()),
        slots_(job.spec().depth) {
    for (size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].progress.assign(1 + nt_, 0);
      slots_[i].waiting.assign(1 + nt_, 0);
      slots_[i].buf = uint32_t(i * per_);
    }
    for (size_t b = slots_.size() * per_; b < job_.slotBuffers().size(); ++b) spares_.push_back(uint32_t(b));
  }

  void setup() {
    JobResult& r = job_.mutableResult();
    r.backend = "io_uring";
    std::vector<iovec> iov;
    for (AlignedBuffer& b : job_.slotBuffers()) iov.push_back(iovec{b.data(), b.size()});
    // ENOMEM here is RLIMIT_MEMLOCK (8 MiB for non-root): plain buffers still work.
    registeredBuffers_ = ring_.registerBuffers(iov.data(), unsigned(iov.size())) == 0;
    std::vector<int> fds{job_.source().fd.get()};
    for (const Endpoint& t : job_.targets()) fds.push_back(t.fd.get());
    registeredFiles_ = ring_.registerFiles(fds.data(), unsigned(fds.size())) == 0;
    r.registeredBuffers = registeredBuffers_;
    r.registeredFiles = registeredFiles_;
  }

  void run() {
    bool exhausted = false;
    armTapWake();
    for (;;) {
      // Paused: hold here (in-flight operations complete in the kernel meanwhile).
      // Cancelled: nextChunk() yields nothing more and the loop drains what is in flight.
      job_.waitWhilePaused();
      for (size_t i = 0; i < slots_.size() && !exhausted; ++i) {
        if (slots_[i].active) continue;
        Extent c{};
        if (!job_.nextChunk(c)) {
          exhausted = true;
          break;
        }
        begin(i, c);
      }
      // Ops carried synchronously (simulated errors, buffered pieces) finish inside begin():
      // an idle ring only means the end once the extents are exhausted.
      if (inflight_ == orphanWrites_ && ring_.queued() == 0 && !anyActive()) {
        if (exhausted || job_.stopping()) break;
        continue;
      }
      if (lagMs_ > 0) watchLag();
      // Watching for a pacing target needs a clock even when a slow device sends nothing.
      const bool wait = inflight_ > 0 || ring_.queued() > 0 || tapWakeArmed_;
      const int rc = ring_.submitAndWait(wait ? 1 : 0, lagMs_ > 0 ? long(lagMs_ / 4 + 1) : -1);
      if (rc != 0) {
        job_.fail(rc, "io_uring_enter", "");
        // Closing the ring waits for the kernel to finish with our buffers.
        return;
      }
      io_uring_cqe cqe{};
      while (ring_.peek(cqe)) {
        if (cqe.user_data == kTapWake) {
          tapWakeArmed_ = false;
          tapReleases();
          armTapWake();
          continue;
        }
        --inflight_;
        complete(size_t(cqe.user_data >> 8), unsigned(cqe.user_data & 0xff), cqe.res);
      }
      // A stopping job stops waiting for JS: nothing will be read into those slots again;
      // JS may be gone (its worker torn down), or hold chunks after a failed one that it
      // can never put in order, and so never release them. (JS owns the memory: reading
      // it on after this is safe.)
      if (job_.stopping())
        for (size_t i = 0; i < slots_.size(); ++i) dropTap(i);
      job_.store(ctr::kInFlight, inflight_);
    }
  }

  bool orphansLeft() const { return orphanWrites_ > 0; }

  // Waits for every orphaned write to come back (their buffers are needed no longer).
  void drainOrphans() {
    io_uring_cqe cqe{};
    while (orphanWrites_ > 0) {
      if (ring_.submitAndWait(1) != 0) return;  // the ring's teardown then waits for them
      while (ring_.peek(cqe)) {
        if (cqe.user_data == kTapWake) continue;
        --inflight_;
        orphanDone(size_t(cqe.user_data >> 8), unsigned(cqe.user_data & 0xff));
      }
    }
  }

 private:
  // The one target every busy slot waits on, or -1: a free slot, a read in flight or a
  // slot two targets owe means no one is pacing the ring.
  int pacer() const {
    int blocker = -1;
    for (const Slot& s : slots_) {
      if (!s.active || s.waiting[0]) return -1;
      int only = -1;
      for (size_t t = 0; t < nt_; ++t) {
        if (!s.waiting[1 + t]) continue;
        if (only >= 0) return -1;
        only = int(t);
      }
      if (only < 0 || (blocker >= 0 && blocker != only)) return -1;
      blocker = only;
    }
    return blocker;
  }

  // 1:N pacing: when every slot is busy and all of them wait only on one target, that
  // target sets the pace for everyone. It runs up a debt for as long as it does, and pays
  // it back at the same rate while it does not: a target that paces the ring most of the
  // time reaches the grace period (lagMs) and leaves the shared stream at the oldest chunk
  // it still owes, while a fast one that stalls now and then (its loop worker not scheduled
  // on a loaded machine) catches up and owes nothing. Counting from the first stall instead
  // detached fast targets long after a stall they had made good (bench:station, 1:4 runs).
  void watchLag() {
    const auto now = std::chrono::steady_clock::now();
    const auto dt = now - lagLast_;
    lagLast_ = now;
    const int blocker = pacer();
    if (blocker < 0) {
      lagDebt_ = dt < lagDebt_ ? lagDebt_ - dt : std::chrono::steady_clock::duration::zero();
      return;
    }
    if (blocker != lagTarget_) {
      lagTarget_ = blocker;
      lagDebt_ = std::chrono::steady_clock::duration::zero();
      return;
    }
    lagDebt_ += dt;
    size_t live = 0;
    for (size_t t = 0; t < nt_; ++t) live += job_.targetLive(t) ? 1 : 0;
    if (live < 2 || lagDebt_ < std::chrono::milliseconds(lagMs_)) return;
    uint64_t at = UINT64_MAX;
    size_t owed = 0;
    for (const Slot& s : slots_)
      if (s.waiting[1 + size_t(blocker)]) {
        ++owed;
        if (s.chunk.offset < at) at = s.chunk.offset;
      }
    // Every slot it holds needs a fresh buffer; until enough spares are back from an
    // earlier detach, it keeps the pace a little longer.
    if (owed > spares_.size()) return;
    job_.detachTarget(size_t(blocker), at);
    lagTarget_ = -1;
    lagDebt_ = std::chrono::steady_clock::duration::zero();
    // The writes it owes are in the kernel and cannot be called back: their slots take
    // spare buffers now and the old ones wait, orphaned, for those writes to complete.
    const unsigned k = unsigned(1 + blocker);
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& sl = slots_[i];
      if (!sl.waiting[k]) continue;
      orphans_.push_back(Orphan{i, k, sl.buf, false, sl.tapHeld});
      ++orphanWrites_;
      sl.buf = spares_.back();
      spares_.pop_back();
      sl.waiting[k] = 0;
      // A tap still reading the old buffer now holds the orphan, not the slot.
      if (sl.tapHeld) {
        sl.tapHeld = false;
        release(i);
      }
      release(i);
    }
  }

  // A completion of a write orphaned by a detach: its buffer may become a spare again.
  bool orphanDone(size_t i, unsigned k) {
    if (k == 0 || verify_ || job_.targetLive(k - 1) || !job_.mutableTarget(k - 1).detached) return false;
    for (auto it = orphans_.begin(); it != orphans_.end(); ++it) {
      if (it->slot != i || it->k != k || it->writeDone) continue;
      it->writeDone = true;
      --orphanWrites_;
      if (!it->tapHeld) {
        spares_.push_back(it->buf);
        orphans_.erase(it);
      }
      return true;
    }
    return false;
  }

  // Taps: keeps one read of the eventfd in the ring, so a release by JS wakes us.
  void armTapWake() {
    if (!job_.tapping() || tapWakeArmed_) return;
    io_uring_sqe* e = ring_.sqe();
    if (e == nullptr) return;  // retried on the next wake-up; sized so it does not happen
    e->opcode = IORING_OP_READ;
    e->fd = job_.tapEventFd();
    e->addr = reinterpret_cast<uint64_t>(&tapWakeValue_);
    e->len = sizeof tapWakeValue_;
    e->off = uint64_t(-1);  // eventfds have no position
    e->user_data = kTapWake;
    tapWakeArmed_ = true;
    // Submitted at once, so that an otherwise idle ring is seen as idle (queued() == 0).
    const int rc = ring_.submitAndWait(0);
    if (rc != 0) job_.fail(rc, "io_uring_enter", "");
  }

  // JS has finished with these buffers: the slots (or orphans) holding them go on.
  void tapReleases() {
    for (uint32_t b : job_.takeTapReleases()) {
      bool found = false;
      for (size_t i = 0; i < slots_.size() && !found; ++i) {
        if (slots_[i].buf != b || !slots_[i].tapHeld) continue;
        found = true;
        slots_[i].tapHeld = false;
        release(i);
      }
      for (auto it = orphans_.begin(); it != orphans_.end() && !found; ++it) {
        if (it->buf != b || !it->tapHeld) continue;
        found = true;
        it->tapHeld = false;
        if (it->writeDone) {
          spares_.push_back(it->buf);
          orphans_.erase(it);
        }
      }
    }
  }

  void dropTap(size_t i) {
    if (!slots_[i].tapHeld) return;
    slots_[i].tapHeld = false;
    release(i);
  }

  bool anyActive() const {
    for (const Slot& s : slots_)
      if (s.active) return true;
    return false;
  }

  unsigned char* buffer(size_t slot, unsigned k) { return job_.slotBuffers()[bufferIndex(slot, k)].data(); }
  unsigned bufferIndex(size_t slot, unsigned k) const { return unsigned(slots_[slot].buf + (verify_ ? k : 0)); }
  Endpoint& endpoint(unsigned k) { return k == 0 ? job_.mutableSource() : job_.mutableTarget(k - 1); }
  bool isRead(unsigned k) const { return k == 0 || verify_; }

  void begin(size_t i, const Extent& c) {
    Slot& s = slots_[i];
    s.active = true;
    s.chunk = c;
    s.sourceFailed = false;
    s.writeFailed = false;
    s.writesIssued = false;
    std::fill(s.progress.begin(), s.progress.end(), 0);
    // A guard count: an op carried synchronously finishes inside issue(), and must not
    // retire the slot before its sibling ops are issued.
    s.pending = 2;
    issue(i, 0);
    if (verify_) {
      for (size_t t = 0; t < nt_; ++t) {
        if (!job_.targetLive(t)) continue;
        ++s.pending;
        issue(i, unsigned(1 + t));
      }
    }
    release(i);
  }

  // Queues op k of slot i for its remaining bytes; pieces O_DIRECT cannot carry
  // (unaligned offsets or a file's unaligned tail) are done synchronously right here.
  void issue(size_t i, unsigned k) {
    Slot& s = slots_[i];
    Endpoint& ep = endpoint(k);
    const uint64_t done = s.progress[k];
    const uint64_t off = s.chunk.offset + uint64_t(ep.delta) + done;
    const size_t rem = size_t(s.chunk.length - done);
    unsigned char* ptr = buffer(i, k) + done;
    const bool read = isRead(k);
    if (k == 0 && done == 0 && job_.simulatedBad(s.chunk.offset, s.chunk.length)) return finish(i, k, EIO);
    const bool asyncOk = !ep.direct || (off % ep.align == 0 && reinterpret_cast<uintptr_t>(ptr) % ep.align == 0 &&
                                        (read || rem % ep.align == 0));
    if (!asyncOk) {
      const int rc = read ? job_.readFull(ep, off, ptr, rem) : job_.writeFull(ep, off, ptr, rem);
      finish(i, k, rc == 0 ? 0 : rc);
      return;
    }
    io_uring_sqe* e = ring_.sqe();
    if (e == nullptr) {
      // Sized so this cannot happen; flush and retry rather than lose the op.
      ring_.submitAndWait(0);
      e = ring_.sqe();
    }
    const size_t len = read ? job_.readLength(ep, off, rem) : rem;
    if (registeredBuffers_) {
      e->opcode = read ? IORING_OP_READ_FIXED : IORING_OP_WRITE_FIXED;
      e->buf_index = uint16_t(bufferIndex(i, k));
    } else {
      e->opcode = read ? IORING_OP_READ : IORING_OP_WRITE;
    }
    if (registeredFiles_) {
      e->fd = int(k);
      e->flags |= IOSQE_FIXED_FILE;
    } else {
      e->fd = ep.fd.get();
    }
    e->off = off;
    e->addr = reinterpret_cast<uint64_t>(ptr);
    e->len = unsigned(len);
    e->user_data = (uint64_t(i) << 8) | k;
    s.waiting[k] = 1;
    ++inflight_;
  }

  void complete(size_t i, unsigned k, int res) {
    if (orphanDone(i, k)) return;
    Slot& s = slots_[i];
    s.waiting[k] = 0;
    if (res < 0) {
      const int err = -res;
      if (err == EINTR || err == EAGAIN) return issue(i, k);
      if (err == EINVAL && endpoint(k).direct) {
        // Accepted at open, refused at I/O: carry this op buffered instead.
        Endpoint& ep = endpoint(k);
        const uint64_t done = s.progress[k];
        const uint64_t off = s.chunk.offset + uint64_t(ep.delta) + done;
        unsigned char* ptr = buffer(i, k) + done;
        const size_t rem = size_t(s.chunk.length - done);
        ep.direct = false;
        ep.directNote = "O_DIRECT refused with EINVAL during I/O";
        const int rc = isRead(k) ? job_.readFull(ep, off, ptr, rem) : job_.writeFull(ep, off, ptr, rem);
        return finish(i, k, rc);
      }
      return finish(i, k, err);
    }
    if (res == 0) return finish(i, k, isRead(k) ? kEndOfData : ENOSPC);
    s.progress[k] += std::min<uint64_t>(uint64_t(res), s.chunk.length - s.progress[k]);
    if (s.progress[k] < s.chunk.length) return issue(i, k);  // short transfer: the rest
    finish(i, k, 0);
  }

  // Op k of slot i is over, with 0 or an errno.
  void finish(size_t i, unsigned k, int err) {
    Slot& s = slots_[i];
    const Extent c = s.chunk;
    if (k == 0) {
      if (err != 0) {
        s.sourceFailed = true;
        job_.recordError(ChunkError{c.offset, c.length, err, -1, "read"});
      } else {
        job_.chunkRead(c);
      }
      if (!verify_ && err == 0 && !job_.cancelled() && job_.tapping()) {
        // JS reads the slot while the targets are written from it.
        s.tapHeld = true;
        ++s.pending;
        job_.postTap(s.buf, c);
      }
      if (!verify_ && err == 0 && !job_.cancelled()) {
        // The read is in: the same slot goes to every live target. A job stopped by an
        // error still lands the good data already read; only a cancel drops it.
        s.writesIssued = true;
        for (size_t t = 0; t < nt_; ++t) {
          if (!job_.targetLive(t)) continue;
          ++s.pending;
          issue(i, unsigned(1 + t));
        }
      }
    } else if (err != 0) {
      s.writeFailed = true;
      job_.recordError(ChunkError{c.offset, c.length, err, int(k - 1), verify_ ? "read" : "write"});
    } else if (!verify_) {
      job_.targetDone(k - 1, c);
    }
    release(i);
  }

  void release(size_t i) {
    Slot& s = slots_[i];
    if (--s.pending > 0) return;
    const Extent c = s.chunk;
    if (verify_ && !s.sourceFailed) {
      std::vector<unsigned char*> bufs(per_);
      for (unsigned b = 0; b < per_; ++b) bufs[b] = buffer(i, b);
      job_.compareChunk(c, bufs.data());
    } else if (!verify_ && s.writesIssued && !s.writeFailed && job_.anyTargetLeft()) {
      job_.chunkFinished(c);
    }
    s.active = false;
  }

  Job& job_;
  Uring& ring_;
  const size_t nt_;
  const bool verify_;
  const size_t per_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> spares_;
  unsigned inflight_ = 0;
  unsigned orphanWrites_ = 0;
  bool tapWakeArmed_ = false;
  uint64_t tapWakeValue_ = 0;
  const uint32_t lagMs_ = job_.spec().lagMs;
  int lagTarget_ = -1;
  std::vector<Orphan> orphans_;
  std::chrono::steady_clock::time_point lagLast_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration lagDebt_{};
  bool registeredBuffers_ = false;
  bool registeredFiles_ = false;
};

unsigned nextPow2(unsigned v) {
  unsigned p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

int runUring(Job& job) {
  // Heap-owned: when a detach leaves writes in the kernel, ring and copier (with the
  // orphaned buffers) outlive this call and are drained after the result is delivered.
  auto ring = std::make_shared<Uring>();
  // Every slot can hold one op per endpoint at once; the queue never overflows.
  // (+1: the taps' eventfd read)
  const unsigned entries = nextPow2(job.spec().depth * unsigned(1 + job.targets().size()) + 1);
  const int rc = ring->init(entries);
  if (rc != 0) return rc;
  auto copier = std::make_shared<UringCopier>(job, *ring);
  copier->setup();
  copier->run();
  if (copier->orphansLeft()) job.deferDrain([ring, copier] { copier->drainOrphans(); });
  return 0;
}

}  // namespace cs
