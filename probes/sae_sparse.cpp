#include "probes/sae_sparse.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

namespace headlab {

namespace {

// Heap order for "the k largest, ties to the lower index": a is below b when it would be dropped first.
inline bool below(float va, int32_t ia, float vb, int32_t ib) { return va < vb || (va == vb && ia > ib); }

// Min-heap (by `below`) of at most k entries, in caller memory.
struct SmallHeap {
  float* v;
  int32_t* i;
  int64_t size = 0;
  void sift_down(int64_t p) {
    for (;;) {
      int64_t c = 2 * p + 1;
      if (c >= size) return;
      if (c + 1 < size && below(v[c + 1], i[c + 1], v[c], i[c])) ++c;
      if (!below(v[c], i[c], v[p], i[p])) return;
      std::swap(v[c], v[p]);
      std::swap(i[c], i[p]);
      p = c;
    }
  }
  void sift_up(int64_t c) {
    while (c > 0) {
      const int64_t p = (c - 1) / 2;
      if (!below(v[c], i[c], v[p], i[p])) return;
      std::swap(v[c], v[p]);
      std::swap(i[c], i[p]);
      c = p;
    }
  }
  void offer(float value, int32_t index, int64_t k) {
    if (size < k) {
      v[size] = value;
      i[size] = index;
      sift_up(size++);
    } else if (below(v[0], i[0], value, index)) {
      v[0] = value;
      i[0] = index;
      sift_down(0);
    }
  }
};

// Turns per-row candidate lists (count[b] entries at cand + b * stride) into `out`, sorted by latent.
void compact_rows(SparseRows& out, const int32_t* cand, const int64_t* count, int64_t stride, const float* score,
                  const float* value, int64_t B, int64_t n) {
  out.clear(B, n);
  for (int64_t b = 0; b < B; ++b) out.row_start[size_t(b + 1)] = out.row_start[size_t(b)] + count[b];
  out.col.resize(size_t(out.row_start[size_t(B)]));
  out.val.resize(out.col.size());
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    int32_t* dst = out.col.data() + out.row_start[size_t(b)];
    std::memcpy(dst, cand + b * stride, size_t(count[b]) * sizeof(int32_t));
    std::sort(dst, dst + count[b]);
    const float* src = value ? value + b * n : score + b * n;
    float* vdst = out.val.data() + out.row_start[size_t(b)];
    for (int64_t e = 0; e < count[b]; ++e) vdst[e] = src[dst[e]];
  }
}

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

}  // namespace

void topk_rows(SparseRows& out, const float* score, const float* value, int64_t B, int64_t n, int64_t k) {
  k = std::min(k, n);
  std::vector<int32_t> cand(size_t(B * k));
  std::vector<int64_t> count(static_cast<size_t>(B));
#pragma omp parallel
  {
    std::vector<float> hv(static_cast<size_t>(k));
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      SmallHeap h{hv.data(), cand.data() + b * k};
      const float* row = score + b * n;
      for (int64_t i = 0; i < n; ++i) h.offer(row[i], int32_t(i), k);
      // ReLU after the selection: only positive scores stay.
      int64_t kept = 0;
      for (int64_t e = 0; e < h.size; ++e)
        if (h.v[e] > 0) h.i[kept++] = h.i[e];
      count[size_t(b)] = kept;
    }
  }
  compact_rows(out, cand.data(), count.data(), k, score, value, B, n);
}

void topk_rows_allowed(SparseRows& out, const float* score, const float* value, const uint8_t* allowed, int64_t B,
                       int64_t n, int64_t k) {
  std::vector<int32_t> cand(size_t(B * k));
  std::vector<int64_t> count(static_cast<size_t>(B));
#pragma omp parallel
  {
    std::vector<float> hv(static_cast<size_t>(k));
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      SmallHeap h{hv.data(), cand.data() + b * k};
      const float* row = score + b * n;
      for (int64_t i = 0; i < n; ++i)
        if (allowed[i]) h.offer(row[i], int32_t(i), k);
      count[size_t(b)] = h.size;
    }
  }
  compact_rows(out, cand.data(), count.data(), k, score, value, B, n);
}

