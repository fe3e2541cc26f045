// flock(2) for JS: an advisory lock on a file that dies with the process (kill -9 included).
#pragma once

#include <napi.h>

namespace cs {

// lockFile(path: string, create: boolean, own: boolean): number. Opens `path` (O_RDWR,
// created 0644 when `create`; with `own`, a lock file of ours: no symlink followed, a
// regular file only), takes flock(LOCK_EX | LOCK_NB) and returns the descriptor, which holds
// the lock until JS closes it. Throws an errno error (code EAGAIN when another holds it).
Napi::Value LockFile(const Napi::CallbackInfo& info);

}  // namespace cs
