#include "job.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <system_error>

namespace cs {

namespace {

uint64_t roundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
uint64_t roundDown(uint64_t v, uint64_t a) { return v / a * a; }
bool retryable(int err) { return err == EINTR || err == EAGAIN; }

}  // namespace

Job::Job(JobSpec spec, uint64_t* counters) : spec_(std::move(spec)), counters_(counters) {
  if (spec_.blockSize == 0 || spec_.blockSize % AlignedBuffer::kAlign != 0)
    throw SysError{EINVAL, "block size must be a positive multiple of 4096", ""};
  if (spec_.depth == 0) throw SysError{EINVAL, "depth must be at least 1", ""};
  if ((spec_.targets.empty() && !tapping()) || spec_.targets.size() > 64)
    throw SysError{EINVAL, "a job needs 1 to 64 targets", ""};
  if (tapping() && spec_.mode != Mode::Copy) throw SysError{EINVAL, "taps are for copy jobs", ""};
  openEndpoint(source_, spec_.source, false);
  targets_.resize(spec_.targets.size());
  for (size_t i = 0; i < targets_.size(); ++i)
    openEndpoint(targets_[i], spec_.targets[i], spec_.mode == Mode::Copy);
  if (!spec_.journalPath.empty()) rotateJournal(spec_.journalPath);
  const size_t n = size_t(spec_.depth) * buffersPerSlot() + spareBuffers();
  buffers_.reserve(n);
  if (tapping()) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(spec_.tapMemory);
    tapPad_ = size_t((AlignedBuffer::kAlign - base % AlignedBuffer::kAlign) % AlignedBuffer::kAlign);
    if (spec_.tapMemorySize < tapPad_ + n * spec_.blockSize)
      throw SysError{EINVAL, "tap memory too small for the ring", ""};
    for (size_t i = 0; i < n; ++i) buffers_.push_back(AlignedBuffer::borrow(spec_.tapMemory + tapBufferOffset(i), spec_.blockSize));
    tapEvent_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!tapEvent_.valid()) throw SysError{errno, "eventfd", ""};
  } else {
    for (size_t i = 0; i < n; ++i) buffers_.emplace_back(spec_.blockSize);
  }
  for (size_t i = 0; i < ctr::count(targets_.size()); ++i) store(i, 0);
}

Job::~Job() {
  cancel();
  join();
}

void Job::openEndpoint(Endpoint& ep, const EndpointSpec& s, bool write) {
  ep.path = s.path;
  ep.delta = s.delta;
  ep.writable = write;
  const int access = write ? O_WRONLY : O_RDONLY;
  // Probe first with a plain descriptor so O_EXCL only applies to block devices (on a
  // regular file without O_CREAT it means nothing portable).
  ep.info = probePath(s.path);
  if (ep.info.kind == Kind::Other) throw SysError{EINVAL, "not a block device or regular file", s.path};
  if (write && ep.info.readOnly) throw SysError{EROFS, "open", s.path};
  int flags = access | O_CLOEXEC;
  if (write && s.exclusive && ep.info.kind == Kind::Block) flags |= O_EXCL;

  ep.direct = s.wantDirect;
  if (!s.wantDirect) ep.directNote = "direct I/O not requested";
  ep.align = directAlignment(ep.info);
  if (ep.direct && (spec_.blockSize % ep.align != 0 || ep.align > spec_.blockSize)) {
    ep.direct = false;
    ep.directNote = "block size is not a multiple of the O_DIRECT alignment " + std::to_string(ep.align);
  }
  if (ep.direct) {
    for (const Extent& e : spec_.extents) {
      if ((e.offset + uint64_t(ep.delta)) % ep.align != 0) {
        ep.direct = false;
        ep.directNote = "offset not aligned to " + std::to_string(ep.align) + " bytes";
        break;
      }
    }
  }
  if (ep.direct) {
    ep.fd = Fd(::open(s.path.c_str(), flags | O_DIRECT));
    if (!ep.fd.valid() && errno == EINVAL) {
      ep.direct = false;
      ep.directNote = "the file system refuses O_DIRECT";
    } else if (!ep.fd.valid()) {
      throw SysError{errno, "open", s.path};
    }
  }
  if (!ep.direct) {
    ep.fd = Fd(::open(s.path.c_str(), flags));
    if (!ep.fd.valid()) throw SysError{errno, "open", s.path};
  } else {
    // The twin is never exclusive: we hold the exclusive claim through ep.fd already.
    ep.buffered = Fd(::open(s.path.c_str(), access | O_CLOEXEC));
    if (!ep.buffered.valid()) throw SysError{errno, "open", s.path};
  }
  // The probe may have raced a resize; the descriptor we keep is the truth.
  ep.info = probeFd(ep.fd.get(), s.path);
}

