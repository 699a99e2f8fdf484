// Softmax cross-entropy over the vocabulary, one block per row: the forward finds the row's
// logsumexp in one pass (an online max and sum per thread, merged in a fixed order), the backward
// writes softmax - onehot, scaled by the row's upstream gradient. Rows whose target is < 0 are
// padding: loss 0, gradient 0.
#include <cstdint>
#include <string>

#include "model/cuda/cuda_check.cuh"
#include "model/cuda/device_math.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

constexpr int kThreads = 512;

// losses[N], lse[N] from logits[N,V], targets[N]. bad_row: the smallest row whose target is
// >= V (left alone when there is none).
__global__ void cross_entropy_forward_kernel(float* losses, float* lse, const float* logits, const int32_t* targets,
                                             int64_t V, uint64_t* bad_row) {
  __shared__ MaxSum partial[32];
  const int64_t row = blockIdx.x;
  const float* x = logits + row * V;
  MaxSum acc{-INFINITY, 0.0f};
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    const float xv = x[v];
    if (xv > acc.max) {
      acc.sum = acc.sum * expf(acc.max - xv) + 1.0f;
      acc.max = xv;
    } else if (!(xv == -INFINITY)) {  // -inf adds nothing (and -inf - -inf is NaN); NaN must propagate
      acc.sum += expf(xv - acc.max);
    }
  }
  const MaxSum total = block_merge(acc, partial);
  if (threadIdx.x == 0) {
    const float l = total.max + logf(total.sum);
    const int32_t target = targets[row];
    lse[row] = l;
    if (target >= V) {
      atomicMin(reinterpret_cast<unsigned long long*>(bad_row), static_cast<unsigned long long>(row));
      losses[row] = 0.0f;
    } else {
      losses[row] = target < 0 ? 0.0f : l - x[target];
    }
  }
}

// dlogits[N,V] = (softmax(logits) - onehot(target)) dloss[n]; 0 for rows with target < 0.
// dlogits may alias logits: each thread reads its cells before writing them.
__global__ void cross_entropy_backward_kernel(float* dlogits, const float* logits, const float* lse,
                                              const int32_t* targets, const float* dloss, int64_t V) {
  const int64_t row = blockIdx.x;
  const int32_t target = targets[row];
  float* g = dlogits + row * V;
  if (target < 0) {
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) g[v] = 0.0f;
    return;
  }
  const float* x = logits + row * V;
  const float l = lse[row], scale = dloss[row];
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    const float p = expf(x[v] - l) * scale;
    g[v] = v == target ? p - scale : p;
  }
}

}  // namespace

void cross_entropy_forward(CudaContext& ctx, float* losses, float* lse, const float* logits, const int32_t* targets,
                           int64_t N, int64_t V) {
  if (N <= 0) return;
  if (N > 2147483647) throw InternalError("cross_entropy_forward: too many rows: " + std::to_string(N));
  // Targets live on the device, so the range check is a flag the kernel sets and the host reads:
  // one small copy and a synchronisation per call (the loss is read back each step anyway).
  auto* bad_row = static_cast<uint64_t*>(ctx.scratch(sizeof(uint64_t)));
  const uint64_t none = UINT64_MAX;  // all bits set: what the memset writes
  HEADLAB_CUDA_CHECK(cudaMemsetAsync(bad_row, 0xff, sizeof(uint64_t), ctx.stream()));
  cross_entropy_forward_kernel<<<static_cast<unsigned>(N), kThreads, 0, ctx.stream()>>>(losses, lse, logits, targets, V,
                                                                                        bad_row);
  HEADLAB_CUDA_CHECK_LAUNCH("cross_entropy_forward_kernel");
  uint64_t first_bad = none;
  HEADLAB_CUDA_CHECK(cudaMemcpyAsync(&first_bad, bad_row, sizeof first_bad, cudaMemcpyDeviceToHost, ctx.stream()));
  HEADLAB_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
  if (first_bad != none) {
    int32_t target = 0;
    HEADLAB_CUDA_CHECK(cudaMemcpy(&target, targets + first_bad, sizeof target, cudaMemcpyDeviceToHost));
    throw InputError("target token " + std::to_string(target) + " at row " + std::to_string(first_bad),
                     "expected an id below the vocabulary size " + std::to_string(V));
  }
}

void cross_entropy_backward(CudaContext& ctx, float* dlogits, const float* logits, const float* lse,
                            const int32_t* targets, const float* dloss, int64_t N, int64_t V) {
  if (N <= 0) return;
  cross_entropy_backward_kernel<<<static_cast<unsigned>(N), kThreads, 0, ctx.stream()>>>(dlogits, logits, lse, targets,
                                                                                         dloss, V);
  HEADLAB_CUDA_CHECK_LAUNCH("cross_entropy_backward_kernel");
}

}  // namespace headlab::cuda
