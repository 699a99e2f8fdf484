// LayerNorm over the last dimension (TransformerLens: biased variance, eps inside the sqrt).
// One warp per row; the statistics are two passes (mean, then centred squares) like the CPU twin.
#include <cstdint>

#include "model/cuda/column_reduce.cuh"
#include "model/cuda/cuda_check.cuh"
#include "model/cuda/device_math.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // warps per block, one row each

// out[N,C], mean[N], rstd[N] from inp[N,C], weight[C], bias[C]
__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int64_t N, int64_t C, float eps) {
  const int64_t row = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.y;
  if (row >= N) return;
  const int lane = threadIdx.x;
  const float* x = inp + row * C;
  float sum = 0.0f;
  for (int64_t c = lane; c < C; c += 32) sum += x[c];
  const float m = warp_sum(sum) / static_cast<float>(C);
  float sq = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float d = x[c] - m;
    sq += d * d;
  }
  const float r = 1.0f / sqrtf(warp_sum(sq) / static_cast<float>(C) + eps);
  float* y = out + row * C;
  for (int64_t c = lane; c < C; c += 32) y[c] = (x[c] - m) * r * weight[c] + bias[c];
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
}

// dinp[N,C] = rstd (g - mean(g) - xhat mean(g xhat)), g = dout * weight. dinp may alias dout:
// each lane reads its elements before writing them.
__global__ void layernorm_backward_input_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                                const float* mean, const float* rstd, int64_t N, int64_t C) {
  const int64_t row = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.y;
  if (row >= N) return;
  const int lane = threadIdx.x;
  const float* g = dout + row * C;
  const float* x = inp + row * C;
  const float m = mean[row], r = rstd[row];
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float gw = g[c] * weight[c];
    sum_g += gw;
    sum_gx += gw * ((x[c] - m) * r);
  }
  const float mean_g = warp_sum(sum_g) / static_cast<float>(C);
  const float mean_gx = warp_sum(sum_gx) / static_cast<float>(C);
  float* dx = dinp + row * C;
  for (int64_t c = lane; c < C; c += 32) dx[c] = (g[c] * weight[c] - mean_g - (x[c] - m) * r * mean_gx) * r;
}

// Per row r and column c: (dweight term, dbias term) = (dout xhat, dout).
struct LayerNormParamGrads {
  const float* dout;  // [N,C]
  const float* inp;   // [N,C]
  const float* mean;  // [N]
  const float* rstd;  // [N]
  int64_t C;
  __device__ void operator()(int64_t r, int64_t c, float (&v)[2]) const {
    const float g = dout[r * C + c];
    v[0] = g * ((inp[r * C + c] - mean[r]) * rstd[r]);
    v[1] = g;
  }
};

unsigned row_blocks(int64_t N) { return static_cast<unsigned>((N + kRowsPerBlock - 1) / kRowsPerBlock); }

}  // namespace

void layernorm_forward(CudaContext& ctx, float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps) {
  if (N <= 0 || C <= 0) return;
  layernorm_forward_kernel<<<row_blocks(N), dim3(32, kRowsPerBlock), 0, ctx.stream()>>>(out, mean, rstd, inp, weight,
                                                                                        bias, N, C, eps);
  HEADLAB_CUDA_CHECK_LAUNCH("layernorm_forward_kernel");
}

void layernorm_backward(CudaContext& ctx, float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd, int64_t N,
                        int64_t C) {
  if (N <= 0 || C <= 0) return;
  // Parameter gradients first, while dout is intact (dinp may alias it).
  column_sums_add<2>(ctx, ColumnOutputs<2>{{dweight, dbias}}, LayerNormParamGrads{dout, inp, mean, rstd, C}, N, C);
  layernorm_backward_input_kernel<<<row_blocks(N), dim3(32, kRowsPerBlock), 0, ctx.stream()>>>(dinp, dout, inp, weight,
                                                                                               mean, rstd, N, C);
  HEADLAB_CUDA_CHECK_LAUNCH("layernorm_backward_input_kernel");
}

}  // namespace headlab::cuda