void Job::start(std::function<void()> onFinish, std::function<void()> onExit) {
  onFinish_ = std::move(onFinish);
  onExit_ = std::move(onExit);
  thread_ = std::thread([this] {
    run();
    // Moved out so the callback (which may hold the last reference to this Job) dies
    // with this frame rather than inside a member.
    std::function<void()> drain = std::move(drain_);
    std::function<void()> f = std::move(onFinish_);
    std::function<void()> exit = std::move(onExit_);
    if (f) f();
    // After the result: the live targets are done and synced; only orphaned writes to a
    // detached target remain, and they must finish before their buffers go.
    if (drain) drain();
    // Last: may drop the final reference to this Job, so nothing of `this` is used after.
    if (exit) exit();
  });
}

void Job::join() {
  if (!thread_.joinable()) return;
  // The last reference can drop on the I/O thread itself; it cannot join itself.
  if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
  else thread_.join();
}

void Job::release() {
  // A finished job must not hold its ring until the garbage collector notices the small
  // JS wrapper, nor keep its exclusive claim on a target that the next job may open.
  buffers_.clear();
  buffers_.shrink_to_fit();
  source_.fd.reset();
  source_.buffered.reset();
  {
    std::lock_guard<std::mutex> lk(errMu_);
    journal_.reset();
  }
  for (Endpoint& t : targets_) {
    t.fd.reset();
    t.buffered.reset();
  }
}

size_t Job::spareBuffers() const {
  // Only a 1:N copy that may detach a lagging target needs them; untouched spares cost
  // address space, not memory.
  return spec_.mode == Mode::Copy && spec_.lagMs > 0 && spec_.targets.size() > 1 ? spec_.depth : 0;
}

void Job::tapRelease(uint32_t buf) {
  {
    std::lock_guard<std::mutex> lk(tapMu_);
    tapReleased_.push_back(buf);
  }
  wakeTapWaiters();
}

void Job::wakeTapWaiters() {
  if (!tapping()) return;
  tapCv_.notify_all();
  if (tapEvent_.valid()) {
    const uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the ring wakes anyway.
    ssize_t w;
    do {
      w = ::write(tapEvent_.get(), &one, sizeof one);
    } while (w < 0 && errno == EINTR);
  }
}

std::vector<uint32_t> Job::takeTapReleases() {
  std::lock_guard<std::mutex> lk(tapMu_);
  std::vector<uint32_t> out;
  out.swap(tapReleased_);
  return out;
}

bool Job::waitTapRelease(uint32_t buf) {
  std::unique_lock<std::mutex> lk(tapMu_);
  for (;;) {
    auto it = std::find(tapReleased_.begin(), tapReleased_.end(), buf);
    if (it != tapReleased_.end()) {
      tapReleased_.erase(it);
      return true;
    }
    // Stopping: no chunk will be read into it again, and JS may never release it (it
    // cannot put chunks after a failed one in order).
    if (stopping()) return false;
    tapCv_.wait_for(lk, std::chrono::milliseconds(50));
  }
}

void Job::setPaused(bool paused) {
  std::lock_guard<std::mutex> lk(pauseMu_);
  paused_ = paused;
  pauseCv_.notify_all();
}

bool Job::waitWhilePaused() {
  std::unique_lock<std::mutex> lk(pauseMu_);
  // A timed wait so that cancel(), which does not take the lock, is seen promptly.
  while (paused_ && !cancel_.load(std::memory_order_relaxed))
    pauseCv_.wait_for(lk, std::chrono::milliseconds(50));
  return !cancel_.load(std::memory_order_relaxed);
}

bool Job::stopping() const {
  return cancel_.load(std::memory_order_relaxed) || stop_.load(std::memory_order_relaxed);
}

bool Job::nextChunk(Extent& out) {
  std::lock_guard<std::mutex> lk(iterMu_);
  if (stopping()) return false;
  while (extentIndex_ < spec_.extents.size()) {
    const Extent& e = spec_.extents[extentIndex_];
    if (extentDone_ < e.length) {
      const uint64_t len = std::min<uint64_t>(spec_.blockSize, e.length - extentDone_);
      out = Extent{e.offset + extentDone_, len};
      extentDone_ += len;
      return true;
    }
    ++extentIndex_;
    extentDone_ = 0;
  }
  return false;
}

