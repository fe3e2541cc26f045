// A minimal io_uring owner over the raw kernel ABI (linux/io_uring.h), so that building
// needs nothing beyond the kernel headers. Modelled on fio's engine: batched submits,
// registered buffers and files, completions reaped without blocking when any are ready.
#pragma once

#include <linux/io_uring.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace cs {

class Uring {
 public:
  Uring() = default;
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;
  ~Uring();

  // Returns 0 or a positive errno (ENOSYS/EPERM when io_uring is unavailable or disabled).
  // deferTaskrun: also IORING_SETUP_DEFER_TASKRUN (6.1+: completion work runs only when
  // this thread waits for completions), as fio sets its rings up; the I/O generator uses it
  // so that its figures and fio's come from the same kernel path.
  int init(unsigned entries, bool deferTaskrun = false);

  // The next free submission entry, zeroed; nullptr when the queue is full (flush first).
  io_uring_sqe* sqe();
  // Submits everything queued and waits for at least waitNr completions, or at most
  // timeoutMs (>= 0, when the kernel supports IORING_ENTER_EXT_ARG) before returning with
  // none. Returns 0 or a positive errno.
  int submitAndWait(unsigned waitNr, long timeoutMs = -1);
  unsigned queued() const { return queued_; }

  // Reaps one completion if any is ready; never blocks.
  bool peek(io_uring_cqe& out);

  // Both return 0 or a positive errno (ENOMEM when RLIMIT_MEMLOCK is too small).
  int registerBuffers(const iovec* iov, unsigned n);
  int registerFiles(const int* fds, unsigned n);

 private:
  int fd_ = -1;
  void* sqRing_ = nullptr;
  size_t sqRingLen_ = 0;
  void* cqRing_ = nullptr;
  size_t cqRingLen_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqesLen_ = 0;
  unsigned* sqHead_ = nullptr;
  unsigned* sqTail_ = nullptr;
  unsigned sqMask_ = 0;
  unsigned sqEntries_ = 0;
  unsigned* sqArray_ = nullptr;
  unsigned* cqHead_ = nullptr;
  unsigned* cqTail_ = nullptr;
  unsigned cqMask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  unsigned sqLocalTail_ = 0;
  unsigned queued_ = 0;
  unsigned features_ = 0;
  bool filesRegistered_ = false;
  bool buffersRegistered_ = false;
};

}  // namespace cs
