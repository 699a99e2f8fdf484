// Causal attention, split in the Backend interface's steps: the pattern [B,H,T,T] is formed in
// memory because hooks read (and patch) it. The per-head products run as cuBLAS strided-batched
// products over the heads of one batch row; the row kernels (causal softmax and its backward)
// are one warp per query row. The fused path that never forms the pattern is flash_attention.cu.
//
// qkv[B, T, 3, H, dh]: in each (b,t) row of 3*H*dh floats, q of head h at h*dh, k at (H+h)*dh,
// v at (2H+h)*dh. pattern, scores, dpattern: [B, H, T, T].
#include <cmath>
#include <cstdint>

#include "model/cuda/cuda_check.cuh"
#include "model/cuda/device_math.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // warps per block, one (b,h,q) row each

// One head's q, k or v rows of batch row b as a strided operand (batch = heads).
StridedOperand head_rows(const float* qkv, int64_t b, int part, int64_t T, int64_t H, int64_t dh) {
  return {qkv + b * T * 3 * H * dh + part * H * dh, 3 * H * dh, dh};
}
enum Part { kQ = 0, kK = 1, kV = 2 };

// pattern[row, k] = softmax over k <= q of src[row, k], 0 for k > q; with `scores` (== src), its
// cells k > q become -inf. Rows are (b,h,q), q = row % T. pattern may be src (in place): each lane
// reads its cells before writing them.
__global__ void causal_softmax_kernel(float* pattern, float* scores, const float* src, int64_t rows, int64_t T) {
  const int64_t row = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.y;
  if (row >= rows) return;
  const int lane = threadIdx.x;
  const int64_t q = row % T, n = q + 1;
  const float* s = src + row * T;
  float max = -INFINITY;
  for (int64_t k = lane; k < n; k += 32) max = fmaxf(max, s[k]);
  max = warp_max(max);
  float sum = 0.0f;
  for (int64_t k = lane; k < n; k += 32) sum += expf(s[k] - max);
  const float inv = 1.0f / warp_sum(sum);
  float* p = pattern + row * T;
  for (int64_t k = lane; k < n; k += 32) p[k] = expf(s[k] - max) * inv;
  for (int64_t k = n + lane; k < T; k += 32) p[k] = 0.0f;
  if (scores)
    for (int64_t k = n + lane; k < T; k += 32) scores[row * T + k] = -INFINITY;
}

// ds[row, k] = p (ds - Σ_k p ds) * scale for k <= q, 0 beyond: the softmax's backward, in place.
__global__ void causal_softmax_backward_kernel(float* ds, const float* pattern, int64_t rows, int64_t T, float scale) {
  const int64_t row = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.y;
  if (row >= rows) return;
  const int lane = threadIdx.x;
  const int64_t q = row % T, n = q + 1;
  const float* p = pattern + row * T;
  float* g = ds + row * T;
  float dot = 0.0f;
  for (int64_t k = lane; k < n; k += 32) dot += p[k] * g[k];
  dot = warp_sum(dot);
  for (int64_t k = lane; k < n; k += 32) g[k] = p[k] * (g[k] - dot) * scale;
  for (int64_t k = n + lane; k < T; k += 32) g[k] = 0.0f;
}

// x[row, k] = 0 for k > q (the gradient of a cell that the mask fixed at 0).
__global__ void zero_above_diagonal_kernel(float* x, int64_t rows, int64_t T) {
  const int64_t row = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.y;
  if (row >= rows) return;
  const int64_t q = row % T;
  for (int64_t k = q + 1 + threadIdx.x; k < T; k += 32) x[row * T + k] = 0.0f;
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock); }

}  // namespace