bool Job::anyTargetLeft() const {
  for (size_t t = 0; t < targets_.size(); ++t)
    if (targetLive(t)) return true;
  return false;
}

void Job::detachTarget(size_t t, uint64_t at) {
  std::lock_guard<std::mutex> lk(errMu_);
  targets_[t].detachedAt = at;
  __atomic_store_n(&targets_[t].detached, true, __ATOMIC_RELAXED);
}

bool Job::recordError(const ChunkError& e) {
  std::lock_guard<std::mutex> lk(errMu_);
  errors_.push_back(e);
  if (e.target < 0) {
    add(ctr::kBytesBad, e.length);
    add(ctr::kReadErrors, 1);
    if (spec_.stopOnReadError) stop_.store(true);
  } else {
    add(ctr::kHeader + 2 * size_t(e.target) + 1, 1);
    __atomic_store_n(&targets_[size_t(e.target)].failed, true, __ATOMIC_RELAXED);
    if (!anyTargetLeft()) stop_.store(true);
  }
  return stopping();
}

std::vector<ChunkError> Job::takeErrors() {
  std::lock_guard<std::mutex> lk(errMu_);
  std::vector<ChunkError> out;
  out.swap(errors_);
  return out;
}

void Job::fail(int err, std::string op, std::string path) {
  if (result_.fatalErr == 0) {
    result_.fatalErr = err;
    result_.fatalOp = std::move(op);
    result_.fatalPath = std::move(path);
  }
  stop_.store(true);
}

size_t Job::readLength(const Endpoint& ep, uint64_t off, size_t len) const {
  return ep.direct && off % ep.align == 0 ? size_t(roundUp(len, ep.align)) : len;
}

int Job::transferFull(Endpoint& ep, uint64_t off, unsigned char* buf, size_t len, bool write) {
  size_t done = 0;
  bool forceBuffered = false;
  while (done < len) {
    const uint64_t o = off + done;
    const size_t want = len - done;
    bool useDirect = ep.direct && !forceBuffered && o % ep.align == 0 &&
                     reinterpret_cast<uintptr_t>(buf + done) % ep.align == 0;
    size_t req = want;
    if (useDirect && write) {
      // O_DIRECT writes whole aligned units only: the aligned prefix goes direct, then the
      // unaligned remainder (a file's tail) through the buffered twin, in that order, so
      // the page cache read-modify-write sees the prefix already on the device.
      req = size_t(roundDown(want, ep.align));
      if (req == 0) useDirect = false, req = want;
    } else if (useDirect) {
      // A direct read may need more than we want (the unaligned tail of a file); the slot
      // is a whole block, a multiple of the alignment, so there is room.
      req = size_t(roundUp(want, ep.align));
    }
    const int fd = useDirect || !ep.direct ? ep.fd.get() : ep.buffered.get();
    const ssize_t r = write ? ::pwrite(fd, buf + done, req, off_t(o)) : ::pread(fd, buf + done, req, off_t(o));
    if (r < 0) {
      if (retryable(errno)) continue;
      if (errno == EINVAL && useDirect) {
        forceBuffered = true;
        continue;
      }
      return errno;
    }
    if (r == 0) return write ? ENOSPC : kEndOfData;
    done += std::min<size_t>(size_t(r), want);
  }
  return 0;
}

int64_t Job::firstDifference(const unsigned char* a, const unsigned char* b, size_t n) {
  // memcmp first: it is vectorised, and equal blocks are the overwhelmingly common case.
  if (std::memcmp(a, b, n) == 0) return -1;
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return int64_t(i);
  return -1;
}

void Job::compareChunk(const Extent& c, unsigned char* const* bufs) {
  bool allEqual = true;
  for (size_t t = 0; t < targets_.size(); ++t) {
    if (!targetLive(t)) {
      allEqual = false;
      continue;
    }
    const int64_t d = firstDifference(bufs[0], bufs[1 + t], size_t(c.length));
    if (d >= 0) {
      allEqual = false;
      recordError(ChunkError{c.offset + uint64_t(d), c.length - uint64_t(d), kMismatch, int(t), "compare"});
    } else {
      add(ctr::kHeader + 2 * t, c.length);
    }
  }
  if (allEqual) add(ctr::kBytesCompared, c.length);
}

