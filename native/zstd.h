// zstd frames on native threads: a pool of threads, each with its own ZSTD_CCtx and
// ZSTD_DCtx, compressing or decompressing one independent frame per task (the seekable
// image format, src/image/zstd/). Registered on the addon's exports as ZstdPool.
#pragma once

#include <napi.h>

namespace cs {

// Adds `ZstdPool` (class) and `zstdInfo` (versions, compressBound) to the addon's exports.
void registerZstd(Napi::Env env, Napi::Object exports);

}  // namespace cs
