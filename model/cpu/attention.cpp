#include "model/cpu/attention.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "model/cpu/register_tile.h"
#include "model/cpu/vector_math.h"

namespace headlab::cpu {

namespace {

int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

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

// One head's T vectors of dh floats, transposed into dst[dh, Tp] (Tp = T rounded up to 16, the
// padding zero): the B operand of the products over d (q·k, dz·v), whose columns are positions.
// Whole 16 x 16 blocks go through registers (transpose16); element by element, the strided
// stores cost more than the products that read the result.
void gather_transposed(float* dst, int64_t Tp, const float* src, int64_t stride, int64_t T, int64_t dh) {
  for (int64_t d = 0; d < dh; ++d) std::fill(dst + d * Tp + T, dst + (d + 1) * Tp, 0.0f);
  for (int64_t t0 = 0; t0 < T; t0 += kLanes) {
    for (int64_t d0 = 0; d0 < dh; d0 += kLanes) {
      if (t0 + kLanes <= T && d0 + kLanes <= dh) {
        Vec block[kLanes];
        for (int i = 0; i < kLanes; ++i) block[i] = load_vec(src + (t0 + i) * stride + d0);
        transpose16(block);
        for (int j = 0; j < kLanes; ++j) store_vec(dst + (d0 + j) * Tp + t0, block[j]);
      } else {
        for (int64_t t = t0; t < std::min(T, t0 + kLanes); ++t)
          for (int64_t d = d0; d < std::min(dh, d0 + kLanes); ++d) dst[d * Tp + t] = src[t * stride + d];
      }
    }
  }
}

// A head's rows as the B operand of a product over positions (pattern·v, dscores·k ...): each
// row must offer whole 16-float vectors up to dh rounded up to 16. Rows of a dh that is a
// multiple of 16 are used where they are; others are copied into pack[T, dhp], zero-filled past dh.
struct RowsOperand {
  const float* data;
  int64_t stride;
};
RowsOperand packed_rows(std::vector<float>& pack, const float* src, int64_t stride, int64_t T, int64_t dh) {
  if (dh % kLanes == 0) return {src, stride};
  const int64_t dhp = round_up(dh, kLanes);
  pack.resize(size_t(T * dhp));
  for (int64_t t = 0; t < T; ++t) {
    std::copy(src + t * stride, src + t * stride + dh, pack.data() + t * dhp);
    std::fill(pack.data() + t * dhp + dh, pack.data() + (t + 1) * dhp, 0.0f);
  }
  return {pack.data(), dhp};
}

// One row of a head's pattern from its q·k dots. x[0..round16(n)) holds the dots of keys k < n:
// p[0..T) = softmax over those of x * scale, then 0; x[0..round16(n)) = the same softmax, then 0;
// scores (nullptr to skip) [T] = x * scale, then -inf. Whole vectors throughout: the lanes past
// n are made -inf, which exp turns into 0.
void softmax_row(float* p, float* scores, float* x, int64_t n, int64_t T, float scale) {
  const float minus_inf = -std::numeric_limits<float>::infinity();
  const int64_t nv = round_up(n, kLanes);
  const Vec lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  Vec vmax = splat(minus_inf);
  for (int64_t i = 0; i < nv; i += kLanes) {
    Vec v = load_vec(x + i) * scale;
    // Lanes past n masked in registers: scalar stores of -inf followed by this vector load would
    // stall it (a load that spans several pending stores is not forwarded).
    if (i + kLanes > n) v = lanes < splat(float(n - i)) ? v : splat(minus_inf);
    store_vec(x + i, v);
    vmax = v > vmax ? v : vmax;
  }
  if (scores) {
    std::copy(x, x + n, scores);
    std::fill(scores + n, scores + T, minus_inf);
  }
  const Vec max = splat(horizontal_max(vmax));
  Vec vsum{};
  for (int64_t i = 0; i < nv; i += kLanes) {
    const Vec e = exp_vec(load_vec(x + i) - max);
    store_vec(x + i, e);
    vsum += e;
  }
  // Normalised into x and p; lanes past n are 0 already, so whole vectors go to p up to nv (and
  // zeros after it), element by element only where the row ends inside a vector.
  const float inv = 1.0f / horizontal_sum(vsum);
  int64_t i = 0;
  for (; i < nv; i += kLanes) {
    const Vec v = load_vec(x + i) * inv;
    store_vec(x + i, v);
    if (i + kLanes <= T)
      store_vec(p + i, v);
    else
      for (int64_t j = i; j < T; ++j) p[j] = v[j - i];
  }
  for (; i + kLanes <= T; i += kLanes) store_vec(p + i, Vec{});
  for (; i < T; ++i) p[i] = 0.0f;
}

// out[q, k] = Σ_d x_q[d] yt[d, k] for the rows q in [q0, q0 + rows) of one head, k below
// q0 + rows rounded up to 16, capped at ld (cells k > q hold products the caller overwrites).
// x row q at x + q * x_stride; yt [dh, Tp]; out row q at out + (q - q0) * ld.
void row_tile_dots(float* out, int64_t ld, const float* x, int64_t x_stride, const float* yt, int64_t Tp, int64_t q0,
                   int rows, int64_t dh) {
  const int64_t ncols = std::min(ld, round_up(q0 + rows, kLanes));
  tile_row_block<kTileRows, Band::all>({out, ld, rows, ncols, x + q0 * x_stride, x_stride, 1, yt, Tp, 0, dh, q0});
}

// out[q, 0..dh) = Σ_{k<=q} w[q, k] rows[k, 0..dh): pattern·v and dscores·k. w [T, T] rows.
template <int R>
void causal_weighted_rows_by(float* out, int64_t out_stride, const float* w, const RowsOperand& rows, int64_t T,
                             int64_t dh) {
  for (int64_t q0 = 0; q0 < T; q0 += R) {
    const int n = int(std::min<int64_t>(R, T - q0));
    tile_row_block<R, Band::lower>(
        {out + q0 * out_stride, out_stride, n, dh, w + q0 * T, T, 1, rows.data, rows.stride, 0, q0 + n, q0});
  }
}

// out[k, 0..dh) = Σ_{q>=k} w[q, k] rows[q, 0..dh): the transposed products pattern^T·dz and
// dscores^T·q. w [T, T] rows.
template <int R>
void causal_weighted_rows_transposed_by(float* out, int64_t out_stride, const float* w, const RowsOperand& rows,
                                        int64_t T, int64_t dh) {
  for (int64_t k0 = 0; k0 < T; k0 += R) {
    const int n = int(std::min<int64_t>(R, T - k0));
    tile_row_block<R, Band::upper>(
        {out + k0 * out_stride, out_stride, n, dh, w + k0, 1, T, rows.data, rows.stride, k0, T, k0});
  }
}

// The tall tiles where a row fits in their two vectors: half the passes over the rows operand.
void causal_weighted_rows(float* out, int64_t out_stride, const float* w, const RowsOperand& rows, int64_t T,
                          int64_t dh) {
  if (dh <= max_vecs(kTallTileRows) * kLanes)
    causal_weighted_rows_by<kTallTileRows>(out, out_stride, w, rows, T, dh);
  else
    causal_weighted_rows_by<kTileRows>(out, out_stride, w, rows, T, dh);
}
void causal_weighted_rows_transposed(float* out, int64_t out_stride, const float* w, const RowsOperand& rows, int64_t T,
                                     int64_t dh) {
  if (dh <= max_vecs(kTallTileRows) * kLanes)
    causal_weighted_rows_transposed_by<kTallTileRows>(out, out_stride, w, rows, T, dh);
  else
    causal_weighted_rows_transposed_by<kTileRows>(out, out_stride, w, rows, T, dh);
}

// This thread's scratch for one head at a time.
struct HeadScratch {
  std::vector<float> transposed;  // [dh, Tp]: keys or values, transposed
  std::vector<float> pack;        // [T, dhp]: packed rows
  std::vector<float> tile;        // [kTileRows, Tp]: one row tile of q·k dots
  std::vector<float> dscores;     // [T, T]: the fused backward's dpattern / dscores of one head
};

// ---- per head: pattern, z, and their gradients -------------------------------------------------

// The pattern of one head, a tile of query rows at a time; and with z (not nullptr) z = pattern
// · v from each tile while its pattern rows are still in the tile buffer (L1), so that the
// pattern is only written, never read back.
void head_pattern_forward(HeadScratch& s, float* pattern, float* scores, float* z, const float* qkv, int64_t b,
                          int64_t h, int64_t T, int64_t H, int64_t dh, float scale) {
  const HeadRows rows = head_rows(b, h, T, H, dh);
  const int64_t Tp = round_up(T, kLanes);
  s.transposed.resize(size_t(dh * Tp));
  s.tile.resize(size_t(kTileRows * Tp));
  gather_transposed(s.transposed.data(), Tp, qkv + rows.k, rows.stride, T, dh);
  RowsOperand values{};
  if (z) values = packed_rows(s.pack, qkv + rows.v, rows.stride, T, dh);
  const int64_t head = (b * H + h) * T * T;
  for (int64_t q0 = 0; q0 < T; q0 += kTileRows) {
    const int n = int(std::min<int64_t>(kTileRows, T - q0));
    // The tile's dots into rows Tp wide, so that softmax_row runs on whole vectors.
    row_tile_dots(s.tile.data(), Tp, qkv + rows.q, rows.stride, s.transposed.data(), Tp, q0, n, dh);
    for (int r = 0; r < n; ++r) {
      const int64_t q = q0 + r;
      softmax_row(pattern + head + q * T, scores ? scores + head + q * T : nullptr, s.tile.data() + r * Tp, q + 1, T,
                  scale);
    }
    if (z)  // z_q = Σ_{k<=q} pattern[q,k] v_k, the pattern rows read from the tile
      tile_row_block<kTileRows, Band::lower>({z + ((b * T + q0) * H + h) * dh, H * dh, n, dh, s.tile.data(), Tp, 1,
                                              values.data, values.stride, 0, q0 + n, q0});
  }
}

// z_q = Σ_{k<=q} pattern[q,k] v_k
void head_values_forward(HeadScratch& s, float* z, const float* pattern, const float* qkv, int64_t b, int64_t h,
                         int64_t T, int64_t H, int64_t dh) {
  const HeadRows rows = head_rows(b, h, T, H, dh);
  causal_weighted_rows(z + (b * T * H + h) * dh, H * dh, pattern + (b * H + h) * T * T,
                       packed_rows(s.pack, qkv + rows.v, rows.stride, T, dh), T, dh);
}

// dp_head[T, T] (rows T apart) = dz_q · v_k for k <= q (cells above hold whatever the tiles left
// there); dv_k = Σ_{q>=k} pattern[q,k] dz_q.
void head_values_backward(HeadScratch& s, float* dp_head, float* dqkv, const float* dz, const float* pattern,
                          const float* qkv, int64_t b, int64_t h, int64_t T, int64_t H, int64_t dh) {
  const HeadRows rows = head_rows(b, h, T, H, dh);
  const int64_t Tp = round_up(T, kLanes);
  const float* dz_head = dz + (b * T * H + h) * dh;  // row t at t * H * dh
  s.transposed.resize(size_t(dh * Tp));
  gather_transposed(s.transposed.data(), Tp, qkv + rows.v, rows.stride, T, dh);
  for (int64_t q0 = 0; q0 < T; q0 += kTileRows)
    row_tile_dots(dp_head + q0 * T, T, dz_head, H * dh, s.transposed.data(), Tp, q0,
                  int(std::min<int64_t>(kTileRows, T - q0)), dh);
  causal_weighted_rows_transposed(dqkv + rows.v, rows.stride, pattern + (b * H + h) * T * T,
                                  packed_rows(s.pack, dz_head, H * dh, T, dh), T, dh);
}

// ds_head[T, T]: dpattern in, dscores out; then the q and k parts of dqkv.
void head_pattern_backward(HeadScratch& s, float* dqkv, float* ds_head, const float* pattern, const float* qkv,
                           int64_t b, int64_t h, int64_t T, int64_t H, int64_t dh, float scale) {
  const HeadRows rows = head_rows(b, h, T, H, dh);
  const float* p_head = pattern + (b * H + h) * T * T;
  // dscores = pattern * (dpattern - Σ_k pattern dpattern) * scale, in place.
  for (int64_t q = 0; q < T; ++q) {
    const float* p = p_head + q * T;
    float* ds = ds_head + q * T;
    const int64_t n = q + 1;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t k = 0; k < n; ++k) dot += p[k] * ds[k];
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) ds[k] = p[k] * (ds[k] - dot) * scale;
    std::fill(ds + n, ds + T, 0.0f);
  }
  // dq_q = Σ_{k<=q} dscores[q,k] k_k;  dk_k = Σ_{q>=k} dscores[q,k] q_q
  causal_weighted_rows(dqkv + rows.q, rows.stride, ds_head, packed_rows(s.pack, qkv + rows.k, rows.stride, T, dh), T,
                       dh);
  causal_weighted_rows_transposed(dqkv + rows.k, rows.stride, ds_head,
                                  packed_rows(s.pack, qkv + rows.q, rows.stride, T, dh), T, dh);
}

