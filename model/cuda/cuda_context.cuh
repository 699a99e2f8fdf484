// What every CUDA kernel launcher needs: the device, the one stream all work goes on (so work is
// ordered and no kernel needs a lock), the cuBLAS / cuBLASLt handles, and a growable scratch
// buffer for the intermediates of two-pass reductions, sorts and the fused attention.
// Plain C++: the backend's .cpp files include it too.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <string>

namespace headlab::cuda {

class MatmulPlanCache;  // cuBLASLt descriptors and chosen algorithms per shape (matmul.cu)

class CudaContext {
 public:
  explicit CudaContext(int ordinal);  // throws InternalError when the device cannot be set up
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int ordinal() const { return ordinal_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  cublasLtHandle_t cublas_lt() const { return cublas_lt_; }
  void* lt_workspace() const { return lt_workspace_; }
  size_t lt_workspace_bytes() const { return lt_workspace_bytes_; }
  MatmulPlanCache& matmul_plans() { return *plans_; }
  const cudaDeviceProp& properties() const { return props_; }
  int max_shared_per_block() const { return props_.sharedMemPerBlockOptin; }

  // A device buffer of at least `bytes`, valid until the next call (work queued on the stream
  // before a call that grows it has finished before the old buffer is freed). 256-byte aligned.
  void* scratch(size_t bytes);

  // Makes this context's device current for the calling thread (each public backend call does).
  void make_current() const;

 private:
  int ordinal_;
  cudaDeviceProp props_{};
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cublasLtHandle_t cublas_lt_ = nullptr;
  void* lt_workspace_ = nullptr;
  size_t lt_workspace_bytes_ = 0;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  std::unique_ptr<MatmulPlanCache, void (*)(MatmulPlanCache*)> plans_;
};

// Blocks for a grid-stride loop over n items: enough to fill the device, never more than needed.
inline unsigned grid_for(long long n, int threads, long long max_blocks = 8192) {
  long long blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks);
}

}  // namespace headlab::cuda
