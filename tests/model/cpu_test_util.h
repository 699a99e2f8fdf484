// Helpers shared by the CPU kernel tests: seeded random arrays, element-wise comparison with a
// tolerance, and central finite differences of a scalar function.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace headlab::testing {

// n floats uniform in [lo, hi), the same for the same seed.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// Asserts |actual[i] - expected[i]| <= rtol |expected[i]| + atol for every i; reports the worst.
template <typename A, typename E>
::testing::AssertionResult all_near(const std::vector<A>& actual, const std::vector<E>& expected, double rtol,
                                    double atol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " vs " << expected.size();
  size_t worst = 0, bad = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    const double excess = std::abs(a - e) - (rtol * std::abs(e) + atol);
    if (!(excess <= 0.0)) ++bad;  // NaN counts as bad
    if (!(excess <= worst_excess)) worst_excess = excess, worst = i;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << actual.size() << " elements differ; worst at " << worst
                                       << ": " << double(actual[worst]) << " vs expected " << double(expected[worst])
                                       << " (rtol " << rtol << ", atol " << atol << ")";
}

// d f / d x[i] for every i by central differences with step h; x is restored afterwards. The step
// actually taken (after rounding to float) is the one divided by. The default 1e-2 suits f32
// kernels: float rounding of f contributes ~1e-7/h and truncation ~h², both near 1e-5 here, ten
// times under the tolerance of gradient_matches; at 1e-3 rounding alone reaches 7e-4.
inline std::vector<double> numeric_gradient(std::vector<float>& x, const std::function<double()>& f, float h = 1e-2f) {
  std::vector<double> grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float saved = x[i];
    const float up = saved + h, down = saved - h;
    x[i] = up;
    const double f_up = f();
    x[i] = down;
    const double f_down = f();
    x[i] = saved;
    grad[i] = (f_up - f_down) / (static_cast<double>(up) - static_cast<double>(down));
  }
  return grad;
}

// Σ w[i] out[i] in double: the scalar whose gradient with respect to out is w.
inline double weighted_sum(const std::vector<float>& out, const std::vector<float>& w) {
  double s = 0.0;
  for (size_t i = 0; i < out.size(); ++i) s += static_cast<double>(w[i]) * out[i];
  return s;
}

// Gradient check: analytic vs numeric, relative 1e-2, absolute 1e-3 of the gradient's scale.
inline ::testing::AssertionResult gradient_matches(const std::vector<float>& analytic,
                                                   const std::vector<double>& numeric) {
  return all_near(analytic, numeric, 1e-2, 1e-3 * std::max(1.0, max_abs(numeric)));
}

}  // namespace headlab::testing
