#include "model/cuda/cuda_backend.cuh"

#include <cuda_runtime_api.h>

#include <string>

#include "core/errors.h"
#include "model/cuda/cuda_check.cuh"
#include "model/cuda/cuda_context.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab {

CudaBackend::CudaBackend(int ordinal) : ctx_(std::make_unique<cuda::CudaContext>(ordinal)) {}
CudaBackend::~CudaBackend() = default;

cuda::CudaContext& CudaBackend::ctx() {
  ctx_->make_current();
  return *ctx_;
}

std::string CudaBackend::name() const {
  const cudaDeviceProp& p = ctx_->properties();
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  return "cuda:" + std::to_string(ctx_->ordinal()) + " (" + p.name + ", sm_" + std::to_string(p.major) +
         std::to_string(p.minor) + ", " + std::to_string(p.multiProcessorCount) + " SMs, " +
         std::to_string(p.totalGlobalMem >> 20) + " MiB, CUDA runtime " + std::to_string(runtime / 1000) + "." +
         std::to_string(runtime % 1000 / 10) + ", cuBLASLt " + std::to_string(cublasLtGetVersion()) + ")";
}

// ---- memory ---------------------------------------------------------------------------------------

void* CudaBackend::alloc_bytes(size_t bytes) {
  cuda::CudaContext& c = ctx();
  if (bytes == 0) bytes = 1;  // a real pointer even for nothing, as the CPU backend gives
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);  // 256-byte aligned
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear it: an allocation failure does not break the context
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    throw InputError("--device cuda", "out of GPU memory allocating " + std::to_string(bytes >> 20) + " MiB (" +
                                          std::to_string(free_bytes >> 20) + " of " +
                                          std::to_string(total_bytes >> 20) +
                                          " MiB free); use a smaller batch or model");
  }
  HEADLAB_CUDA_CHECK(err);
  try {
    HEADLAB_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, c.stream()));
  } catch (...) {
    cudaFree(p);
    throw;
  }
  return p;
}

void CudaBackend::free_bytes(void* p) {
  if (!p) return;
  cuda::CudaContext& c = ctx();
  // Queued work may still use it.
  HEADLAB_CUDA_CHECK(cudaStreamSynchronize(c.stream()));
  HEADLAB_CUDA_CHECK(cudaFree(p));
}

void CudaBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  cuda::CudaContext& c = ctx();
  if (bytes == 0) return;
  HEADLAB_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, c.stream()));
  HEADLAB_CUDA_CHECK(cudaStreamSynchronize(c.stream()));
}

void CudaBackend::copy_from_host(void* dst, const void* host_src, size_t bytes) {
  cuda::CudaContext& c = ctx();
  if (bytes == 0) return;
  HEADLAB_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, c.stream()));
  // The caller may reuse its host buffer as soon as this returns.
  HEADLAB_CUDA_CHECK(cudaStreamSynchronize(c.stream()));
}

void CudaBackend::copy(void* dst, const void* src, size_t bytes) {
  cuda::CudaContext& c = ctx();
  if (bytes == 0) return;
  HEADLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c.stream()));
}

void CudaBackend::fill_zero(void* p, size_t bytes) {
  cuda::CudaContext& c = ctx();
  if (bytes == 0) return;
  HEADLAB_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, c.stream()));
}

void CudaBackend::synchronize() { HEADLAB_CUDA_CHECK(cudaStreamSynchronize(ctx().stream())); }

// ---- kernels: each forwards to its launcher in model/cuda/<op>.cu ------------------------------------

void CudaBackend::matmul(float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N, int64_t K,
                         Transpose ta, Transpose tb, Accumulate acc) {
  cuda::matmul_f32(ctx(), C, A, B, bias, M, N, K, ta, tb, acc);
}
void CudaBackend::bias_backward(float* dbias, const float* dout, int64_t M, int64_t N) {
  cuda::bias_backward(ctx(), dbias, dout, M, N);
}

void CudaBackend::add(float* out, const float* a, const float* b, int64_t n) { cuda::add(ctx(), out, a, b, n); }
void CudaBackend::add_inplace(float* a, const float* b, int64_t n) { cuda::add_inplace(ctx(), a, b, n); }
void CudaBackend::scale_inplace(float* a, float s, int64_t n) { cuda::scale_inplace(ctx(), a, s, n); }
void CudaBackend::axpy(float* y, float alpha, const float* x, int64_t n) { cuda::axpy(ctx(), y, alpha, x, n); }

void CudaBackend::layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                    const float* bias, int64_t N, int64_t C, float eps) {
  cuda::layernorm_forward(ctx(), out, mean, rstd, inp, weight, bias, N, C, eps);
}
void CudaBackend::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                     const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
  cuda::layernorm_backward(ctx(), dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
}
void CudaBackend::rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                                  float eps) {
  cuda::rmsnorm_forward(ctx(), out, rstd, inp, weight, N, C, eps);
}
void CudaBackend::rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                                   const float* weight, const float* rstd, int64_t N, int64_t C) {
  cuda::rmsnorm_backward(ctx(), dinp, dweight, dout, inp, weight, rstd, N, C);
}

void CudaBackend::activation_forward(float* out, const float* inp, int64_t n, ActFn fn) {
  cuda::activation_forward(ctx(), out, inp, n, fn);
}
void CudaBackend::activation_backward(float* dinp, const float* dout, const float* inp, int64_t n, ActFn fn) {
  cuda::activation_backward(ctx(), dinp, dout, inp, n, fn);
}

