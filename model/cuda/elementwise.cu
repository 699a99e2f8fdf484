// Element-wise arithmetic on float arrays: grid-stride loops, memory-bound.
#include <cstdint>

#include "model/cuda/cuda_check.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

// out[n] = a[n] + b[n]; out may alias a or b (each element is read before it is written).
__global__ void add_kernel(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = a[i] + b[i];
}

// a[n] *= s
__global__ void scale_kernel(float* a, float s, int64_t n) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    a[i] *= s;
}

// y[n] += alpha x[n]
__global__ void axpy_kernel(float* y, float alpha, const float* x, int64_t n) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    y[i] = fmaf(alpha, x[i], y[i]);
}

constexpr int kThreads = 256;

}  // namespace

void add(CudaContext& ctx, float* out, const float* a, const float* b, int64_t n) {
  if (n <= 0) return;
  add_kernel<<<grid_for(n, kThreads), kThreads, 0, ctx.stream()>>>(out, a, b, n);
  HEADLAB_CUDA_CHECK_LAUNCH("add_kernel");
}

void add_inplace(CudaContext& ctx, float* a, const float* b, int64_t n) { add(ctx, a, a, b, n); }

void scale_inplace(CudaContext& ctx, float* a, float s, int64_t n) {
  if (n <= 0) return;
  scale_kernel<<<grid_for(n, kThreads), kThreads, 0, ctx.stream()>>>(a, s, n);
  HEADLAB_CUDA_CHECK_LAUNCH("scale_kernel");
}

void axpy(CudaContext& ctx, float* y, float alpha, const float* x, int64_t n) {
  if (n <= 0) return;
  axpy_kernel<<<grid_for(n, kThreads), kThreads, 0, ctx.stream()>>>(y, alpha, x, n);
  HEADLAB_CUDA_CHECK_LAUNCH("axpy_kernel");
}

}  // namespace headlab::cuda
