#include "model/cpu/adamw.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "model/cpu/vector_math.h"

namespace headlab::cpu {

double sum_squares(const float* x, int64_t n) {
  constexpr int64_t kBlock = 1 << 14;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks);
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t end = std::min(n, (blk + 1) * kBlock);
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = blk * kBlock; i < end; ++i) s += static_cast<double>(x[i]) * x[i];
    partial[blk] = s;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

namespace {

struct AdamWScalars {
  float decay, step_size, bias_correction2_sqrt, w, beta2, one_minus_beta2, eps, grad_scale;
  bool w_small;
};

// sqrt on 16 lanes: the vector instruction where there is one (std::sqrt must be able to set
// errno, which keeps the compiler from vectorising a loop that calls it).
inline Vec sqrt_vec(Vec x) {
#if defined(__AVX512F__)
  // The zero-masking form with every lane on: plain _mm512_sqrt_ps trips GCC 12's
  // maybe-uninitialized warning on its undefined pass-through operand.
  return reinterpret_cast<Vec>(_mm512_maskz_sqrt_ps(__mmask16(0xFFFF), reinterpret_cast<__m512>(x)));
#else
  Vec r;
  for (int64_t i = 0; i < kLanes; ++i) r[i] = std::sqrt(x[i]);
  return r;
#endif
}

// The update of one element; T is float or Vec (the same operations in the same order, so a
// parameter gets the same bits in the vector body and in the tail).
template <typename T, typename Sqrt>
inline void adamw_element(T& param, T grad, T& m, T& v, const AdamWScalars& s, Sqrt sqrt) {
  const T g = grad * s.grad_scale;
  const T p = param * s.decay;
  const T mi = s.w_small ? m + s.w * (g - m) : g - (g - m) * (1.0f - s.w);
  const T vi = v * s.beta2 + s.one_minus_beta2 * g * g;  // addcmul: value * t1 * t2
  const T denom = sqrt(vi) / s.bias_correction2_sqrt + s.eps;
  m = mi;
  v = vi;
  param = p + -s.step_size * mi / denom;  // addcdiv: value * t1 / t2
}

// One thread's share of the update, [begin, end): whole vectors, then the tail.
void adamw_range(float* param, const float* grad, float* m, float* v, int64_t begin, int64_t end,
                 const AdamWScalars& s) {
  int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    Vec p = load_vec(param + i), mi = load_vec(m + i), vi = load_vec(v + i);
    adamw_element(p, load_vec(grad + i), mi, vi, s, sqrt_vec);
    store_vec(param + i, p);
    store_vec(m + i, mi);
    store_vec(v + i, vi);
  }
  for (; i < end; ++i) adamw_element(param[i], grad[i], m[i], v[i], s, [](float x) { return std::sqrt(x); });
}

}  // namespace

void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int64_t step, float grad_scale) {
  if (step < 1) throw InternalError("adamw_update: step must be 1-based, got " + std::to_string(step));
  // Scalars in double as PyTorch's Python floats are, rounded to float where its kernels take them.
  const double lr_d = lr;
  const double bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  AdamWScalars s;
  s.decay = static_cast<float>(1.0 - lr_d * weight_decay);
  s.step_size = static_cast<float>(lr_d / bias_correction1);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.w = static_cast<float>(1.0 - beta1);  // lerp weight; lerp has another form for w >= 0.5
  s.w_small = s.w < 0.5f;
  s.beta2 = beta2;
  s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  s.eps = eps;
  s.grad_scale = grad_scale;
  // Shares that start at multiples of 64 elements.
  const int64_t threads = std::min<int64_t>(omp_get_max_threads(), (n + 4095) / 4096);
#pragma omp parallel num_threads(int(std::max <int64_t>(threads, 1)))
  {
    const int64_t parts = omp_get_num_threads(), part = omp_get_thread_num();
    const int64_t share = (n / parts + 63) / 64 * 64;
    const int64_t begin = std::min(n, part * share), end = part == parts - 1 ? n : std::min(n, begin + share);
    adamw_range(param, grad, m, v, begin, end, s);
  }
}

void sgd_update(float* param, const float* grad, int64_t n, float lr, float weight_decay, float grad_scale) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float d = grad[i] * grad_scale + weight_decay * param[i];
    param[i] = param[i] + -lr * d;
  }
}

}  // namespace headlab::cpu
