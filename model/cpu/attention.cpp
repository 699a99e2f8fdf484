#include "model/cpu/attention.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "model/cpu/vector_math.h"

namespace headlab::cpu {

namespace {

// Where one head's q, k or v vectors sit in qkv (or dqkv) for batch b: row t starts at
// base + t * stride.
struct HeadRows {
  int64_t stride;
  int64_t q, k, v;  // offsets of the head's q, k, v at t = 0
};

HeadRows head_rows(int64_t b, int64_t h, int64_t T, int64_t H, int64_t dh) {
  const int64_t stride = 3 * H * dh;
  const int64_t base = b * T * stride;
  return {stride, base + h * dh, base + (H + h) * dh, base + (2 * H + h) * dh};
}

// dst[d * T + t] = src[offset + t * stride + d]: one head's vectors as [dh, T], so that loops over
// positions (the long dimension) run over contiguous memory.
void gather_transposed(float* dst, const float* src, int64_t offset, int64_t stride, int64_t T, int64_t dh) {
  for (int64_t t = 0; t < T; ++t) {
    const float* row = src + offset + t * stride;
    for (int64_t d = 0; d < dh; ++d) dst[d * T + t] = row[d];
  }
}

// out[k] = Σ_d x[d] yt[d * T + k] for k < n: one vector against n others stored as [dh, T]. Four
// d at a time, so each pass over out does four multiply-adds per load and store of out.
void dot_rows_transposed(float* __restrict out, const float* x, const float* yt, int64_t n, int64_t T, int64_t dh) {
  std::fill(out, out + n, 0.0f);
  int64_t d = 0;
  for (; d + 4 <= dh; d += 4) {
    const float x0 = x[d], x1 = x[d + 1], x2 = x[d + 2], x3 = x[d + 3];
    const float *y0 = yt + d * T, *y1 = y0 + T, *y2 = y1 + T, *y3 = y2 + T;
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) out[k] += x0 * y0[k] + x1 * y1[k] + x2 * y2[k] + x3 * y3[k];
  }
  for (; d < dh; ++d) {
    const float xd = x[d];
    const float* yd = yt + d * T;
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) out[k] += xd * yd[k];
  }
}

// out[0..dh) = Σ_{i<count} w[i * w_stride] · rows[i * row_stride + 0..dh): the weighted sum of
// `count` head vectors. Whole 32-float chunks use a fixed-size accumulator that stays in
// registers across the sum; a ragged tail (dh not a multiple of 32) takes the plain loop.
void weighted_row_sum(float* __restrict out, const float* w, int64_t w_stride, const float* rows, int64_t row_stride,
                      int64_t count, int64_t dh) {
  constexpr int64_t kChunk = 32;
  int64_t c = 0;
  for (; c + kChunk <= dh; c += kChunk) {
    float acc[kChunk] = {};
    for (int64_t i = 0; i < count; ++i) {
      const float wi = w[i * w_stride];
      const float* r = rows + i * row_stride + c;
#pragma omp simd
      for (int64_t j = 0; j < kChunk; ++j) acc[j] += wi * r[j];
    }
    std::copy(acc, acc + kChunk, out + c);
  }
  if (c == dh) return;
  std::fill(out + c, out + dh, 0.0f);
  for (int64_t i = 0; i < count; ++i) {
    const float wi = w[i * w_stride];
    const float* r = rows + i * row_stride;
#pragma omp simd
    for (int64_t j = c; j < dh; ++j) out[j] += wi * r[j];
  }
}

// p[0..n) = softmax(s[0..n)) in place, stable: the row max is subtracted first.
void softmax_inplace(float* p, int64_t n) {
  float max = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : max)
  for (int64_t k = 0; k < n; ++k) max = std::max(max, p[k]);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t k = 0; k < n; ++k) {
    p[k] = exp_simd(p[k] - max);
    sum += p[k];
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) p[k] *= inv;
}

}  // namespace

