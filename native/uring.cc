#include "uring.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cs {

namespace {

int sysSetup(unsigned entries, io_uring_params* p) {
  return int(::syscall(__NR_io_uring_setup, entries, p));
}
int sysEnter(int fd, unsigned toSubmit, unsigned minComplete, unsigned flags, const void* arg = nullptr, size_t argSize = 0) {
  return int(::syscall(__NR_io_uring_enter, fd, toSubmit, minComplete, flags, arg, argSize));
}
int sysRegister(int fd, unsigned op, const void* arg, unsigned n) {
  return int(::syscall(__NR_io_uring_register, fd, op, arg, n));
}

}  // namespace

Uring::~Uring() {
  // The kernel tears a closed ring down later, on a kworker (iou_exit), and until then the
  // registered files stay open: a loop device detached after a clone kept its backing file,
  // so `umount` said "target is busy" and a removed image's space came back late. Every
  // request has completed by now, so unregistering drops those references at once. Errors
  // cannot be reported from here; on failure the deferred teardown still releases them.
  if (fd_ >= 0 && filesRegistered_) sysRegister(fd_, IORING_UNREGISTER_FILES, nullptr, 0);
  if (fd_ >= 0 && buffersRegistered_) sysRegister(fd_, IORING_UNREGISTER_BUFFERS, nullptr, 0);
  if (sqes_) ::munmap(sqes_, sqesLen_);
  if (cqRing_ && cqRing_ != sqRing_) ::munmap(cqRing_, cqRingLen_);
  if (sqRing_) ::munmap(sqRing_, sqRingLen_);
  if (fd_ >= 0) ::close(fd_);
}

int Uring::init(unsigned entries, bool deferTaskrun) {
  io_uring_params p{};
  // SINGLE_ISSUER + COOP_TASKRUN: the ring lives on the one I/O thread that submits, so
  // the kernel may skip cross-thread locking and interrupts (6.0+); older kernels reject
  // the flags with EINVAL and we retry without DEFER_TASKRUN, then plain.
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | (deferTaskrun ? IORING_SETUP_DEFER_TASKRUN : 0);
  int fd = sysSetup(entries, &p);
  if (fd < 0 && errno == EINVAL && deferTaskrun) {
    p = io_uring_params{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
    fd = sysSetup(entries, &p);
  }
  if (fd < 0 && errno == EINVAL) {
    p = io_uring_params{};
    fd = sysSetup(entries, &p);
  }
  if (fd < 0) return errno;
  fd_ = fd;
  features_ = p.features;

  sqRingLen_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  cqRingLen_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  const bool single = p.features & IORING_FEAT_SINGLE_MMAP;
  if (single) sqRingLen_ = cqRingLen_ = (sqRingLen_ > cqRingLen_ ? sqRingLen_ : cqRingLen_);
  sqRing_ = ::mmap(nullptr, sqRingLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                   IORING_OFF_SQ_RING);
  if (sqRing_ == MAP_FAILED) {
    sqRing_ = nullptr;
    return errno;
  }
  if (single) {
    cqRing_ = sqRing_;
  } else {
    cqRing_ = ::mmap(nullptr, cqRingLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                     IORING_OFF_CQ_RING);
    if (cqRing_ == MAP_FAILED) {
      cqRing_ = nullptr;
      return errno;
    }
  }
  sqesLen_ = p.sq_entries * sizeof(io_uring_sqe);
  void* s = ::mmap(nullptr, sqesLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                   IORING_OFF_SQES);
  if (s == MAP_FAILED) return errno;
  sqes_ = static_cast<io_uring_sqe*>(s);

  auto* sq = static_cast<char*>(sqRing_);
  sqHead_ = reinterpret_cast<unsigned*>(sq + p.sq_off.head);
  sqTail_ = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
  sqMask_ = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
  sqEntries_ = p.sq_entries;
  sqArray_ = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
  auto* cq = static_cast<char*>(cqRing_);
  cqHead_ = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
  cqTail_ = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
  cqMask_ = *reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
  cqes_ = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes);
  sqLocalTail_ = *sqTail_;
  return 0;
}

io_uring_sqe* Uring::sqe() {
  const unsigned head = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
  if (sqLocalTail_ - head >= sqEntries_) return nullptr;
  const unsigned idx = sqLocalTail_ & sqMask_;
  io_uring_sqe* e = &sqes_[idx];
  std::memset(e, 0, sizeof(*e));
  sqArray_[idx] = idx;
  ++sqLocalTail_;
  ++queued_;
  return e;
}

int Uring::submitAndWait(unsigned waitNr, long timeoutMs) {
  // Publish the new tail before entering so the kernel sees every queued entry.
  __atomic_store_n(sqTail_, sqLocalTail_, __ATOMIC_RELEASE);
  unsigned toSubmit = queued_;
  __kernel_timespec ts{};
  io_uring_getevents_arg arg{};
  const bool timed = waitNr > 0 && timeoutMs >= 0 && (features_ & IORING_FEAT_EXT_ARG);
  if (timed) {
    ts.tv_sec = timeoutMs / 1000;
    ts.tv_nsec = (timeoutMs % 1000) * 1000000L;
    arg.ts = reinterpret_cast<uint64_t>(&ts);
  }
  for (;;) {
    const unsigned flags = (waitNr ? IORING_ENTER_GETEVENTS : 0) | (timed ? IORING_ENTER_EXT_ARG : 0);
    const int rc = timed ? sysEnter(fd_, toSubmit, waitNr, flags, &arg, sizeof arg) : sysEnter(fd_, toSubmit, waitNr, flags);
    if (rc >= 0) {
      queued_ -= unsigned(rc) <= queued_ ? unsigned(rc) : queued_;
      toSubmit = queued_;
      if (toSubmit == 0 || waitNr == 0) return 0;
      continue;
    }
    // EINTR: a signal arrived while waiting; EAGAIN/EBUSY: the completion queue is full,
    // the caller will reap and come back.
    if (errno == EINTR) continue;
    // ETIME: the timeout passed with nothing completed, which is what the caller asked for.
    if (errno == EAGAIN || errno == EBUSY || errno == ETIME) return 0;
    return errno;
  }
}

bool Uring::peek(io_uring_cqe& out) {
  const unsigned head = *cqHead_;
  const unsigned tail = __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE);
  if (head == tail) return false;
  out = cqes_[head & cqMask_];
  __atomic_store_n(cqHead_, head + 1, __ATOMIC_RELEASE);
  return true;
}

int Uring::registerBuffers(const iovec* iov, unsigned n) {
  if (sysRegister(fd_, IORING_REGISTER_BUFFERS, iov, n) < 0) return errno;
  buffersRegistered_ = true;
  return 0;
}

int Uring::registerFiles(const int* fds, unsigned n) {
  if (sysRegister(fd_, IORING_REGISTER_FILES, fds, n) < 0) return errno;
  filesRegistered_ = true;
  return 0;
}

}  // namespace cs
