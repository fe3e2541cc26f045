// The I/O generator's JS face: the IoGen class and its counter layout, registered by the
// Engine addon (addon.cc), which owns the registry of running generators.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <set>

namespace cs {

class IoGen;

// Generators still running on this thread's addon instance: a worker torn down mid-run
// cancels and joins them, so no I/O thread outlives the memory it writes.
class IoGenRegistry {
 public:
  IoGenRegistry() = default;
  IoGenRegistry(const IoGenRegistry&) = delete;
  IoGenRegistry& operator=(const IoGenRegistry&) = delete;
  ~IoGenRegistry();
  void track(const std::shared_ptr<IoGen>& g);
  void untrack(const std::shared_ptr<IoGen>& g);

 private:
  std::mutex mu_;
  std::set<std::shared_ptr<IoGen>> live_;
};

// The IoGen constructor: new IoGen(spec, counters: BigUint64Array).
Napi::Function defineIoGen(Napi::Env env, IoGenRegistry* registry);
// { state, phase, readOps, ..., header, readHist, writeHist, count, buckets, bits, groups }
Napi::Object ioGenLayout(Napi::Env env);

}  // namespace cs