void attention_pattern_forward(float* pattern, float* scores, const float* qkv, int64_t B, int64_t T, int64_t H,
                               int64_t dh, float scale) {
  const float minus_inf = -std::numeric_limits<float>::infinity();
#pragma omp parallel
  {
    std::vector<float> kt(dh * T);  // this thread's keys of one head, [dh, T]
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < H; ++h) {
        const HeadRows rows = head_rows(b, h, T, H, dh);
        gather_transposed(kt.data(), qkv, rows.k, rows.stride, T, dh);
        for (int64_t q = 0; q < T; ++q) {
          const float* qv = qkv + rows.q + q * rows.stride;
          float* p = pattern + ((b * H + h) * T + q) * T;
          const int64_t n = q + 1;  // keys k <= q
          dot_rows_transposed(p, qv, kt.data(), n, T, dh);
#pragma omp simd
          for (int64_t k = 0; k < n; ++k) p[k] *= scale;
          if (scores) {
            float* s = scores + ((b * H + h) * T + q) * T;
            std::copy(p, p + n, s);
            std::fill(s + n, s + T, minus_inf);
          }
          softmax_inplace(p, n);
          std::fill(p + n, p + T, 0.0f);
        }
      }
    }
  }
}

void attention_pattern_backward(float* dqkv, float* dpattern, const float* pattern, const float* qkv, int64_t B,
                                int64_t T, int64_t H, int64_t dh, float scale) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      const HeadRows rows = head_rows(b, h, T, H, dh);
      // dscores = pattern * (dpattern - Σ_k pattern dpattern) * scale, in place over dpattern.
      for (int64_t q = 0; q < T; ++q) {
        const float* p = pattern + ((b * H + h) * T + q) * T;
        float* ds = dpattern + ((b * H + h) * T + q) * T;
        const int64_t n = q + 1;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t k = 0; k < n; ++k) dot += p[k] * ds[k];
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) ds[k] = p[k] * (ds[k] - dot) * scale;
        std::fill(ds + n, ds + T, 0.0f);
      }
      const float* ds_head = dpattern + (b * H + h) * T * T;
      // dq_q = Σ_{k<=q} dscores[q,k] k_k
      for (int64_t q = 0; q < T; ++q)
        weighted_row_sum(dqkv + rows.q + q * rows.stride, ds_head + q * T, 1, qkv + rows.k, rows.stride, q + 1, dh);
      // dk_k = Σ_{q>=k} dscores[q,k] q_q
      for (int64_t k = 0; k < T; ++k)
        weighted_row_sum(dqkv + rows.k + k * rows.stride, ds_head + k * T + k, T, qkv + rows.q + k * rows.stride,
                         rows.stride, T - k, dh);
    }
  }
}

void attention_values_forward(float* z, const float* pattern, const float* qkv, int64_t B, int64_t T, int64_t H,
                              int64_t dh) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      const HeadRows rows = head_rows(b, h, T, H, dh);
      for (int64_t q = 0; q < T; ++q)
        weighted_row_sum(z + ((b * T + q) * H + h) * dh, pattern + ((b * H + h) * T + q) * T, 1, qkv + rows.v,
                         rows.stride, q + 1, dh);
    }
  }
}

void attention_values_backward(float* dpattern, float* dqkv, const float* dz, const float* pattern, const float* qkv,
                               int64_t B, int64_t T, int64_t H, int64_t dh) {
#pragma omp parallel
  {
    std::vector<float> vt(dh * T);  // this thread's values of one head, [dh, T]
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < H; ++h) {
        const HeadRows rows = head_rows(b, h, T, H, dh);
        gather_transposed(vt.data(), qkv, rows.v, rows.stride, T, dh);
        // dpattern[q,k] = dz_q · v_k for k <= q
        for (int64_t q = 0; q < T; ++q) {
          const float* g = dz + ((b * T + q) * H + h) * dh;
          float* dp = dpattern + ((b * H + h) * T + q) * T;
          const int64_t n = q + 1;
          dot_rows_transposed(dp, g, vt.data(), n, T, dh);
          std::fill(dp + n, dp + T, 0.0f);
        }
        // dv_k = Σ_{q>=k} pattern[q,k] dz_q
        const float* p_head = pattern + (b * H + h) * T * T;
        for (int64_t k = 0; k < T; ++k)
          weighted_row_sum(dqkv + rows.v + k * rows.stride, p_head + k * T + k, T, dz + ((b * T + k) * H + h) * dh,
                           H * dh, T - k, dh);
      }
    }
  }
}

}  // namespace headlab::cpu
