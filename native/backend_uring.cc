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
  bool fixed = true;          // its buffer is the registered one (false once replaced)
  std::vector<uint64_t> progress;  // op k: 0 = source read, 1 + t = target t
};

class UringCopier {
 public:
  UringCopier(Job& job, Uring& ring)
      : job_(job), ring_(ring), nt_(job.targets().size()),
        verify_(job.spec().mode == Mode::Verify), per_(job.buffersPerSlot()),
        slots_(job.spec().depth) {
    for (Slot& s : slots_) {
      s.progress.assign(1 + nt_, 0);
      s.waiting.assign(1 + nt_, 0);
    }
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
      if (inflight_ == orphans_.size() && ring_.queued() == 0 && !anyActive()) {
        if (exhausted || job_.stopping()) break;
        continue;
      }
      if (lagMs_ > 0) watchLag();
      // Watching for a pacing target needs a clock even when a slow device sends nothing.
      const int rc = ring_.submitAndWait(inflight_ > 0 || ring_.queued() > 0 ? 1 : 0, lagMs_ > 0 ? long(lagMs_ / 4 + 1) : -1);
      if (rc != 0) {
        job_.fail(rc, "io_uring_enter", "");
        // Closing the ring waits for the kernel to finish with our buffers.
        return;
      }
      io_uring_cqe cqe{};
      while (ring_.peek(cqe)) {
        --inflight_;
        complete(size_t(cqe.user_data >> 8), unsigned(cqe.user_data & 0xff), cqe.res);
      }
      job_.store(ctr::kInFlight, inflight_);
    }
  }

  bool orphansLeft() const { return !orphans_.empty(); }

  // Waits for every orphaned write to come back, freeing each buffer as it does.
  void drainOrphans() {
    io_uring_cqe cqe{};
    while (!orphans_.empty()) {
      if (ring_.submitAndWait(1) != 0) return;  // the ring's teardown then waits for them
      while (ring_.peek(cqe)) {
        --inflight_;
        orphanDone(size_t(cqe.user_data >> 8), unsigned(cqe.user_data & 0xff));
      }
    }
  }

 private:
  // 1:N pacing: when every slot is busy and all of them wait only on one target, that
  // target sets the pace for everyone. Past the grace period it leaves the shared stream
  // at the oldest chunk it still owes; the others go on at their own speed.
  void watchLag() {
    int blocker = -1;
    for (const Slot& s : slots_) {
      if (!s.active || s.waiting[0]) return;  // a free slot or a read in flight: no one is pacing
      int only = -1;
      for (size_t t = 0; t < nt_; ++t) {
        if (!s.waiting[1 + t]) continue;
        if (only >= 0) return;  // two targets owe this slot
        only = int(t);
      }
      if (only < 0 || (blocker >= 0 && blocker != only)) return;
      blocker = only;
    }
    const auto now = std::chrono::steady_clock::now();
    if (blocker < 0 || blocker != lagTarget_) {
      lagTarget_ = blocker;
      lagSince_ = now;
      return;
    }
    size_t live = 0;
    for (size_t t = 0; t < nt_; ++t) live += job_.targetLive(t) ? 1 : 0;
    if (live < 2 || now - lagSince_ < std::chrono::milliseconds(lagMs_)) return;
    uint64_t at = UINT64_MAX;
    for (const Slot& s : slots_)
      if (s.waiting[1 + size_t(blocker)] && s.chunk.offset < at) at = s.chunk.offset;
    job_.detachTarget(size_t(blocker), at);
    lagTarget_ = -1;
    // The writes it owes are in the kernel and cannot be called back: their slots get
    // fresh buffers now and the old ones wait, orphaned, for those writes to complete.
    const unsigned k = unsigned(1 + blocker);
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& sl = slots_[i];
      if (!sl.waiting[k]) continue;
      AlignedBuffer& b = job_.slotBuffers()[i * per_];
      orphans_.emplace_back(std::make_pair(i, std::move(b)));
      b = AlignedBuffer(job_.spec().blockSize);
      sl.fixed = false;
      sl.waiting[k] = 0;
      release(i);
    }
  }

  // A completion of a write orphaned by a detach: free its old buffer, nothing else.
  bool orphanDone(size_t i, unsigned k) {
    if (k == 0 || verify_ || job_.targetLive(k - 1) || !job_.mutableTarget(k - 1).detached) return false;
    for (auto it = orphans_.begin(); it != orphans_.end(); ++it) {
      if (it->first != i) continue;
      orphans_.erase(it);
      return true;
    }
    return false;
  }

  bool anyActive() const {
    for (const Slot& s : slots_)
      if (s.active) return true;
    return false;
  }

  unsigned char* buffer(size_t slot, unsigned k) {
    return job_.slotBuffers()[slot * per_ + (verify_ ? k : 0)].data();
  }
  unsigned bufferIndex(size_t slot, unsigned k) const { return unsigned(slot * per_ + (verify_ ? k : 0)); }
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
    if (registeredBuffers_ && s.fixed) {
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
  unsigned inflight_ = 0;
  const uint32_t lagMs_ = job_.spec().lagMs;
  int lagTarget_ = -1;
  // Buffers of writes orphaned by a detach, by slot, freed as those writes complete.
  std::vector<std::pair<size_t, AlignedBuffer>> orphans_;
  std::chrono::steady_clock::time_point lagSince_{};
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
  const unsigned entries = nextPow2(job.spec().depth * unsigned(1 + job.targets().size()));
  const int rc = ring->init(entries);
  if (rc != 0) return rc;
  auto copier = std::make_shared<UringCopier>(job, *ring);
  copier->setup();
  copier->run();
  if (copier->orphansLeft()) job.deferDrain([ring, copier] { copier->drainOrphans(); });
  return 0;
}

}  // namespace cs
