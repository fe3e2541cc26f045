// Zeroing ranges of a block device in the kernel (BLKZEROOUT): the drive's write-zeroes
// command where it has one, the block layer's own zero pages where not, never our buffers.
// Registered on the addon's exports as zeroOutRanges.
#pragma once

#include <napi.h>

namespace cs {

// Adds `zeroOutRanges(path, extents: Float64Array [offset, length, ...]) -> Promise<{ bytes,
// unsupported }>` to the addon's exports.
void registerBlkZero(Napi::Env env, Napi::Object exports);

}  // namespace cs
