// The CPU backend's large blocks, kept after free for the next request of the same size. The edge
// methods, patching sweeps and per-checkpoint loops allocate the same buffers call after call, and
// every fresh page costs a page fault on first touch (on the virtual machines measured, as much as
// the work on it). A request the pool cannot serve first releases every kept block, so a process
// never holds more memory at once than it would without the pool.
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

namespace headlab::cpu {

class BlockPool {
 public:
  static constexpr size_t kSmallest = size_t(1) << 20;  // smaller blocks: malloc reuses them well

  BlockPool() = default;
  ~BlockPool() { release_kept(); }
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // A kept block of exactly `bytes` (contents undefined), or null after releasing every kept one.
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = kept_.find(bytes);
    if (it != kept_.end()) {
      void* p = it->second;
      kept_.erase(it);
      kept_bytes_ -= bytes;
      live_[p] = bytes;
      return p;
    }
    release_kept_locked();
    return nullptr;
  }
  // Records a block allocated for a request of `bytes` (only those of kSmallest or more).
  void track(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_[p] = bytes;
  }
  // Keeps a tracked block; false (the caller frees it) for blocks the pool does not track.
  bool give_back(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(p);
    if (it == live_.end()) return false;
    kept_.emplace(it->second, p);
    kept_bytes_ += it->second;
    live_.erase(it);
    return true;
  }
  size_t kept_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return kept_bytes_;
  }
  void release_kept() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_kept_locked();
  }

 private:
  void release_kept_locked();

  mutable std::mutex mutex_;
  std::unordered_map<void*, size_t> live_;
  std::multimap<size_t, void*> kept_;
  size_t kept_bytes_ = 0;
};

}  // namespace headlab::cpu
