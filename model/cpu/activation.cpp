#include "model/cpu/activation.h"

#include <cmath>

#include "core/errors.h"
#include "model/cpu/vector_math.h"

namespace headlab::cpu {

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;  // sqrt(2/pi), gelu_new's constant
constexpr float kGeluCubic = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1/sqrt(2 pi), the normal density at 0

// One parallel, vectorised pass per function; the switch stays outside the loops.
template <typename F>
void map1(float* out, const float* inp, int64_t n, F f) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = f(inp[i]);
}

template <typename F>
void map2(float* out, const float* a, const float* b, int64_t n, F f) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
}

}  // namespace

void activation_forward(float* out, const float* inp, int64_t n, ActFn fn) {
  switch (fn) {
    case ActFn::gelu_new:
      return map1(out, inp, n,
                  [](float x) { return 0.5f * x * (1.0f + tanh_simd(kSqrt2OverPi * (x + kGeluCubic * x * x * x))); });
    case ActFn::gelu:
      return map1(out, inp, n, [](float x) { return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2)); });
    case ActFn::relu:
      return map1(out, inp, n, [](float x) { return x < 0.0f ? 0.0f : x; });  // NaN stays NaN
    case ActFn::silu:
      return map1(out, inp, n, [](float x) { return x * sigmoid_simd(x); });
  }
  throw InternalError("activation_forward: unknown activation");
}

void activation_backward(float* dinp, const float* dout, const float* inp, int64_t n, ActFn fn) {
  switch (fn) {
    case ActFn::gelu_new:
      return map2(dinp, dout, inp, n, [](float g, float x) {
        const float t = tanh_simd(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
        const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
        return g * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
      });
    case ActFn::gelu:
      return map2(dinp, dout, inp, n, [](float g, float x) {
        const float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
        return g * (cdf + x * kInvSqrt2Pi * std::exp(-0.5f * x * x));
      });
    case ActFn::relu:
      return map2(dinp, dout, inp, n, [](float g, float x) { return x > 0.0f ? g : 0.0f; });
    case ActFn::silu:
      return map2(dinp, dout, inp, n, [](float g, float x) {
        const float s = sigmoid_simd(x);
        return g * s * (1.0f + x * (1.0f - s));
      });
  }
  throw InternalError("activation_backward: unknown activation");
}

}  // namespace headlab::cpu
