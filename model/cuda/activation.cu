// MLP activations and their derivatives, element-wise: gelu_new (tanh approximation, GPT-2's),
// gelu (exact, erf), relu, silu. One kernel per function: the switch stays on the host.
#include <cstdint>

#include "model/cuda/cuda_check.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;  // sqrt(2/pi), gelu_new's constant
constexpr float kGeluCubic = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1/sqrt(2 pi), the normal density at 0
constexpr int kThreads = 256;

struct GeluNew {
  __device__ static float forward(float x) {
    return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kGeluCubic * x * x * x)));
  }
  __device__ static float backward(float g, float x) {
    const float t = tanhf(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
    return g * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
  }
};

struct GeluErf {
  __device__ static float forward(float x) { return 0.5f * x * (1.0f + erff(x * kInvSqrt2)); }
  __device__ static float backward(float g, float x) {
    const float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));
    return g * (cdf + x * kInvSqrt2Pi * expf(-0.5f * x * x));
  }
};

struct Relu {
  __device__ static float forward(float x) { return x < 0.0f ? 0.0f : x; }  // NaN stays NaN
  __device__ static float backward(float g, float x) { return x > 0.0f ? g : 0.0f; }
};

struct Silu {
  __device__ static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
  __device__ static float forward(float x) { return x * sigmoid(x); }
  __device__ static float backward(float g, float x) {
    const float s = sigmoid(x);
    return g * s * (1.0f + x * (1.0f - s));
  }
};

// out[n] = F(inp[n]); out may alias inp.
template <typename F>
__global__ void activation_forward_kernel(float* out, const float* inp, int64_t n) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = F::forward(inp[i]);
}

// dinp[n] = dout[n] F'(inp[n]); dinp may alias dout.
template <typename F>
__global__ void activation_backward_kernel(float* dinp, const float* dout, const float* inp, int64_t n) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dinp[i] = F::backward(dout[i], inp[i]);
}

template <typename F>
void forward_with(CudaContext& ctx, float* out, const float* inp, int64_t n) {
  activation_forward_kernel<F><<<grid_for(n, kThreads), kThreads, 0, ctx.stream()>>>(out, inp, n);
  HEADLAB_CUDA_CHECK_LAUNCH("activation_forward_kernel");
}

template <typename F>
void backward_with(CudaContext& ctx, float* dinp, const float* dout, const float* inp, int64_t n) {
  activation_backward_kernel<F><<<grid_for(n, kThreads), kThreads, 0, ctx.stream()>>>(dinp, dout, inp, n);
  HEADLAB_CUDA_CHECK_LAUNCH("activation_backward_kernel");
}

}  // namespace

void activation_forward(CudaContext& ctx, float* out, const float* inp, int64_t n, ActFn fn) {
  if (n <= 0) return;
  switch (fn) {
    case ActFn::gelu_new:
      return forward_with<GeluNew>(ctx, out, inp, n);
    case ActFn::gelu:
      return forward_with<GeluErf>(ctx, out, inp, n);
    case ActFn::relu:
      return forward_with<Relu>(ctx, out, inp, n);
    case ActFn::silu:
      return forward_with<Silu>(ctx, out, inp, n);
  }
  throw InternalError("activation_forward: unknown activation");
}

void activation_backward(CudaContext& ctx, float* dinp, const float* dout, const float* inp, int64_t n, ActFn fn) {
  if (n <= 0) return;
  switch (fn) {
    case ActFn::gelu_new:
      return backward_with<GeluNew>(ctx, dinp, dout, inp, n);
    case ActFn::gelu:
      return backward_with<GeluErf>(ctx, dinp, dout, inp, n);
    case ActFn::relu:
      return backward_with<Relu>(ctx, dinp, dout, inp, n);
    case ActFn::silu:
      return backward_with<Silu>(ctx, dinp, dout, inp, n);
  }
  throw InternalError("activation_backward: unknown activation");
}

}  // namespace headlab::cuda
