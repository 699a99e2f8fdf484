#include "model/cpu/rotary.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"

namespace headlab::cpu {

namespace {

// cos and sin [T, dh/2] of angle t / base^(i/(dh/2)), computed in float the way TransformerLens
// does (float32 frequencies and angles), so rotations agree with it bit for bit where possible.
struct RotaryTable {
  std::vector<float> cos, sin;
};

RotaryTable make_table(int64_t T, int64_t dh, float base) {
  if (dh % 2 != 0)
    throw InputError("d_head", "rotary embeddings need an even head dimension, got " + std::to_string(dh));
  const int64_t half = dh / 2;
  RotaryTable table{std::vector<float>(T * half), std::vector<float>(T * half)};
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float freq = std::pow(base, static_cast<float>(i) / static_cast<float>(half));
      const float angle = static_cast<float>(t) / freq;
      table.cos[t * half + i] = std::cos(angle);
      table.sin[t * half + i] = std::sin(angle);
    }
  }
  return table;
}

// Rotates every head of every row by +angle (sign = 1) or -angle (sign = -1).
void rotate(float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride, float base, float sign) {
  const RotaryTable table = make_table(T, dh, base);
  const int64_t half = dh / 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const float* c = table.cos.data() + t * half;
      const float* s = table.sin.data() + t * half;
      for (int64_t h = 0; h < n_heads; ++h) {
        float* lo = x + (b * T + t) * row_stride + h * dh;
        float* hi = lo + half;
#pragma omp simd
        for (int64_t i = 0; i < half; ++i) {
          const float a = lo[i], z = hi[i], si = sign * s[i];
          lo[i] = a * c[i] - z * si;
          hi[i] = z * c[i] + a * si;
        }
      }
    }
  }
}

}  // namespace

void rotary_forward(float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride, float base) {
  rotate(x, B, T, n_heads, dh, row_stride, base, 1.0f);
}

void rotary_backward(float* dx, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride, float base) {
  rotate(dx, B, T, n_heads, dh, row_stride, base, -1.0f);
}

}  // namespace headlab::cpu
