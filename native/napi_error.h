// How native meets JS values: one shape for a failed syscall (code = the errno's name, errno,
// syscall, path), so src/errors.ts reads every native module's failures the same way; and
// the reading of an options object's integer fields.
#pragma once

#include <napi.h>

#include <cstdint>
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

// An optional non-negative integer field of a JS options object (undefined: `fallback`);
// anything else, or beyond 2^53, is a RangeError naming the field.
inline uint64_t u64(const Napi::Object& o, const char* key, uint64_t fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  const double v = o.Get(key).ToNumber().DoubleValue();
  if (!(v >= 0) || v > 9007199254740991.0) throw Napi::RangeError::New(o.Env(), std::string(key) + " must be a non-negative safe integer");
  return uint64_t(v);
}

}  // namespace cs