void Job::chunkRead(const Extent& c) {
  add(ctr::kBytesRead, c.length);
  store(ctr::kPosition, c.offset + c.length);
}

void Job::targetDone(size_t t, const Extent& c) { add(ctr::kHeader + 2 * t, c.length); }

void Job::chunkFinished(const Extent& c) {
  if (!spec_.reportDone && !journal_.valid()) return;
  std::lock_guard<std::mutex> lk(errMu_);
  if (spec_.reportDone) {
    // Coalesce with the previous record when contiguous: a clean pass stays one extent.
    if (!done_.empty() && done_.back().offset + done_.back().length == c.offset) done_.back().length += c.length;
    else done_.push_back(c);
  }
  if (journal_.valid()) {
    char line[64];
    const int n = std::snprintf(line, sizeof line, "0x%08llX  0x%08llX  +\n", static_cast<unsigned long long>(c.offset),
                                static_cast<unsigned long long>(c.length));
    // One write() per record: O_APPEND makes it atomic with respect to a kill, so the
    // journal never holds half a line except after a machine crash, which replay skips.
    ssize_t w;
    do {
      w = ::write(journal_.get(), line, size_t(n));
    } while (w < 0 && errno == EINTR);
    if (w != n) {
      // A journal that cannot be written loses crash safety, not data: report it and stop
      // journaling rather than fail the rescue.
      errors_.push_back(ChunkError{c.offset, c.length, w < 0 ? errno : EIO, -1, "journal"});
      journal_.reset();
    }
  }
}

bool Job::simulatedBad(uint64_t off, uint64_t len) const {
  const auto& v = spec_.simulateBad;
  if (v.empty()) return false;
  // The first bad extent ending after `off`; it overlaps when it starts before off+len.
  auto it = std::upper_bound(v.begin(), v.end(), off, [](uint64_t o, const Extent& e) { return o < e.offset + e.length; });
  return it != v.end() && it->offset < off + len;
}

std::vector<Extent> Job::takeDone() {
  std::lock_guard<std::mutex> lk(errMu_);
  std::vector<Extent> out;
  out.swap(done_);
  return out;
}

void Job::rotateJournal(const std::string& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd.valid()) throw SysError{errno, "open", path};
  std::lock_guard<std::mutex> lk(errMu_);
  journal_ = std::move(fd);
}

void Job::syncTargets() {
  for (size_t i = 0; i < targets_.size(); ++i) {
    Endpoint& t = targets_[i];
    // Failed targets are past saving; a detached one is synced by its own catch-up copy.
    if (!targetLive(i)) continue;
    for (const Fd* fd : {&t.buffered, &t.fd}) {
      if (!fd->valid()) continue;
      while (::fdatasync(fd->get()) != 0) {
        if (errno == EINTR) continue;
        recordError(ChunkError{0, 0, errno, int(i), "fdatasync"});
        break;
      }
    }
  }
}

void Job::run() {
  store(ctr::kState, uint64_t(JobState::Running));
  // An exception escaping a std::thread terminates the process: every job failure must
  // instead end this job alone, with a reason.
  try {
    if (spec_.backend == BackendKind::Threads) {
      runThreads(*this);
    } else {
      const int rc = runUring(*this);
      if (rc != 0 && spec_.backend == BackendKind::Auto) {
        result_.backendNote = std::string("io_uring unavailable (") + std::strerror(rc) + "), using threads";
        runThreads(*this);
      } else if (rc != 0) {
        fail(rc, "io_uring_setup", "");
      }
    }
  } catch (const std::system_error& e) {
    fail(e.code().value(), e.what(), "");
  } catch (const std::bad_alloc&) {
    fail(ENOMEM, "allocate", "");
  } catch (const SysError& e) {
    fail(e.err, e.syscall, e.path);
  }
  if (!cancel_.load() && result_.fatalErr == 0 && spec_.mode == Mode::Copy && spec_.sync)
    syncTargets();
  JobState st = JobState::Done;
  if (cancel_.load()) st = JobState::Cancelled;
  else if (stop_.load() || result_.fatalErr != 0) st = JobState::Failed;
  result_.state = st;
  release();
  store(ctr::kInFlight, 0);
  store(ctr::kState, uint64_t(st));
}

}  // namespace cs
