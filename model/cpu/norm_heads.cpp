#include "model/cpu/norm_heads.h"

#include <vector>

#include "model/cpu/column_blocks.h"

namespace headlab::cpu {

void norm_backward_heads(Normalization norm, float* dinp, int64_t head_stride, int64_t row_stride, bool add,
                         float* dsum, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, const float* mean, const float* rstd, int64_t n, int64_t N, int64_t C) {
  const bool centred = norm == Normalization::LN;
  // Parameter gradients first, for all heads in one pass: dweight[c] += Σ_n xhat[n, c] Σ_h dout_h[n, c].
  if (norm != Normalization::none && dweight) {
    for_each_column_block(C, [&](int64_t c0, int64_t c1) {
      float dw[kMaxColumnBlock] = {}, db[kMaxColumnBlock] = {}, g[kMaxColumnBlock];
      const int64_t w = c1 - c0;
      for (int64_t r = 0; r < N; ++r) {
        const float* x = inp + r * C + c0;
        const float m = centred ? mean[r] : 0.0f, s = rstd[r];
        for (int64_t c = 0; c < w; ++c) g[c] = 0.0f;
        for (int64_t h = 0; h < n; ++h) {
          const float* gh = dout + (h * N + r) * C + c0;
#pragma omp simd
          for (int64_t c = 0; c < w; ++c) g[c] += gh[c];
        }
#pragma omp simd
        for (int64_t c = 0; c < w; ++c) {
          dw[c] += g[c] * ((x[c] - m) * s);
          db[c] += g[c];
        }
      }
      for (int64_t c = 0; c < w; ++c) {
        dweight[c0 + c] += dw[c];
        if (centred && dbias) dbias[c0 + c] += db[c];
      }
    });
  }

#pragma omp parallel
  {
    std::vector<float> xhat_buf(static_cast<size_t>(C)), sum_buf(static_cast<size_t>(C));
    float* xhat = xhat_buf.data();
    float* sum = sum_buf.data();
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N; ++r) {
      const float* x = inp + r * C;
      const float m = centred ? mean[r] : 0.0f, s = norm == Normalization::none ? 1.0f : rstd[r];
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        xhat[c] = (x[c] - m) * s;
        sum[c] = 0.0f;
      }
      for (int64_t h = 0; h < n; ++h) {
        const float* g = dout + (h * N + r) * C;
        float* dx = dinp + h * head_stride + r * row_stride;
        if (norm == Normalization::none) {
          if (add) {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) dx[c] += g[c];
          } else {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) dx[c] = g[c];
          }
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) sum[c] += g[c];
          continue;
        }
        // LN: dx = rstd (g w - mean(g w) - xhat mean(g w xhat)); RMS: dx = rstd (g w - xhat mean(g w xhat)).
        float sum_g = 0.0f, sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_gx)
        for (int64_t c = 0; c < C; ++c) {
          const float gw = g[c] * weight[c];
          sum_g += gw;
          sum_gx += gw * xhat[c];
        }
        const float mean_g = centred ? sum_g / C : 0.0f, mean_gx = sum_gx / C;
        if (add) {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const float d = (g[c] * weight[c] - mean_g - xhat[c] * mean_gx) * s;
            dx[c] += d;
            sum[c] += d;
          }
        } else {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const float d = (g[c] * weight[c] - mean_g - xhat[c] * mean_gx) * s;
            dx[c] = d;
            sum[c] += d;
          }
        }
      }
      if (dsum) {
        float* ds = dsum + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) ds[c] += sum[c];
      }
    }
  }
}

}  // namespace headlab::cpu
