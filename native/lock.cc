// flock(2) for JS: take an exclusive advisory lock on a file, or say with errno why not.
#include "lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cstring>
#include <string>

#include "fd.h"
#include "napi_error.h"

namespace cs {

namespace {

// The locked descriptor, once it is sure to be the file now named `path`. A holder may
// unlink or rename its lock file while we wait between open() and flock(): a lock on an
// inode no longer under that name locks nothing anyone else will look at, so try again.
// `own`: a lock file of ours, never a link or anything but a regular file (we write into it).
Fd lockPath(const std::string& path, bool create, bool own) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int flags = O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (create ? O_CREAT : 0) | (own ? O_NOFOLLOW : 0);
    Fd fd(::open(path.c_str(), flags, 0644));
    if (!fd.valid()) throw SysError{errno, "open", path};
    struct stat held {}, named {};
    if (::fstat(fd.get(), &held) != 0) throw SysError{errno, "fstat", path};
    if (own && !S_ISREG(held.st_mode)) throw SysError{EINVAL, "open (not a regular file)", path};
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) throw SysError{errno, "flock", path};
    // after the lock: the holder may have removed the file just before letting go of it
    if (::fstat(fd.get(), &held) != 0) throw SysError{errno, "fstat", path};
    if (::stat(path.c_str(), &named) != 0) {
      if (errno == ENOENT) continue;
      throw SysError{errno, "stat", path};
    }
    if (held.st_dev == named.st_dev && held.st_ino == named.st_ino && held.st_nlink > 0) return fd;
  }
  throw SysError{EAGAIN, "flock (the lock file kept being replaced)", path};
}

}  // namespace

Napi::Value LockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "lockFile(path: string, create: boolean, own: boolean)");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const bool create = info[1].ToBoolean();
  const bool own = info[2].ToBoolean();
  try {
    Fd fd = lockPath(path, create, own);
    return Napi::Number::New(env, fd.release());
  } catch (const SysError& e) {
    throw errnoError(env, e);
  }
}

}  // namespace cs
