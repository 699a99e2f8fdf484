// exp and friends from plain arithmetic, so that loops calling them vectorise under
// `#pragma omp simd`: glibc's expf/tanhf only have vector variants under -ffast-math, and the
// softmaxes and GELUs run over every logit and every MLP activation. They are inline so that
// they are inlined before the vectoriser runs.
#pragma once
#include <cstdint>
#include <cstring>

namespace headlab::cpu {

// exp(x) within about 2 ulp of the correctly rounded value for x in [-87.3, 88.3]; 0 below,
// exp(88.3) above; NaN stays NaN. Range reduction x = n ln2 + r, |r| <= ln2/2, then the degree-7
// Taylor polynomial, whose truncation error (r^8/8! < 6e-9) is below float's rounding.
inline float exp_simd(float x) {
  const float lo = -87.33654f, hi = 88.3f;
  const bool underflow = x < lo;
  // NaN compares false with both bounds: replace it before the float-to-int conversion below,
  // which is undefined for NaN, and give it back at the end. +-inf clamp like any large value.
  const bool nan = x != x;
  float xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  xc = nan ? 0.0f : xc;
  // Round to nearest by the 1.5*2^23 trick: arithmetic only, and exact for |n| < 2^22.
  const float magic = 12582912.0f;
  const float n = (xc * 1.44269504089f + magic) - magic;
  // ln2 split in two so that n*ln2_hi is exact (ln2_hi has few significant bits).
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;  // 2^n, n in [-126, 127]
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return nan ? x : underflow ? 0.0f : p * scale;
}

// tanh(y) = sign(y) (1 - 2 / (exp(2|y|) + 1)); absolute error about 1e-7 (relative error grows
// for |y| < 1e-3, which GELU does not notice: it uses 1 + tanh).
inline float tanh_simd(float y) {
  const float a = y < 0.0f ? -y : y;
  const float t = 1.0f - 2.0f / (exp_simd(2.0f * a) + 1.0f);
  return y < 0.0f ? -t : t;
}

// 1 / (1 + exp(-x))
inline float sigmoid_simd(float x) { return 1.0f / (1.0f + exp_simd(-x)); }

// ---- explicit vectors -------------------------------------------------------------------------
// For the loops the vectoriser leaves scalar (max reductions) or finishes with long scalar tails
// (short attention rows), and for the register tiles. GCC vector extensions: one zmm register
// with -march=native on an AVX-512 machine, split by the compiler elsewhere.
//
// Without AVX-512 (HEADLAB_NATIVE=OFF on another machine) GCC warns that passing a 64-byte vector
// by value has another ABI there; every such function is inline and internal to the CPU kernels,
// so no ABI is crossed, and the warning is silenced for the files that include this one.
#pragma GCC diagnostic ignored "-Wpsabi"
constexpr int64_t kLanes = 16;  // floats per Vec
typedef float Vec __attribute__((vector_size(64)));
typedef int32_t IVec __attribute__((vector_size(64)));

inline Vec load_vec(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_vec(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
inline Vec splat(float x) { return Vec{} + x; }

// exp_simd on 16 lanes: the same operations in the same order.
inline Vec exp_vec(Vec x) {
  const Vec lo = splat(-87.33654f), hi = splat(88.3f);
  const IVec underflow = x < lo;
  const IVec nan = x != x;  // as in exp_simd: no NaN reaches the conversion to int
  Vec xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  xc = nan ? Vec{} : xc;
  const Vec magic = splat(12582912.0f);
  const Vec n = (xc * 1.44269504089f + magic) - magic;
  const Vec r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  Vec p = splat(1.0f / 5040.0f);
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  typedef uint32_t UVec __attribute__((vector_size(64)));
  const UVec bits = __builtin_convertvector(__builtin_convertvector(n, IVec) + 127, UVec) << 23;
  Vec scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return nan ? x : underflow ? Vec{} : p * scale;
}

// Two-source shuffle: indices 0-15 pick from a, 16-31 from b. GCC's builtin; clang (the fuzzing
// build) has none with run-time indices, so it gets the plain loop.
inline Vec shuffle2(Vec a, Vec b, IVec idx) {
#if defined(__clang__)
  Vec r;
  for (int j = 0; j < kLanes; ++j) r[j] = idx[j] < kLanes ? a[idx[j]] : b[idx[j] - kLanes];
  return r;
#else
  return __builtin_shuffle(a, b, idx);
#endif
}

// One stage of transpose16: rows i and i + S (i with bit S clear) exchange their elements whose
// column has bit S set with the other row's elements whose column has it clear.
template <int S>
inline void transpose_stage(Vec (&rows)[kLanes], IVec lo, IVec hi) {
  for (int i = 0; i < kLanes; ++i) {
    if ((i / S) % 2 != 0) continue;
    const Vec a = rows[i], b = rows[i + S];
    rows[i] = shuffle2(a, b, lo);
    rows[i + S] = shuffle2(a, b, hi);
  }
}

// rows[i][j] <- rows[j][i] for a 16 x 16 block held in 16 Vecs: four stages, each swapping one
// bit of the row index with the same bit of the column index. Shuffle indices 0-15 pick from
// the first row of a pair, 16-31 from the second.
inline void transpose16(Vec (&rows)[kLanes]) {
  transpose_stage<1>(rows, IVec{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
                     IVec{1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31});
  transpose_stage<2>(rows, IVec{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
                     IVec{2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31});
  transpose_stage<4>(rows, IVec{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
                     IVec{4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31});
  transpose_stage<8>(rows, IVec{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
                     IVec{8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31});
}

inline float horizontal_max(Vec v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
inline float horizontal_sum(Vec v) {
  float s = 0.0f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// max of x[0..n), n >= 1; NaN entries are skipped unless x[0] is one. Four accumulators, so
// that the compare-and-select chain does not wait on itself.
inline float max_of(const float* x, int64_t n) {
  float m = x[0];
  int64_t i = 0;
  if (n >= 4 * kLanes) {
    Vec a = load_vec(x), b = a, c = a, d = a;
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
      const Vec va = load_vec(x + i), vb = load_vec(x + i + kLanes), vc = load_vec(x + i + 2 * kLanes),
                vd = load_vec(x + i + 3 * kLanes);
      a = va > a ? va : a;
      b = vb > b ? vb : b;
      c = vc > c ? vc : c;
      d = vd > d ? vd : d;
    }
    a = b > a ? b : a;
    c = d > c ? d : c;
    m = horizontal_max(c > a ? c : a);
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

}  // namespace headlab::cpu