// Runs body(scratch, b, h) for every (batch, head) pair, split among threads; each pair is one
// thread's, so results do not depend on the thread count.
template <typename Body>
void for_each_head(int64_t B, int64_t H, Body&& body) {
#pragma omp parallel
  {
    HeadScratch scratch;
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) body(scratch, b, h);
  }
}

}  // namespace

void attention_pattern_forward(float* pattern, float* scores, const float* qkv, int64_t B, int64_t T, int64_t H,
                               int64_t dh, float scale) {
  for_each_head(B, H, [&](HeadScratch& s, int64_t b, int64_t h) {
    head_pattern_forward(s, pattern, scores, nullptr, qkv, b, h, T, H, dh, scale);
  });
}

void attention_values_forward(float* z, const float* pattern, const float* qkv, int64_t B, int64_t T, int64_t H,
                              int64_t dh) {
  for_each_head(B, H,
                [&](HeadScratch& s, int64_t b, int64_t h) { head_values_forward(s, z, pattern, qkv, b, h, T, H, dh); });
}

void attention_values_backward(float* dpattern, float* dqkv, const float* dz, const float* pattern, const float* qkv,
                               int64_t B, int64_t T, int64_t H, int64_t dh) {
  for_each_head(B, H, [&](HeadScratch& s, int64_t b, int64_t h) {
    float* dp_head = dpattern + (b * H + h) * T * T;
    head_values_backward(s, dp_head, dqkv, dz, pattern, qkv, b, h, T, H, dh);
    for (int64_t q = 0; q < T; ++q) std::fill(dp_head + q * T + q + 1, dp_head + (q + 1) * T, 0.0f);
  });
}

