#include "model/cpu/adamw.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "model/errors.h"

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

void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int64_t step, float grad_scale) {
  if (step < 1) throw InternalError("adamw_update: step must be 1-based, got " + std::to_string(step));
  // Scalars in double as PyTorch's Python floats are, rounded to float where its kernels take them.
  const double lr_d = lr;
  const float decay = static_cast<float>(1.0 - lr_d * weight_decay);
  const double bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const float step_size = static_cast<float>(lr_d / bias_correction1);
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float w = static_cast<float>(1.0 - beta1);  // lerp weight; lerp has another form for w >= 0.5
  const bool w_small = w < 0.5f;
  const float one_minus_beta2 = static_cast<float>(1.0 - beta2);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] * grad_scale;
    const float p = param[i] * decay;
    const float mi = w_small ? m[i] + w * (g - m[i]) : g - (g - m[i]) * (1.0f - w);
    const float vi = v[i] * beta2 + one_minus_beta2 * g * g;  // addcmul: value * t1 * t2
    const float denom = std::sqrt(vi) / bias_correction2_sqrt + eps;
    m[i] = mi;
    v[i] = vi;
    param[i] = p + -step_size * mi / denom;  // addcdiv: value * t1 / t2
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
