// The optimizer's kernels: the squared norm for gradient clipping, AdamW (PyTorch's, with bias
// corrections) and SGD, each one pass over the parameters.
#include <cmath>
#include <cstdint>
#include <string>

#include "model/cuda/cuda_check.cuh"
#include "model/cuda/device_math.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

constexpr int kThreads = 256;
// A fixed number of partial sums whatever the device, so the norm's bits do not depend on it.
constexpr int kSumBlocks = 1024;

// partial[blockIdx.x] = Σ x² over this block's grid-stride share, in double.
__global__ void sum_squares_partial_kernel(double* partial, const float* x, int64_t n) {
  __shared__ double shared[32];
  double s = 0.0;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const double v = x[i];
    s += v * v;
  }
  s = block_sum(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// total[0] = Σ partial[kSumBlocks], one block.
__global__ void sum_partials_kernel(double* total, const double* partial) {
  __shared__ double shared[32];
  double s = 0.0;
  for (int i = threadIdx.x; i < kSumBlocks; i += blockDim.x) s += partial[i];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) total[0] = s;
}

// The element-wise update; the scalars are prepared on the host as in cpu/adamw.cpp (PyTorch's
// order of operations, so that the two backends agree to rounding).
struct AdamScalars {
  float decay;                  // 1 - lr wd
  float step_size;              // lr / (1 - beta1^step)
  float bias_correction2_sqrt;  // sqrt(1 - beta2^step)
  float w;                      // 1 - beta1, the lerp weight
  bool w_small;                 // lerp's form for w < 0.5
  float beta2, one_minus_beta2, eps, grad_scale;
};

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, int64_t n, AdamScalars a) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float g = grad[i] * a.grad_scale;
    const float p = param[i] * a.decay;
    const float mi = a.w_small ? m[i] + a.w * (g - m[i]) : g - (g - m[i]) * (1.0f - a.w);
    const float vi = v[i] * a.beta2 + a.one_minus_beta2 * g * g;
    const float denom = sqrtf(vi) / a.bias_correction2_sqrt + a.eps;
    m[i] = mi;
    v[i] = vi;
    param[i] = p + -a.step_size * mi / denom;
  }
}

// param -= lr (grad grad_scale + wd param)
__global__ void sgd_kernel(float* param, const float* grad, int64_t n, float lr, float weight_decay, float grad_scale) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float d = grad[i] * grad_scale + weight_decay * param[i];
    param[i] = param[i] + -lr * d;
  }
}

}  // namespace

double sum_squares(CudaContext& ctx, const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  auto* partial = static_cast<double*>(ctx.scratch(sizeof(double) * (kSumBlocks + 1)));  // [kSumBlocks], then the total
  sum_squares_partial_kernel<<<kSumBlocks, kThreads, 0, ctx.stream()>>>(partial, x, n);
  HEADLAB_CUDA_CHECK_LAUNCH("sum_squares_partial_kernel");
  sum_partials_kernel<<<1, kThreads, 0, ctx.stream()>>>(partial + kSumBlocks, partial);
  HEADLAB_CUDA_CHECK_LAUNCH("sum_partials_kernel");
  double total = 0.0;
  HEADLAB_CUDA_CHECK(cudaMemcpyAsync(&total, partial + kSumBlocks, sizeof total, cudaMemcpyDeviceToHost, ctx.stream()));
  HEADLAB_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
  return total;
}

void adamw_update(CudaContext& ctx, float* param, const float* grad, float* m, float* v, int64_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t step, float grad_scale) {
  if (step < 1) throw InternalError("adamw_update: step must be 1-based, got " + std::to_string(step));
  if (n <= 0) return;
  // Scalars in double as PyTorch's Python floats are, rounded to float where its kernels take them.
  const double lr_d = lr;
  const double bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  AdamScalars a{};
  a.decay = static_cast<float>(1.0 - lr_d * weight_decay);
  a.step_size = static_cast<float>(lr_d / bias_correction1);
  a.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  a.w = static_cast<float>(1.0 - beta1);
  a.w_small = a.w < 0.5f;
  a.beta2 = beta2;
  a.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  a.eps = eps;
  a.grad_scale = grad_scale;
  adamw_kernel<<<grid_for(n, kThreads), kThreads, 0, ctx.stream()>>>(param, grad, m, v, n, a);
  HEADLAB_CUDA_CHECK_LAUNCH("adamw_kernel");
}

void sgd_update(CudaContext& ctx, float* param, const float* grad, int64_t n, float lr, float weight_decay,
                float grad_scale) {
  if (n <= 0) return;
  sgd_kernel<<<grid_for(n, kThreads), kThreads, 0, ctx.stream()>>>(param, grad, n, lr, weight_decay, grad_scale);
  HEADLAB_CUDA_CHECK_LAUNCH("sgd_kernel");
}

}  // namespace headlab::cuda
