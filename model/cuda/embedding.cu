// Token and position embeddings. The token embedding's backward adds many rows of dout into
// the same row of dW_E (a token seen twice); float atomics would make the sum's order, and so
// its bits, vary from run to run. Instead the positions are sorted by token (a stable radix sort,
// CUB's), and one thread per (token, column) adds its positions' rows in sequence order — the
// order the CPU twin uses.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_run_length_encode.cuh>
#include <cub/device/device_scan.cuh>

#include <cstdint>

#include "model/cuda/column_reduce.cuh"
#include "model/cuda/cuda_check.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kColumnsPerBlock = 128;

// out[BT, D] = W_E[tokens[i]]
__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* W_E, int64_t BT, int64_t D) {
  const int64_t total = BT * D;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / D, c = i - row * D;
    out[i] = W_E[int64_t{tokens[row]} * D + c];
  }
}

// positions[i] = i
__global__ void iota_kernel(int32_t* positions, int64_t n) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    positions[i] = static_cast<int32_t>(i);
}

// For run r (one distinct token) and column c: dW_E[token, c] += Σ over the run's positions, in
// order, of dout[position, c]. Blocks past the number of runs (known only on the device) exit.
__global__ void embedding_backward_kernel(float* dW_E, const float* dout, const int32_t* sorted_positions,
                                          const int32_t* run_tokens, const int32_t* run_offsets,
                                          const int32_t* run_lengths, const int32_t* run_count, int64_t D) {
  const int64_t run = blockIdx.x;
  if (run >= *run_count) return;
  const int64_t c = int64_t{blockIdx.y} * kColumnsPerBlock + threadIdx.x;
  if (c >= D) return;
  const int32_t begin = run_offsets[run], end = begin + run_lengths[run];
  float sum = 0.0f;
  for (int32_t i = begin; i < end; ++i) sum += dout[int64_t{sorted_positions[i]} * D + c];
  dW_E[int64_t{run_tokens[run]} * D + c] += sum;
}

// out[B, T, D] = W_pos[t]
__global__ void pos_embedding_forward_kernel(float* out, const float* W_pos, int64_t B, int64_t TD) {
  const int64_t total = B * TD;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = W_pos[i % TD];
}

// Carves consecutive 256-byte-aligned pieces out of one scratch buffer.
class Carver {
 public:
  explicit Carver(char* base) : base_(base) {}
  template <typename T>
  T* take(size_t count) {
    T* p = reinterpret_cast<T*>(base_ + used_);
    used_ += (count * sizeof(T) + 255) / 256 * 256;
    return p;
  }

 private:
  char* base_;
  size_t used_ = 0;
};

}  // namespace

void embedding_forward(CudaContext& ctx, float* out, const int32_t* tokens, const float* W_E, int64_t BT, int64_t D) {
  if (BT <= 0 || D <= 0) return;
  embedding_forward_kernel<<<grid_for(BT * D, kThreads), kThreads, 0, ctx.stream()>>>(out, tokens, W_E, BT, D);
  HEADLAB_CUDA_CHECK_LAUNCH("embedding_forward_kernel");
}

void embedding_backward(CudaContext& ctx, float* dW_E, const float* dout, const int32_t* tokens, int64_t BT,
                        int64_t D) {
  if (BT <= 0 || D <= 0) return;
  if (BT > 2147483647)
    throw InternalError("embedding_backward: " + std::to_string(BT) + " positions is beyond the kernel's range");
  const int n = static_cast<int>(BT);
  cudaStream_t stream = ctx.stream();
  // The temporary storage CUB asks for, then one scratch buffer for everything.
  size_t sort_bytes = 0, encode_bytes = 0, scan_bytes = 0;
  HEADLAB_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      nullptr, sort_bytes, static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr),
      static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), n, 0, 31, stream));
  HEADLAB_CUDA_CHECK(cub::DeviceRunLengthEncode::Encode(nullptr, encode_bytes, static_cast<const int32_t*>(nullptr),
                                                        static_cast<int32_t*>(nullptr), static_cast<int32_t*>(nullptr),
                                                        static_cast<int32_t*>(nullptr), n, stream));
  HEADLAB_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, static_cast<const int32_t*>(nullptr),
                                                   static_cast<int32_t*>(nullptr), n, stream));
  const size_t temp_bytes = std::max({sort_bytes, encode_bytes, scan_bytes});
  const size_t piece = (sizeof(int32_t) * BT + 255) / 256 * 256;
  char* scratch = static_cast<char*>(ctx.scratch(6 * piece + 256 + (temp_bytes + 255) / 256 * 256));
  Carver carve(scratch);
  int32_t* positions = carve.take<int32_t>(BT);         // [BT] 0, 1, 2, ...
  int32_t* sorted_tokens = carve.take<int32_t>(BT);     // [BT]
  int32_t* sorted_positions = carve.take<int32_t>(BT);  // [BT] grouped by token, in order within a token
  int32_t* run_tokens = carve.take<int32_t>(BT);        // [runs]
  int32_t* run_lengths = carve.take<int32_t>(BT);       // [runs], zero past the last run
  int32_t* run_offsets = carve.take<int32_t>(BT);       // [runs]
  int32_t* run_count = carve.take<int32_t>(1);
  void* temp = carve.take<char>(temp_bytes);

  iota_kernel<<<grid_for(BT, kThreads), kThreads, 0, stream>>>(positions, BT);
  HEADLAB_CUDA_CHECK_LAUNCH("iota_kernel");
  // Token ids are non-negative (the caller checks them), so the sign bit need not be sorted.
  size_t bytes = temp_bytes;
  HEADLAB_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, bytes, tokens, sorted_tokens, positions, sorted_positions, n,
                                                     0, 31, stream));
  HEADLAB_CUDA_CHECK(cudaMemsetAsync(run_lengths, 0, sizeof(int32_t) * BT, stream));
  bytes = temp_bytes;
  HEADLAB_CUDA_CHECK(
      cub::DeviceRunLengthEncode::Encode(temp, bytes, sorted_tokens, run_tokens, run_lengths, run_count, n, stream));
  bytes = temp_bytes;
  HEADLAB_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(temp, bytes, run_lengths, run_offsets, n, stream));
  const dim3 grid(static_cast<unsigned>(BT), static_cast<unsigned>((D + kColumnsPerBlock - 1) / kColumnsPerBlock));
  embedding_backward_kernel<<<grid, kColumnsPerBlock, 0, stream>>>(dW_E, dout, sorted_positions, run_tokens,
                                                                   run_offsets, run_lengths, run_count, D);
  HEADLAB_CUDA_CHECK_LAUNCH("embedding_backward_kernel");
}

void pos_embedding_forward(CudaContext& ctx, float* out, const float* W_pos, int64_t B, int64_t T, int64_t D) {
  if (B <= 0 || T <= 0 || D <= 0) return;
  pos_embedding_forward_kernel<<<grid_for(B * T * D, kThreads), kThreads, 0, ctx.stream()>>>(out, W_pos, B, T * D);
  HEADLAB_CUDA_CHECK_LAUNCH("pos_embedding_forward_kernel");
}

void pos_embedding_backward(CudaContext& ctx, float* dW_pos, const float* dout, int64_t B, int64_t T, int64_t D) {
  // dW_pos[T, D] += Σ_b dout[b, T, D]: a column sum of dout seen as [B, T*D].
  column_sums_add<1>(ctx, ColumnOutputs<1>{{dW_pos}}, PlainRows{dout, T * D}, B, T * D);
}

}  // namespace headlab::cuda
