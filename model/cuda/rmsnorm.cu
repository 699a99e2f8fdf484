// RMSNorm over the last dimension: out = x rstd weight, rstd = 1/sqrt(mean(x²) + eps).
// One warp per row.
#include <cstdint>

#include "model/cuda/column_reduce.cuh"
#include "model/cuda/cuda_check.cuh"
#include "model/cuda/device_math.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

constexpr int kRowsPerBlock = 8;

// out[N,C], rstd[N] from inp[N,C], weight[C]
__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                                       int64_t C, float eps) {
  const int64_t row = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.y;
  if (row >= N) return;
  const int lane = threadIdx.x;
  const float* x = inp + row * C;
  float sq = 0.0f;
  for (int64_t c = lane; c < C; c += 32) sq += x[c] * x[c];
  const float r = 1.0f / sqrtf(warp_sum(sq) / static_cast<float>(C) + eps);
  float* y = out + row * C;
  for (int64_t c = lane; c < C; c += 32) y[c] = x[c] * r * weight[c];
  if (lane == 0) rstd[row] = r;
}

// dinp[N,C] = rstd (g - xhat mean(g xhat)), g = dout * weight, xhat = x rstd. dinp may alias dout.
__global__ void rmsnorm_backward_input_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                              const float* rstd, int64_t N, int64_t C) {
  const int64_t row = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.y;
  if (row >= N) return;
  const int lane = threadIdx.x;
  const float* g = dout + row * C;
  const float* x = inp + row * C;
  const float r = rstd[row];
  float sum_gx = 0.0f;
  for (int64_t c = lane; c < C; c += 32) sum_gx += g[c] * weight[c] * (x[c] * r);
  const float mean_gx = warp_sum(sum_gx) / static_cast<float>(C);
  float* dx = dinp + row * C;
  for (int64_t c = lane; c < C; c += 32) dx[c] = (g[c] * weight[c] - x[c] * r * mean_gx) * r;
}

// dweight term per (r, c): dout xhat
struct RmsNormWeightGrad {
  const float* dout;  // [N,C]
  const float* inp;   // [N,C]
  const float* rstd;  // [N]
  int64_t C;
  __device__ void operator()(int64_t r, int64_t c, float (&v)[1]) const {
    v[0] = dout[r * C + c] * (inp[r * C + c] * rstd[r]);
  }
};

unsigned row_blocks(int64_t N) { return static_cast<unsigned>((N + kRowsPerBlock - 1) / kRowsPerBlock); }

}  // namespace

void rmsnorm_forward(CudaContext& ctx, float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                     int64_t C, float eps) {
  if (N <= 0 || C <= 0) return;
  rmsnorm_forward_kernel<<<row_blocks(N), dim3(32, kRowsPerBlock), 0, ctx.stream()>>>(out, rstd, inp, weight, N, C,
                                                                                      eps);
  HEADLAB_CUDA_CHECK_LAUNCH("rmsnorm_forward_kernel");
}

void rmsnorm_backward(CudaContext& ctx, float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t N, int64_t C) {
  if (N <= 0 || C <= 0) return;
  column_sums_add<1>(ctx, ColumnOutputs<1>{{dweight}}, RmsNormWeightGrad{dout, inp, rstd, C}, N, C);
  rmsnorm_backward_input_kernel<<<row_blocks(N), dim3(32, kRowsPerBlock), 0, ctx.stream()>>>(dinp, dout, inp, weight,
                                                                                             rstd, N, C);
  HEADLAB_CUDA_CHECK_LAUNCH("rmsnorm_backward_input_kernel");
}

}  // namespace headlab::cuda
