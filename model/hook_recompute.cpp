#include "model/hook_recompute.h"

#include <cmath>
#include <limits>

namespace headlab {

void normalize_rows(float* normalized, const float* x, const float* mean, const float* scale, int64_t N, int64_t D) {
  for (int64_t i = 0; i < N; ++i) {
    const float m = mean ? mean[i] : 0.0f;
    const float r = 1.0f / scale[i];
    for (int64_t j = 0; j < D; ++j) normalized[i * D + j] = (x[i * D + j] - m) * r;
  }
}

void scale_shift_rows(float* out, const float* normalized, const float* weight, const float* bias, int64_t N,
                      int64_t D) {
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < D; ++j) out[i * D + j] = normalized[i * D + j] * weight[j] + (bias ? bias[j] : 0.0f);
}

void causal_softmax_rows(float* pattern, const float* scores, int64_t R, int64_t T) {
  for (int64_t r = 0; r < R; ++r) {
    for (int64_t q = 0; q < T; ++q) {
      const float* s = scores + (r * T + q) * T;
      float* p = pattern + (r * T + q) * T;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k <= q; ++k) mx = std::fmax(mx, s[k]);
      double sum = 0;
      for (int64_t k = 0; k <= q; ++k) {
        p[k] = std::isinf(mx) && mx < 0 ? 0.0f : std::exp(s[k] - mx);
        sum += p[k];
      }
      const float inv = sum > 0 ? float(1.0 / sum) : 0.0f;
      for (int64_t k = 0; k <= q; ++k) p[k] *= inv;
      for (int64_t k = q + 1; k < T; ++k) p[k] = 0.0f;
    }
  }
}

}  // namespace headlab
