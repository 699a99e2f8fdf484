#include "model/cpu/layernorm.h"

#include <cmath>

#include "model/cpu/column_blocks.h"

namespace headlab::cpu {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < C; ++c) sum += x[c];
    const float m = sum / C;
    // Two passes (centre, then square) as TransformerLens does: no cancellation for large means.
    float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (int64_t c = 0; c < C; ++c) sq += (x[c] - m) * (x[c] - m);
    const float r = 1.0f / std::sqrt(sq / C + eps);
    float* y = out + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - m) * r * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = r;
  }
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
  // Parameter gradients first, while dout is intact (dinp may alias it).
  for_each_column_block(C, [&](int64_t c0, int64_t c1) {
    float dw[kMaxColumnBlock] = {}, db[kMaxColumnBlock] = {};
    for (int64_t n = 0; n < N; ++n) {
      const float* g = dout + n * C + c0;
      const float* x = inp + n * C + c0;
      const float m = mean[n], r = rstd[n];
#pragma omp simd
      for (int64_t c = 0; c < c1 - c0; ++c) {
        dw[c] += g[c] * ((x[c] - m) * r);
        db[c] += g[c];
      }
    }
    for (int64_t c = 0; c < c1 - c0; ++c) {
      dweight[c0 + c] += dw[c];
      dbias[c0 + c] += db[c];
    }
  });

  // dinp = rstd (g - mean(g) - xhat mean(g xhat)) with g = dout * weight, xhat the normalised input.
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* g = dout + n * C;
    const float* x = inp + n * C;
    const float m = mean[n], r = rstd[n];
    float sum_g = 0.0f, sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_gx)
    for (int64_t c = 0; c < C; ++c) {
      const float gw = g[c] * weight[c];
      sum_g += gw;
      sum_gx += gw * ((x[c] - m) * r);
    }
    const float mean_g = sum_g / C, mean_gx = sum_gx / C;
    float* dx = dinp + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) dx[c] = (g[c] * weight[c] - mean_g - (x[c] - m) * r * mean_gx) * r;
  }
}

}  // namespace headlab::cpu
