// One shape for a failed syscall on the JS side (code = the errno's name, errno, syscall,
// path), so src/errors.ts reads every native module's failures the same way.
#pragma once

#include <napi.h>

#include <cstring>
#include <string>

#include "fd.h"

namespace cs {

// "EIO" for EIO; "EUNKNOWN" where glibc has no name (an errno from a newer kernel).
inline const char* errnoName(int err) {
  const char* n = err > 0 ? strerrorname_np(err) : nullptr;
  return n ? n : "EUNKNOWN";
}

inline Napi::Error errnoError(Napi::Env env, const SysError& e) {
  std::string msg = e.syscall + (e.path.empty() ? "" : " " + e.path) + ": " + std::strerror(e.err);
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, errnoName(e.err)));
  err.Set("errno", Napi::Number::New(env, e.err));
  err.Set("syscall", Napi::String::New(env, e.syscall));
  if (!e.path.empty()) err.Set("path", Napi::String::New(env, e.path));
  return err;
}

}  // namespace cs
