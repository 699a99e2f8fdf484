// A random source whose draws are the same on every platform and standard library for a given seed:
// std::mt19937_64's output is fixed by the standard, but std::uniform_int_distribution and std::shuffle
// are not, so datasets built from a seed would differ between libstdc++ and libc++ without this.
#pragma once
#include <cmath>
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

  // Uniform in [0, 1), 53 random bits.
  double uniform() { return double(engine_() >> 11) * 0x1.0p-53; }
  // Standard normal, Box-Muller (one of the pair is used, so a draw costs two uniforms).
  double normal() {
    const double u = 1.0 - uniform();  // (0, 1]: log(u) is finite
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * uniform());
  }
  // Gamma(shape, 1), Marsaglia and Tsang (2000); shape < 1 through Gamma(shape + 1) * U^(1/shape).
  double gamma(double shape) {
    if (shape < 1.0) {
      const double g = gamma(shape + 1.0);
      return g * std::pow(1.0 - uniform(), 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = 1.0 - uniform();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }
  // k probabilities from a symmetric Dirichlet(alpha): normalised Gamma(alpha) draws. A draw that
  // underflows to all zeros (tiny alpha) puts the mass on one uniformly chosen coordinate, its limit.
  std::vector<double> dirichlet(double alpha, size_t k) {
    std::vector<double> p(k);
    double sum = 0;
    for (double& v : p) sum += (v = gamma(alpha));
    if (!(sum > 0)) {
      p.assign(k, 0.0);
      p[below(k)] = 1.0;
      return p;
    }
    for (double& v : p) v /= sum;
    return p;
  }
  // An index drawn with the given probabilities (summing to 1 up to rounding; the last index of
  // positive probability takes what rounding leaves).
  size_t categorical(const std::vector<double>& probs) { return categorical(probs.data(), probs.size()); }
  size_t categorical(const double* probs, size_t k) {
    double u = uniform();
    size_t last = 0;
    for (size_t i = 0; i < k; ++i) {
      if (probs[i] <= 0) continue;
      if (u < probs[i]) return i;
      u -= probs[i];
      last = i;
    }
    return last;  // never an index of probability 0
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
