// The CUDA kernels' host-side launchers, one group per file of model/cuda/ (the twins of
// model/cpu/). Each enqueues its work on ctx.stream() and returns at once; arguments and
// conventions are those of model/backend.h (forward overwrites; backward overwrites input
// gradients and adds into parameter gradients). Plain C++, so cuda_backend.cpp includes it.
#pragma once
#include <cstdint>

#include "model/backend.h"
#include "model/cuda/cuda_context.cuh"

namespace headlab::cuda {

// ---- matmul.cu ---------------------------------------------------------------------------------
MatmulPlanCache* new_matmul_plan_cache();
void delete_matmul_plan_cache(MatmulPlanCache* cache);
// C[M,N] (=|+=) op(A)[M,K] · op(B)[K,N] (+ bias[N]), f32 throughout (no TF32).
void matmul_f32(CudaContext& ctx, float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N,
                int64_t K, Transpose ta, Transpose tb, Accumulate acc);
// The same with A and B in bfloat16 (raw 16-bit words), f32 accumulation and f32 C.
void matmul_bf16(CudaContext& ctx, float* C, const uint16_t* A, const uint16_t* B, const float* bias, int64_t M,
                 int64_t N, int64_t K, Transpose ta, Transpose tb, Accumulate acc);
// dst[n] = bf16(src[n]), round to nearest even.
void convert_f32_to_bf16(CudaContext& ctx, uint16_t* dst, const float* src, int64_t n);
// C_i = alpha op(A_i) op(B_i) + beta C_i for i < batch, row-major with leading dimensions and
// strides in floats (the split attention's per-head products).
struct StridedOperand {
  const float* data;
  int64_t ld;
  int64_t stride;
};
void matmul_strided_batched(CudaContext& ctx, float* C, int64_t ldc, int64_t stride_c, StridedOperand A,
                            StridedOperand B, int64_t M, int64_t N, int64_t K, Transpose ta, Transpose tb, float alpha,
                            float beta, int64_t batch);
// dbias[N] += Σ_rows dout[M,N]
void bias_backward(CudaContext& ctx, float* dbias, const float* dout, int64_t M, int64_t N);

// ---- elementwise.cu ----------------------------------------------------------------------------
void add(CudaContext& ctx, float* out, const float* a, const float* b, int64_t n);
void add_inplace(CudaContext& ctx, float* a, const float* b, int64_t n);
void scale_inplace(CudaContext& ctx, float* a, float s, int64_t n);
void axpy(CudaContext& ctx, float* y, float alpha, const float* x, int64_t n);

// ---- layernorm.cu, rmsnorm.cu ------------------------------------------------------------------
void layernorm_forward(CudaContext& ctx, float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps);
void layernorm_backward(CudaContext& ctx, float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd, int64_t N,
                        int64_t C);
void rmsnorm_forward(CudaContext& ctx, float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                     int64_t C, float eps);
void rmsnorm_backward(CudaContext& ctx, float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t N, int64_t C);

// ---- activation.cu -----------------------------------------------------------------------------
void activation_forward(CudaContext& ctx, float* out, const float* inp, int64_t n, ActFn fn);
void activation_backward(CudaContext& ctx, float* dinp, const float* dout, const float* inp, int64_t n, ActFn fn);

// ---- embedding.cu ------------------------------------------------------------------------------
void embedding_forward(CudaContext& ctx, float* out, const int32_t* tokens, const float* W_E, int64_t BT, int64_t D);
void embedding_backward(CudaContext& ctx, float* dW_E, const float* dout, const int32_t* tokens, int64_t BT, int64_t D);
void pos_embedding_forward(CudaContext& ctx, float* out, const float* W_pos, int64_t B, int64_t T, int64_t D);
void pos_embedding_backward(CudaContext& ctx, float* dW_pos, const float* dout, int64_t B, int64_t T, int64_t D);

// ---- rotary.cu ---------------------------------------------------------------------------------
void rotary_forward(CudaContext& ctx, float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                    float base);
void rotary_backward(CudaContext& ctx, float* dx, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                     float base);

// ---- attention.cu (split: the pattern is materialised, for hooks) --------------------------------
void attention_pattern_forward(CudaContext& ctx, float* pattern, float* scores, const float* qkv, int64_t B, int64_t T,
                               int64_t H, int64_t dh, float scale);
void attention_values_forward(CudaContext& ctx, float* z, const float* pattern, const float* qkv, int64_t B, int64_t T,
                              int64_t H, int64_t dh);
void attention_values_backward(CudaContext& ctx, float* dpattern, float* dqkv, const float* dz, const float* pattern,
                               const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh);
void attention_pattern_backward(CudaContext& ctx, float* dqkv, float* dpattern, const float* pattern, const float* qkv,
                                int64_t B, int64_t T, int64_t H, int64_t dh, float scale);

// ---- flash_attention.cu (fused: no [B,H,T,T] tensor) -----------------------------------------------
// z[B,T,H,dh] and lse[B,H,T] (natural-log logsumexp of each query's scaled, masked scores).
void flash_attention_forward(CudaContext& ctx, float* z, float* lse, const float* qkv, int64_t B, int64_t T, int64_t H,
                             int64_t dh, float scale);
// dqkv[B,T,3,H,dh] overwritten (q, k and v parts) from dz, and z, lse of the forward.
void flash_attention_backward(CudaContext& ctx, float* dqkv, const float* dz, const float* z, const float* lse,
                              const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh, float scale);

// ---- cross_entropy.cu ----------------------------------------------------------------------------
void cross_entropy_forward(CudaContext& ctx, float* losses, float* lse, const float* logits, const int32_t* targets,
                           int64_t N, int64_t V);
void cross_entropy_backward(CudaContext& ctx, float* dlogits, const float* logits, const float* lse,
                            const int32_t* targets, const float* dloss, int64_t N, int64_t V);

// ---- adamw.cu (the optimizer's kernels) ----------------------------------------------------------
double sum_squares(CudaContext& ctx, const float* x, int64_t n);  // synchronises: the value goes to the host
void adamw_update(CudaContext& ctx, float* param, const float* grad, float* m, float* v, int64_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t step, float grad_scale);
void sgd_update(CudaContext& ctx, float* param, const float* grad, int64_t n, float lr, float weight_decay,
                float grad_scale);

}  // namespace headlab::cuda
