#include "model/cpu/rmsnorm.h"

#include <cmath>

#include "model/cpu/column_blocks.h"

namespace headlab::cpu {

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (int64_t c = 0; c < C; ++c) sq += x[c] * x[c];
    const float r = 1.0f / std::sqrt(sq / C + eps);
    float* y = out + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[c] = x[c] * r * weight[c];
    rstd[n] = r;
  }
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C) {
  // Parameter gradient first, while dout is intact (dinp may alias it).
  for_each_column_block(C, [&](int64_t c0, int64_t c1) {
    float dw[kMaxColumnBlock] = {};
    for (int64_t n = 0; n < N; ++n) {
      const float* g = dout + n * C + c0;
      const float* x = inp + n * C + c0;
      const float r = rstd[n];
#pragma omp simd
      for (int64_t c = 0; c < c1 - c0; ++c) dw[c] += g[c] * (x[c] * r);
    }
    for (int64_t c = 0; c < c1 - c0; ++c) dweight[c0 + c] += dw[c];
  });

  // dinp = rstd (g - x rstd² mean(g x)) with g = dout * weight.
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* g = dout + n * C;
    const float* x = inp + n * C;
    const float r = rstd[n];
    float sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_gx)
    for (int64_t c = 0; c < C; ++c) sum_gx += g[c] * weight[c] * x[c];
    const float k = r * r * sum_gx / C;
    float* dx = dinp + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) dx[c] = (g[c] * weight[c] - x[c] * k) * r;
  }
}

}  // namespace headlab::cpu