void CudaBackend::embedding_forward(float* out, const int32_t* tokens, const float* W_E, int64_t BT, int64_t D) {
  cuda::embedding_forward(ctx(), out, tokens, W_E, BT, D);
}
void CudaBackend::embedding_backward(float* dW_E, const float* dout, const int32_t* tokens, int64_t BT, int64_t D) {
  cuda::embedding_backward(ctx(), dW_E, dout, tokens, BT, D);
}
void CudaBackend::pos_embedding_forward(float* out, const float* W_pos, int64_t B, int64_t T, int64_t D) {
  cuda::pos_embedding_forward(ctx(), out, W_pos, B, T, D);
}
void CudaBackend::pos_embedding_backward(float* dW_pos, const float* dout, int64_t B, int64_t T, int64_t D) {
  cuda::pos_embedding_backward(ctx(), dW_pos, dout, B, T, D);
}

void CudaBackend::rotary_forward(float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                                 float base) {
  cuda::rotary_forward(ctx(), x, B, T, n_heads, dh, row_stride, base);
}
void CudaBackend::rotary_backward(float* dx, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                                  float base) {
  cuda::rotary_backward(ctx(), dx, B, T, n_heads, dh, row_stride, base);
}

void CudaBackend::attention_pattern_forward(float* pattern, float* scores, const float* qkv, int64_t B, int64_t T,
                                            int64_t H, int64_t dh, float scale) {
  cuda::attention_pattern_forward(ctx(), pattern, scores, qkv, B, T, H, dh, scale);
}
void CudaBackend::attention_values_forward(float* z, const float* pattern, const float* qkv, int64_t B, int64_t T,
                                           int64_t H, int64_t dh) {
  cuda::attention_values_forward(ctx(), z, pattern, qkv, B, T, H, dh);
}
void CudaBackend::attention_values_backward(float* dpattern, float* dqkv, const float* dz, const float* pattern,
                                            const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh) {
  cuda::attention_values_backward(ctx(), dpattern, dqkv, dz, pattern, qkv, B, T, H, dh);
}
void CudaBackend::attention_pattern_backward(float* dqkv, float* dpattern, const float* pattern, const float* qkv,
                                             int64_t B, int64_t T, int64_t H, int64_t dh, float scale) {
  cuda::attention_pattern_backward(ctx(), dqkv, dpattern, pattern, qkv, B, T, H, dh, scale);
}

void CudaBackend::cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets,
                                        int64_t N, int64_t V) {
  cuda::cross_entropy_forward(ctx(), losses, lse, logits, targets, N, V);
}
void CudaBackend::cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                                         const float* dloss, int64_t N, int64_t V) {
  cuda::cross_entropy_backward(ctx(), dlogits, logits, lse, targets, dloss, N, V);
}

double CudaBackend::sum_squares(const float* x, int64_t n) { return cuda::sum_squares(ctx(), x, n); }
void CudaBackend::adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                               float beta2, float eps, float weight_decay, int64_t step, float grad_scale) {
  cuda::adamw_update(ctx(), param, grad, m, v, n, lr, beta1, beta2, eps, weight_decay, step, grad_scale);
}
void CudaBackend::sgd_update(float* param, const float* grad, int64_t n, float lr, float weight_decay,
                             float grad_scale) {
  cuda::sgd_update(ctx(), param, grad, n, lr, weight_decay, grad_scale);
}

// ---- only on CUDA ---------------------------------------------------------------------------------

void CudaBackend::flash_attention_forward(float* z, float* lse, const float* qkv, int64_t B, int64_t T, int64_t H,
                                          int64_t dh, float scale) {
  cuda::flash_attention_forward(ctx(), z, lse, qkv, B, T, H, dh, scale);
}
void CudaBackend::flash_attention_backward(float* dqkv, const float* dz, const float* z, const float* lse,
                                           const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh, float scale) {
  cuda::flash_attention_backward(ctx(), dqkv, dz, z, lse, qkv, B, T, H, dh, scale);
}
void CudaBackend::matmul_bf16(float* C, const uint16_t* A, const uint16_t* B, const float* bias, int64_t M, int64_t N,
                              int64_t K, Transpose ta, Transpose tb, Accumulate acc) {
  cuda::matmul_bf16(ctx(), C, A, B, bias, M, N, K, ta, tb, acc);
}
void CudaBackend::to_bf16(uint16_t* dst, const float* src, int64_t n) { cuda::convert_f32_to_bf16(ctx(), dst, src, n); }

// ---- the factory ----------------------------------------------------------------------------------

Backend* create_cuda_backend(int ordinal) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw InputError("--device cuda", std::string("no CUDA GPU is available: ") + cudaGetErrorString(err));
  }
  if (count == 0) throw InputError("--device cuda", "no CUDA GPU is available: the driver reports no device");
  if (ordinal < 0 || ordinal >= count)
    throw InputError("--device cuda", "GPU " + std::to_string(ordinal) + " does not exist (" + std::to_string(count) +
                                          " found, numbered from 0)");
  return new CudaBackend(ordinal);
}

}  // namespace headlab

// What make_cuda_backend (model/cuda_loader.cpp) looks up in this library. C linkage for a name dlsym
// finds; errors still travel as C++ exceptions (InputError), caught by the command as usual.
extern "C" __attribute__((visibility("default"))) headlab::Backend* headlab_create_cuda_backend(int ordinal) {
  return headlab::create_cuda_backend(ordinal);
}