float batch_topk(SparseRows& out, const float* score, const float* value, int64_t B, int64_t n, int64_t K) {
  const int64_t N = B * n;
  // Positive floats order as their bit patterns: select by a two-level radix histogram.
  constexpr int kBins = 1 << 16;
  const int T = omp_get_max_threads();
  std::vector<int64_t> hist(size_t(T) * kBins, 0);
#pragma omp parallel
  {
    int64_t* h = hist.data() + size_t(omp_get_thread_num()) * kBins;
#pragma omp for schedule(static)
    for (int64_t e = 0; e < N; ++e)
      if (score[e] > 0) ++h[float_bits(score[e]) >> 16];
  }
  std::vector<int64_t> high(kBins, 0);
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < kBins; ++b) high[size_t(b)] += hist[size_t(t) * kBins + b];
  int64_t positives = 0;
  for (int64_t c : high) positives += c;

  uint32_t cut = 1;  // select bits > cut, plus `take_equal` entries with bits == cut
  int64_t take_equal = 0;
  if (positives > K && K > 0) {
    int64_t above = 0;
    int hb = kBins - 1;
    for (; hb >= 0; --hb) {
      if (above + high[size_t(hb)] >= K) break;
      above += high[size_t(hb)];
    }
    std::fill(hist.begin(), hist.end(), 0);
#pragma omp parallel
    {
      int64_t* h = hist.data() + size_t(omp_get_thread_num()) * kBins;
#pragma omp for schedule(static)
      for (int64_t e = 0; e < N; ++e)
        if (score[e] > 0 && (float_bits(score[e]) >> 16) == uint32_t(hb)) ++h[float_bits(score[e]) & 0xffff];
    }
    std::vector<int64_t> low(kBins, 0);
    for (int t = 0; t < T; ++t)
      for (int b = 0; b < kBins; ++b) low[size_t(b)] += hist[size_t(t) * kBins + b];
    int lb = kBins - 1;
    for (; lb >= 0; --lb) {
      if (above + low[size_t(lb)] >= K) break;
      above += low[size_t(lb)];
    }
    cut = (uint32_t(hb) << 16) | uint32_t(lb);
    take_equal = K - above;
  } else if (K <= 0) {
    cut = 0x7f800000u;  // +inf: nothing selected
  } else {
    cut = 0;  // every positive entry (bits > 0 means > +0)
  }

  // Per row: how many are above the cut and how many equal it; equal ones go in flat order.
  std::vector<int64_t> n_above(static_cast<size_t>(B)), n_equal(static_cast<size_t>(B));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    int64_t a = 0, q = 0;
    const float* row = score + b * n;
    for (int64_t i = 0; i < n; ++i) {
      if (!(row[i] > 0)) continue;
      const uint32_t u = float_bits(row[i]);
      a += u > cut;
      q += u == cut;
    }
    n_above[size_t(b)] = a;
    n_equal[size_t(b)] = q;
  }
  std::vector<int64_t> equal_quota(static_cast<size_t>(B));
  int64_t left = take_equal;
  for (int64_t b = 0; b < B; ++b) {
    equal_quota[size_t(b)] = std::min(left, n_equal[size_t(b)]);
    left -= equal_quota[size_t(b)];
  }
  out.clear(B, n);
  for (int64_t b = 0; b < B; ++b)
    out.row_start[size_t(b + 1)] = out.row_start[size_t(b)] + n_above[size_t(b)] + equal_quota[size_t(b)];
  out.col.resize(size_t(out.row_start[size_t(B)]));
  out.val.resize(out.col.size());
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    int64_t w = out.row_start[size_t(b)], eq = equal_quota[size_t(b)];
    const float* row = score + b * n;
    const float* vrow = value ? value + b * n : row;
    for (int64_t i = 0; i < n; ++i) {
      if (!(row[i] > 0)) continue;
      const uint32_t u = float_bits(row[i]);
      if (u > cut || (u == cut && eq > 0)) {
        if (u == cut) --eq;
        out.col[size_t(w)] = int32_t(i);
        out.val[size_t(w)] = vrow[i];
        ++w;
      }
    }
  }
  float smallest = 0;
  if (out.nnz() > 0) {
    if (positives > K) {
      std::memcpy(&smallest, &cut, sizeof smallest);
    } else {
      smallest = score[0];
      bool first = true;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t e = out.row_start[size_t(b)]; e < out.row_start[size_t(b + 1)]; ++e) {
          const float s = score[b * n + out.col[size_t(e)]];
          if (first || s < smallest) smallest = s;
          first = false;
        }
    }
  }
  return smallest;
}

