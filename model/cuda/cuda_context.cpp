#include "model/cuda/cuda_context.cuh"

#include "model/cuda/cuda_check.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {
// cuBLASLt's own advice for Hopper: 32 MiB lets every algorithm run (split-K included).
constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;
}  // namespace

CudaContext::CudaContext(int ordinal) : ordinal_(ordinal), plans_(nullptr, delete_matmul_plan_cache) {
  HEADLAB_CUDA_CHECK(cudaSetDevice(ordinal_));
  HEADLAB_CUDA_CHECK(cudaGetDeviceProperties(&props_, ordinal_));
  // The constructor cleans up what it made if a later step throws: the destructor won't run.
  try {
    HEADLAB_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    HEADLAB_CUBLAS_CHECK(cublasCreate(&cublas_));
    HEADLAB_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    // Plain f32 products: TF32 (allowed only by CUBLAS_TF32_TENSOR_OP_MATH) would round inputs to
    // 10 mantissa bits and break agreement with the CPU backend and TransformerLens.
    HEADLAB_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
    HEADLAB_CUBLAS_CHECK(cublasLtCreate(&cublas_lt_));
    HEADLAB_CUDA_CHECK(cudaMalloc(&lt_workspace_, kLtWorkspaceBytes));
    lt_workspace_bytes_ = kLtWorkspaceBytes;
    // cuBLAS gets its own workspace too, so it never allocates during a call.
    HEADLAB_CUBLAS_CHECK(cublasSetWorkspace(cublas_, lt_workspace_, lt_workspace_bytes_));
    plans_.reset(new_matmul_plan_cache());
  } catch (...) {
    if (lt_workspace_) cudaFree(lt_workspace_);
    if (cublas_lt_) cublasLtDestroy(cublas_lt_);
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
    throw;
  }
}

CudaContext::~CudaContext() {
  // Destructors must not throw: errors here (a device already lost) are ignored.
  cudaSetDevice(ordinal_);
  if (stream_) cudaStreamSynchronize(stream_);
  plans_.reset();
  if (scratch_) cudaFree(scratch_);
  if (lt_workspace_) cudaFree(lt_workspace_);
  if (cublas_lt_) cublasLtDestroy(cublas_lt_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaContext::make_current() const { HEADLAB_CUDA_CHECK(cudaSetDevice(ordinal_)); }

void* CudaContext::scratch(size_t bytes) {
  if (bytes <= scratch_bytes_) return scratch_;
  // Work already queued may still read the old buffer: let it finish before freeing.
  HEADLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (scratch_) HEADLAB_CUDA_CHECK(cudaFree(scratch_));
  scratch_ = nullptr;
  scratch_bytes_ = 0;
  // Grow by half again, so a sequence of slightly larger requests does not reallocate each time.
  const size_t grown = bytes + bytes / 2;
  HEADLAB_CUDA_CHECK(cudaMalloc(&scratch_, grown));
  scratch_bytes_ = grown;
  return scratch_;
}

}  // namespace headlab::cuda
