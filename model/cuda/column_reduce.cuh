// Parameter gradients are column sums over rows (dbias[c] = Σ_r dout[r, c], dweight[c] =
// Σ_r dout[r, c] xhat[r, c] ...). Float atomics would make their bits depend on scheduling, so
// they are summed in two passes over a fixed partition instead: the rows are cut into chunks that
// depend only on the shape (not on the device), each chunk's column sums go to a scratch buffer,
// then one thread per column adds the chunks in order. Same bits on every run and every GPU.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "model/cuda/cuda_check.cuh"
#include "model/cuda/cuda_context.cuh"

namespace headlab::cuda {

constexpr int kColumnTile = 32;  // columns per block: one warp reads 32 consecutive floats
constexpr int kRowLanes = 8;     // warps per block, each taking every 8th row of the chunk

template <int NOUT>
struct ColumnOutputs {
  float* out[NOUT];  // each [N], added into
};

// partials[chunk, k, N]: Σ over the chunk's rows of values(r, c)[k].
template <int NOUT, typename RowValues>
__global__ void column_partial_sums_kernel(float* partials, RowValues values, int64_t M, int64_t N,
                                           int64_t rows_per_chunk) {
  __shared__ float sums[NOUT][kRowLanes][kColumnTile + 1];
  const int64_t col = int64_t{blockIdx.x} * kColumnTile + threadIdx.x;
  const int64_t r0 = int64_t{blockIdx.y} * rows_per_chunk;
  const int64_t r1 = min(M, r0 + rows_per_chunk);
  float acc[NOUT];
#pragma unroll
  for (int k = 0; k < NOUT; ++k) acc[k] = 0.0f;
  if (col < N) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) {
      float v[NOUT];
      values(r, col, v);
#pragma unroll
      for (int k = 0; k < NOUT; ++k) acc[k] += v[k];
    }
  }
#pragma unroll
  for (int k = 0; k < NOUT; ++k) sums[k][threadIdx.y][threadIdx.x] = acc[k];
  __syncthreads();
  if (threadIdx.y == 0 && col < N) {
#pragma unroll
    for (int k = 0; k < NOUT; ++k) {
      float total = 0.0f;
      for (int y = 0; y < kRowLanes; ++y) total += sums[k][y][threadIdx.x];
      partials[(int64_t{blockIdx.y} * NOUT + k) * N + col] = total;
    }
  }
}

template <int NOUT>
__global__ void column_finish_kernel(ColumnOutputs<NOUT> outputs, const float* partials, int64_t chunks, int64_t N) {
  for (int64_t col = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; col < N; col += int64_t{gridDim.x} * blockDim.x) {
#pragma unroll
    for (int k = 0; k < NOUT; ++k) {
      float total = 0.0f;
      for (int64_t chunk = 0; chunk < chunks; ++chunk) total += partials[(chunk * NOUT + k) * N + col];
      outputs.out[k][col] += total;
    }
  }
}

// outputs.out[k][c] += Σ_{r<M} values(r, c)[k] for c < N. `values` is a device functor
// `void operator()(int64_t r, int64_t c, float (&v)[NOUT]) const`.
template <int NOUT, typename RowValues>
void column_sums_add(CudaContext& ctx, ColumnOutputs<NOUT> outputs, RowValues values, int64_t M, int64_t N) {
  if (M <= 0 || N <= 0) return;
  const int64_t column_blocks = (N + kColumnTile - 1) / kColumnTile;
  // About a thousand blocks in all, chunks of at least 64 rows, at most 1024 chunks.
  int64_t chunks = std::max<int64_t>(1, 1024 / column_blocks);
  chunks = std::min<int64_t>({chunks, (M + 63) / 64, 1024});
  chunks = std::max<int64_t>(chunks, 1);
  const int64_t rows_per_chunk = (M + chunks - 1) / chunks;
  chunks = (M + rows_per_chunk - 1) / rows_per_chunk;
  if (column_blocks > 2147483647 || chunks > 65535)
    throw InternalError("column_sums_add: shape " + std::to_string(M) + "x" + std::to_string(N) + " is too large");
  float* partials = static_cast<float*>(ctx.scratch(sizeof(float) * chunks * NOUT * N));
  const dim3 grid(static_cast<unsigned>(column_blocks), static_cast<unsigned>(chunks));
  const dim3 block(kColumnTile, kRowLanes);
  column_partial_sums_kernel<NOUT><<<grid, block, 0, ctx.stream()>>>(partials, values, M, N, rows_per_chunk);
  HEADLAB_CUDA_CHECK_LAUNCH("column_partial_sums_kernel");
  column_finish_kernel<NOUT><<<grid_for(N, 256), 256, 0, ctx.stream()>>>(outputs, partials, chunks, N);
  HEADLAB_CUDA_CHECK_LAUNCH("column_finish_kernel");
}

// The plain case: values(r, c) = x[r * N + c].
struct PlainRows {
  const float* x;  // [M, N]
  int64_t N;
  __device__ void operator()(int64_t r, int64_t c, float (&v)[1]) const { v[0] = x[r * N + c]; }
};

}  // namespace headlab::cuda