void attention_pattern_forward(CudaContext& ctx, float* pattern, float* scores, const float* qkv, int64_t B, int64_t T,
                               int64_t H, int64_t dh, float scale) {
  if (B <= 0 || T <= 0 || H <= 0) return;
  // The raw scaled scores go where they are kept (scores), else straight into pattern.
  float* raw = scores ? scores : pattern;
  for (int64_t b = 0; b < B; ++b)
    matmul_strided_batched(ctx, raw + b * H * T * T, T, T * T, head_rows(qkv, b, kQ, T, H, dh),
                           head_rows(qkv, b, kK, T, H, dh), T, T, dh, Transpose::no, Transpose::yes, scale, 0.0f, H);
  const int64_t rows = B * H * T;
  causal_softmax_kernel<<<row_blocks(rows), dim3(32, kRowsPerBlock), 0, ctx.stream()>>>(pattern, scores, raw, rows, T);
  HEADLAB_CUDA_CHECK_LAUNCH("causal_softmax_kernel");
}

void attention_values_forward(CudaContext& ctx, float* z, const float* pattern, const float* qkv, int64_t B, int64_t T,
                              int64_t H, int64_t dh) {
  if (B <= 0 || T <= 0 || H <= 0) return;
  // z[b, :, h, :] = pattern[b, h] · v[b, :, h, :]
  for (int64_t b = 0; b < B; ++b)
    matmul_strided_batched(ctx, z + b * T * H * dh, H * dh, dh, StridedOperand{pattern + b * H * T * T, T, T * T},
                           head_rows(qkv, b, kV, T, H, dh), T, dh, T, Transpose::no, Transpose::no, 1.0f, 0.0f, H);
}

void attention_values_backward(CudaContext& ctx, float* dpattern, float* dqkv, const float* dz, const float* pattern,
                               const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh) {
  if (B <= 0 || T <= 0 || H <= 0) return;
  for (int64_t b = 0; b < B; ++b) {
    const StridedOperand dz_heads{dz + b * T * H * dh, H * dh, dh};
    const StridedOperand p_heads{pattern + b * H * T * T, T, T * T};
    // dpattern[b, h] = dz[b, :, h, :] · v[b, :, h, :]ᵀ
    matmul_strided_batched(ctx, dpattern + b * H * T * T, T, T * T, dz_heads, head_rows(qkv, b, kV, T, H, dh), T, T, dh,
                           Transpose::no, Transpose::yes, 1.0f, 0.0f, H);
    // dv[b, :, h, :] = pattern[b, h]ᵀ · dz[b, :, h, :]
    matmul_strided_batched(ctx, dqkv + b * T * 3 * H * dh + 2 * H * dh, 3 * H * dh, dh, p_heads, dz_heads, T, dh, T,
                           Transpose::yes, Transpose::no, 1.0f, 0.0f, H);
  }
  const int64_t rows = B * H * T;
  zero_above_diagonal_kernel<<<row_blocks(rows), dim3(32, kRowsPerBlock), 0, ctx.stream()>>>(dpattern, rows, T);
  HEADLAB_CUDA_CHECK_LAUNCH("zero_above_diagonal_kernel");
}

void attention_pattern_backward(CudaContext& ctx, float* dqkv, float* dpattern, const float* pattern, const float* qkv,
                                int64_t B, int64_t T, int64_t H, int64_t dh, float scale) {
  if (B <= 0 || T <= 0 || H <= 0) return;
  const int64_t rows = B * H * T;
  causal_softmax_backward_kernel<<<row_blocks(rows), dim3(32, kRowsPerBlock), 0, ctx.stream()>>>(dpattern, pattern,
                                                                                                 rows, T, scale);
  HEADLAB_CUDA_CHECK_LAUNCH("causal_softmax_backward_kernel");
  for (int64_t b = 0; b < B; ++b) {
    const StridedOperand ds_heads{dpattern + b * H * T * T, T, T * T};
    float* dqkv_b = dqkv + b * T * 3 * H * dh;
    // dq = dscores · k,  dk = dscoresᵀ · q   (the scale is already inside dscores)
    matmul_strided_batched(ctx, dqkv_b, 3 * H * dh, dh, ds_heads, head_rows(qkv, b, kK, T, H, dh), T, dh, T,
                           Transpose::no, Transpose::no, 1.0f, 0.0f, H);
    matmul_strided_batched(ctx, dqkv_b + H * dh, 3 * H * dh, dh, ds_heads, head_rows(qkv, b, kQ, T, H, dh), T, dh, T,
                           Transpose::yes, Transpose::no, 1.0f, 0.0f, H);
  }
}

}  // namespace headlab::cuda