void attention_pattern_backward(float* dqkv, float* dpattern, const float* pattern, const float* qkv, int64_t B,
                                int64_t T, int64_t H, int64_t dh, float scale) {
  for_each_head(B, H, [&](HeadScratch& s, int64_t b, int64_t h) {
    head_pattern_backward(s, dqkv, dpattern + (b * H + h) * T * T, pattern, qkv, b, h, T, H, dh, scale);
  });
}

void attention_forward(float* pattern, float* z, const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh,
                       float scale) {
  for_each_head(B, H, [&](HeadScratch& s, int64_t b, int64_t h) {
    head_pattern_forward(s, pattern, nullptr, z, qkv, b, h, T, H, dh, scale);
  });
}

void attention_backward(float* dqkv, const float* dz, const float* pattern, const float* qkv, int64_t B, int64_t T,
                        int64_t H, int64_t dh, float scale) {
  for_each_head(B, H, [&](HeadScratch& s, int64_t b, int64_t h) {
    s.dscores.resize(size_t(T * T));
    head_values_backward(s, s.dscores.data(), dqkv, dz, pattern, qkv, b, h, T, H, dh);
    head_pattern_backward(s, dqkv, s.dscores.data(), pattern, qkv, b, h, T, H, dh, scale);
  });
}

}  // namespace headlab::cpu
