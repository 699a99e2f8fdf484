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
  float xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
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
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n, n in [-126, 127]
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return underflow ? 0.0f : p * scale;
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

}  // namespace headlab::cpu
