// A random source whose draws are the same on every platform and standard library for a given seed:
// std::mt19937_64's output is fixed by the standard, but std::uniform_int_distribution and std::shuffle
// are not, so datasets built from a seed would differ between libstdc++ and libc++ without this.
#pragma once
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace headlab {

class SeededRng {
 public:
  explicit SeededRng(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, bound), by rejection so that no value is favoured. bound must be > 0.
  uint64_t below(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t draw = engine_();
    while (draw >= limit) draw = engine_();
    return draw % bound;
  }
  int64_t between(int64_t low, int64_t high_inclusive) {
    return low + int64_t(below(uint64_t(high_inclusive - low) + 1));
  }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

  // Fisher-Yates.
  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }
  // k distinct indices from [0, n), in random order. k <= n.
  std::vector<size_t> distinct(size_t n, size_t k) {
    std::vector<size_t> all(n);
    for (size_t i = 0; i < n; ++i) all[i] = i;
    for (size_t i = 0; i < k; ++i) std::swap(all[i], all[i + below(n - i)]);
    all.resize(k);
    return all;
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace headlab
