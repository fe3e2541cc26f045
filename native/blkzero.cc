// zeroOutRanges: BLKZEROOUT over a list of ranges on a libuv thread, so the caller's thread
// (a station worker, or the main thread drawing the dashboard) is not held while the kernel
// zeroes what may be gigabytes.
#include "blkzero.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "fd.h"
#include "napi_error.h"

namespace cs {

namespace {

class ZeroOutWorker : public Napi::AsyncWorker {
 public:
  ZeroOutWorker(Napi::Env env, std::string path, std::vector<uint64_t> ranges)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), ranges_(std::move(ranges)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    // Without O_EXCL: the caller holds the drive's claim (src/claim.ts), which is the
    // exclusive opener; a second exclusive open would be refused by our own claim.
    Fd fd(::open(path_.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return fail(errno, "open");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(errno, "fstat");
    if (!S_ISBLK(st.st_mode)) {
      unsupported_ = true;  // a file: the caller writes (or punches) instead
      return;
    }
    // In pieces, so a huge range is not one uninterruptible request on a drive without
    // write-zeroes (the kernel then writes zero pages itself, at the drive's speed).
    constexpr uint64_t kPiece = 1ULL << 30;
    for (size_t i = 0; i + 1 < ranges_.size(); i += 2) {
      for (uint64_t at = ranges_[i], end = ranges_[i] + ranges_[i + 1]; at < end;) {
        uint64_t r[2] = {at, std::min(kPiece, end - at)};
        if (::ioctl(fd.get(), BLKZEROOUT, r) != 0) {
          const int e = errno;
          // Refused before anything was zeroed: the caller falls back to writing zeros.
          if (bytes_ == 0 && (e == EOPNOTSUPP || e == ENOTTY || e == EINVAL)) {
            unsupported_ = true;
            return;
          }
          offset_ = at;
          return fail(e, "ioctl(BLKZEROOUT)");
        }
        at += r[1];
        bytes_ += r[1];
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != 0) {
      Napi::Error e = errnoError(env, SysError{err_, syscall_, path_});
      e.Set("offset", Napi::Number::New(env, double(offset_)));
      e.Set("bytes", Napi::Number::New(env, double(bytes_)));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytes", Napi::Number::New(env, double(bytes_)));
    o.Set("unsupported", unsupported_);
    deferred_.Resolve(o);
  }

 private:
  void fail(int e, const char* call) {
    err_ = e;
    syscall_ = call;
  }

  Napi::Promise::Deferred deferred_;
  std::string path_;
  std::vector<uint64_t> ranges_;
  uint64_t bytes_ = 0;
  uint64_t offset_ = 0;
  bool unsupported_ = false;
  int err_ = 0;
  std::string syscall_;
};

Napi::Value ZeroOutRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(env, "zeroOutRanges(path: string, extents: Float64Array)");
  Napi::Float64Array a = info[1].As<Napi::Float64Array>();
  if (a.ElementLength() % 2 != 0) throw Napi::RangeError::New(env, "zeroOutRanges: extents come in [offset, length] pairs");
  std::vector<uint64_t> ranges(a.ElementLength());
  for (size_t i = 0; i < ranges.size(); ++i) {
    const double v = a[i];
    if (!(v >= 0) || v > 9007199254740991.0 || v != double(uint64_t(v))) throw Napi::RangeError::New(env, "zeroOutRanges: offsets and lengths are non-negative integers");
    ranges[i] = uint64_t(v);
  }
  auto* w = new ZeroOutWorker(env, info[0].As<Napi::String>().Utf8Value(), std::move(ranges));
  Napi::Promise p = w->Promise();
  w->Queue();  // owned by libuv from here: deleted after OnOK
  return p;
}

}  // namespace

void registerBlkZero(Napi::Env env, Napi::Object exports) {
  exports.Set("zeroOutRanges", Napi::Function::New(env, ZeroOutRanges, "zeroOutRanges"));
}

}  // namespace cs
