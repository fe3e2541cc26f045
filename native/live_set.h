// The runs (I/O generators, erase passes) a worker's addon instance has started and not yet
// seen end: its teardown cancels and joins each, so no thread outlives the memory it uses.
#pragma once

#include <memory>
#include <mutex>
#include <set>

namespace cs {

// T has cancel() and join(). Threads add a run when it starts and remove it when it ends.
template <typename T>
class LiveSet {
 public:
  LiveSet() = default;
  LiveSet(const LiveSet&) = delete;
  LiveSet& operator=(const LiveSet&) = delete;
  ~LiveSet() {
    std::set<std::shared_ptr<T>> live;
    {
      std::lock_guard<std::mutex> lk(mu_);
      live.swap(live_);
    }
    for (const auto& r : live) {
      r->cancel();
      r->join();
    }
  }
  void track(const std::shared_ptr<T>& r) {
    std::lock_guard<std::mutex> lk(mu_);
    live_.insert(r);
  }
  void untrack(const std::shared_ptr<T>& r) {
    std::lock_guard<std::mutex> lk(mu_);
    live_.erase(r);
  }

 private:
  std::mutex mu_;
  std::set<std::shared_ptr<T>> live_;
};

}  // namespace cs
