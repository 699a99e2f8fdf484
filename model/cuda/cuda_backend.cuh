// CudaBackend: the Backend interface on one NVIDIA GPU (cuBLASLt for products, hand-written
// kernels for the rest; see model/cuda/kernels.cuh for the file of each kernel), plus what only
// this backend offers. Plain C++: the model includes it (under HEADLAB_HAVE_CUDA) and calls the
// extras through dynamic_cast<CudaBackend*>(backend).
//
// Everything runs in order on one CUDA stream of the backend's own; calls return once the work
// is queued, except those that hand a value to the host (copy_to_host, sum_squares,
// cross_entropy_forward's target check), which wait for it. All pointers are device memory from
// alloc_bytes (or offsets into it).
//
// Results are bitwise reproducible run to run on one device: no float atomics; every reduction
// (parameter gradients, norms, the embedding backward) sums in a fixed order, and each product
// shape keeps the cuBLASLt algorithm it was first given.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "model/backend.h"

namespace headlab {

namespace cuda {
class CudaContext;
}

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(int ordinal);  // prefer make_cuda_backend(), which checks the device first
  ~CudaBackend() override;

  Device device() const override { return Device::cuda; }
  std::string name() const override;

  void* alloc_bytes(size_t bytes) override;
  void free_bytes(void* p) override;
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void fill_zero(void* p, size_t bytes) override;
  void synchronize() override;

  void matmul(float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N, int64_t K,
              Transpose ta, Transpose tb, Accumulate acc) override;
  void bias_backward(float* dbias, const float* dout, int64_t M, int64_t N) override;

  void add(float* out, const float* a, const float* b, int64_t n) override;
  void add_inplace(float* a, const float* b, int64_t n) override;
  void scale_inplace(float* a, float s, int64_t n) override;
  void axpy(float* y, float alpha, const float* x, int64_t n) override;

  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                         int64_t N, int64_t C, float eps) override;
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) override;
  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                       float eps) override;
  void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                        const float* rstd, int64_t N, int64_t C) override;

  void activation_forward(float* out, const float* inp, int64_t n, ActFn fn) override;
  void activation_backward(float* dinp, const float* dout, const float* inp, int64_t n, ActFn fn) override;

  void embedding_forward(float* out, const int32_t* tokens, const float* W_E, int64_t BT, int64_t D) override;
  void embedding_backward(float* dW_E, const float* dout, const int32_t* tokens, int64_t BT, int64_t D) override;
  void pos_embedding_forward(float* out, const float* W_pos, int64_t B, int64_t T, int64_t D) override;
  void pos_embedding_backward(float* dW_pos, const float* dout, int64_t B, int64_t T, int64_t D) override;

  void rotary_forward(float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                      float base) override;
  void rotary_backward(float* dx, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                       float base) override;

  void attention_pattern_forward(float* pattern, float* scores, const float* qkv, int64_t B, int64_t T, int64_t H,
                                 int64_t dh, float scale) override;
  void attention_values_forward(float* z, const float* pattern, const float* qkv, int64_t B, int64_t T, int64_t H,
                                int64_t dh) override;
  void attention_values_backward(float* dpattern, float* dqkv, const float* dz, const float* pattern, const float* qkv,
                                 int64_t B, int64_t T, int64_t H, int64_t dh) override;
  void attention_pattern_backward(float* dqkv, float* dpattern, const float* pattern, const float* qkv, int64_t B,
                                  int64_t T, int64_t H, int64_t dh, float scale) override;

  void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                             int64_t V) override;
  void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                              const float* dloss, int64_t N, int64_t V) override;

  double sum_squares(const float* x, int64_t n) override;
  void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int64_t step, float grad_scale) override;
  void sgd_update(float* param, const float* grad, int64_t n, float lr, float weight_decay, float grad_scale) override;

  // ---- only on CUDA -------------------------------------------------------------------------
  // Fused causal attention (FlashAttention-2 style, f32, no [B,H,T,T] tensor), for forwards and
  // backwards where no hook asks for the scores or the pattern. Same qkv layout and math as
  // attention_pattern_forward + attention_values_forward (softmax over k <= q of q·k * scale).
  //   qkv[B, T, 3, H, dh] (after rotary)  →  z[B, T, H, dh] (overwritten),
  //   lse[B, H, T] (overwritten): each query's natural-log logsumexp of its scaled scores,
  //   kept for the backward (and the pattern can be rebuilt from it: p = exp(s - lse)).
  // d_head from 1 to 256 (InputError beyond).
  void flash_attention_forward(float* z, float* lse, const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh,
                               float scale);
  // dqkv[B, T, 3, H, dh]: all three parts (q, k, v) overwritten, from dz[B, T, H, dh] and the
  // forward's z and lse. Deterministic: dq, dk, dv each have one writer (no atomics).
  void flash_attention_backward(float* dqkv, const float* dz, const float* z, const float* lse, const float* qkv,
                                int64_t B, int64_t T, int64_t H, int64_t dh, float scale);

  // bf16 products: A and B as bfloat16 (raw 16-bit words, e.g. from to_bf16), f32 accumulation,
  // f32 C; arguments otherwise as matmul's.
  void matmul_bf16(float* C, const uint16_t* A, const uint16_t* B, const float* bias, int64_t M, int64_t N, int64_t K,
                   Transpose ta, Transpose tb, Accumulate acc);
  // dst[n] = src[n] rounded to bfloat16 (nearest even).
  void to_bf16(uint16_t* dst, const float* src, int64_t n);

  // NCCL where headlab was built with it (model/cuda/collectives.cpp); otherwise collective_id()
  // is "" and the ranks' sums go through host memory.
  std::string collective_id() override;
  void join_collective(const std::string& id, int rank, int size) override;
  void all_reduce_sum(float* data, int64_t n) override;

 private:
  cuda::CudaContext& ctx();  // the context, with its device made current for this thread
  std::unique_ptr<cuda::CudaContext> ctx_;
  std::shared_ptr<void> nccl_comm_;  // an ncclComm_t once joined; destroyed before the context
};

}  // namespace headlab
