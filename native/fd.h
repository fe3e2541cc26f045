// RAII owners for the engine's kernel resources: file descriptors and aligned buffers.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <utility>

namespace cs {

// A system call failure carried with its errno, the call's name and the path, so that JS
// can map it to a typed error with a code the user can act on.
struct SysError {
  int err;
  std::string syscall;
  std::string path;
};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Hands the descriptor to a new owner (JS, which closes it); this object no longer owns it.
  int release() { return std::exchange(fd_, -1); }
  // close() errors are ignored here on purpose: data integrity is established by the
  // explicit fdatasync the job performs before it reports success.
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// 4096-aligned memory: O_DIRECT requires the buffer to be aligned to the device's memory
// alignment, and 4096 satisfies every device and file system we meet.
class AlignedBuffer {
 public:
  static constexpr size_t kAlign = 4096;
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t size) : size_(size), owned_(true) {
    void* p = nullptr;
    int rc = ::posix_memalign(&p, kAlign, size ? size : kAlign);
    if (rc != 0) throw SysError{rc, "posix_memalign", ""};
    data_ = static_cast<unsigned char*>(p);
  }
  // A view of memory someone else owns and keeps alive (a tapped ring lives in a JS
  // SharedArrayBuffer so that JS reads its slots without a copy); never freed here.
  static AlignedBuffer borrow(unsigned char* data, size_t size) {
    AlignedBuffer b;
    b.data_ = data;
    b.size_ = size;
    return b;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), owned_(std::exchange(o.owned_, false)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      if (owned_) ::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      owned_ = std::exchange(o.owned_, false);
    }
    return *this;
  }
  ~AlignedBuffer() {
    if (owned_) ::free(data_);
  }

  unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = false;
};

}  // namespace cs
