// The I/O generator's JS face: the IoGen class and its counter layout, registered by the
// Engine addon (addon.cc), which owns the registry of running generators.
#pragma once

#include <napi.h>

#include "iogen.h"
#include "live_set.h"

namespace cs {

// Generators still running on this thread's addon instance: a worker torn down mid-run
// cancels and joins them, so no I/O thread outlives the memory it writes.
using IoGenRegistry = LiveSet<IoGen>;

// The IoGen constructor: new IoGen(spec, counters: BigUint64Array).
Napi::Function defineIoGen(Napi::Env env, IoGenRegistry* registry);
// { state, phase, readOps, ..., header, readHist, writeHist, count, buckets, bits, groups }
Napi::Object ioGenLayout(Napi::Env env);

}  // namespace cs
