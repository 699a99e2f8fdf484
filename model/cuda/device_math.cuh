// Warp and block reductions shared by the kernels. Every reduction here combines its terms in a
// fixed order (a butterfly over lanes, then warps in index order), so a kernel that uses them
// gives the same bits on every run: training must be bitwise reproducible on one device.
#pragma once
#include <cuda_runtime.h>

#include <cfloat>

namespace headlab::cuda {

constexpr unsigned kFullWarp = 0xffffffffu;

template <typename T>
__device__ __forceinline__ T warp_sum(T x) {
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(kFullWarp, x, offset);
  return x;  // every lane holds the sum
}

__device__ __forceinline__ float warp_max(float x) {
  for (int offset = 16; offset > 0; offset >>= 1) x = fmaxf(x, __shfl_xor_sync(kFullWarp, x, offset));
  return x;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets it.
// `shared` holds at least 32 values. Ends with a barrier, so `shared` may be reused at once.
template <typename T>
__device__ T block_sum(T x, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  x = warp_sum(x);
  if (lane == 0) shared[warp] = x;
  __syncthreads();
  T total = lane < warps ? shared[lane] : T(0);
  total = warp_sum(total);
  __syncthreads();
  return total;
}

// A running (max, sum of exp(x - max)) pair, merged as in an online softmax.
struct MaxSum {
  float max;
  float sum;
};

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.max, b.max);
  if (m == -INFINITY) return {m, 0.0f};
  return {m, a.sum * expf(a.max - m) + b.sum * expf(b.max - m)};
}

__device__ __forceinline__ MaxSum warp_merge(MaxSum x) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    MaxSum other{__shfl_xor_sync(kFullWarp, x.max, offset), __shfl_xor_sync(kFullWarp, x.sum, offset)};
    x = merge(x, other);
  }
  return x;
}

// `shared` holds at least 32 pairs; ends with a barrier.
__device__ inline MaxSum block_merge(MaxSum x, MaxSum* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  x = warp_merge(x);
  if (lane == 0) shared[warp] = x;
  __syncthreads();
  MaxSum total = lane < warps ? shared[lane] : MaxSum{-INFINITY, 0.0f};
  total = warp_merge(total);
  __syncthreads();
  return total;
}

}  // namespace headlab::cuda