void dense_to_rows(SparseRows& out, const float* dense, int64_t B, int64_t n, float threshold_strict_above,
                   const float* per_latent_threshold) {
  std::vector<int64_t> count(static_cast<size_t>(B));
  auto keep = [&](int64_t i, float v) {
    return per_latent_threshold ? v > per_latent_threshold[i] : v > threshold_strict_above;
  };
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i) c += keep(i, dense[b * n + i]);
    count[size_t(b)] = c;
  }
  out.clear(B, n);
  for (int64_t b = 0; b < B; ++b) out.row_start[size_t(b + 1)] = out.row_start[size_t(b)] + count[size_t(b)];
  out.col.resize(size_t(out.row_start[size_t(B)]));
  out.val.resize(out.col.size());
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    int64_t w = out.row_start[size_t(b)];
    for (int64_t i = 0; i < n; ++i) {
      const float v = dense[b * n + i];
      if (keep(i, v)) {
        out.col[size_t(w)] = int32_t(i);
        out.val[size_t(w)] = v;
        ++w;
      }
    }
  }
}

void sparse_decode(float* out, const SparseRows& a, const float* W, const float* bias, int64_t d) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < a.rows; ++b) {
    float* o = out + b * d;
    if (bias)
      std::memcpy(o, bias, size_t(d) * sizeof(float));
    else
      std::memset(o, 0, size_t(d) * sizeof(float));
    for (int64_t e = a.row_start[size_t(b)]; e < a.row_start[size_t(b + 1)]; ++e) {
      const float v = a.val[size_t(e)];
      const float* w = W + int64_t(a.col[size_t(e)]) * d;
#pragma omp simd
      for (int64_t j = 0; j < d; ++j) o[j] += v * w[j];
    }
  }
}

void sparse_entry_dots(std::vector<float>& grad_val, const SparseRows& a, const float* dout, const float* W,
                       int64_t d) {
  grad_val.resize(size_t(a.nnz()));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < a.rows; ++b) {
    const float* g = dout + b * d;
    for (int64_t e = a.row_start[size_t(b)]; e < a.row_start[size_t(b + 1)]; ++e) {
      const float* w = W + int64_t(a.col[size_t(e)]) * d;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < d; ++j) s += g[j] * w[j];
      grad_val[size_t(e)] = s;
    }
  }
}

void sparse_accumulate_by_latent(float* dW, float* G, float* dbias, const SparseRows& a, const std::vector<float>& g,
                                 const float* dout, const float* inp, int64_t d) {
  const int64_t n = a.cols, nnz = a.nnz();
  // Transpose the entries to latent-major order, keeping row order within a latent.
  std::vector<int64_t> start(size_t(n + 1), 0);
  for (int64_t e = 0; e < nnz; ++e) ++start[size_t(a.col[size_t(e)]) + 1];
  for (int64_t i = 0; i < n; ++i) start[size_t(i + 1)] += start[size_t(i)];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  std::vector<int32_t> row_of(static_cast<size_t>(nnz));
  std::vector<int64_t> entry_of(static_cast<size_t>(nnz));
  for (int64_t b = 0; b < a.rows; ++b)
    for (int64_t e = a.row_start[size_t(b)]; e < a.row_start[size_t(b + 1)]; ++e) {
      const int64_t slot = fill[size_t(a.col[size_t(e)])]++;
      row_of[size_t(slot)] = int32_t(b);
      entry_of[size_t(slot)] = e;
    }
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    if (start[size_t(i)] == start[size_t(i + 1)]) continue;
    float* dw = dW ? dW + i * d : nullptr;
    float* gi = G ? G + i * d : nullptr;
    float bsum = 0;
    for (int64_t s = start[size_t(i)]; s < start[size_t(i + 1)]; ++s) {
      const int64_t b = row_of[size_t(s)], e = entry_of[size_t(s)];
      if (dw) {
        const float v = a.val[size_t(e)];
        const float* o = dout + b * d;
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) dw[j] += v * o[j];
      }
      const float ge = g.empty() ? 0.0f : g[size_t(e)];
      if (gi) {
        const float* x = inp + b * d;
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) gi[j] += ge * x[j];
      }
      bsum += ge;
    }
    if (dbias) dbias[i] += bsum;
  }
}

}  // namespace headlab
