// The kernel interface the model calls. Two implementations: CPU (model/cpu/, the reference:
// oneDNN matmuls + OpenMP loops) and CUDA (model/cuda/). All pointers are the backend's own
// memory (host for CPU, device for CUDA), row-major, float32 unless stated.
//
// Conventions: forward kernels overwrite their outputs. Backward kernels overwrite the input
// gradient (`dinp`, `dqkv` ...) and ADD into parameter gradients (`dweight`, `dbias` ...), so a
// parameter used twice (tied embeddings) accumulates. Shapes are in the comment on each array.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "model/config.h"

namespace headlab {

enum class Device { cpu, cuda };
enum class Transpose { no, yes };
enum class Accumulate { overwrite, add };  // C = A·B  or  C += A·B

Device parse_device(const std::string& s);  // "cpu" | "cuda"; InputError otherwise
std::string to_string(Device d);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // for logs: "cpu (2 threads, oneDNN 2.6)"

  // ---- memory -----------------------------------------------------------------------------
  virtual void* alloc_bytes(size_t bytes) = 0;  // zero-filled, 64-byte aligned
  virtual void free_bytes(void* p) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // within the backend
  virtual void fill_zero(void* p, size_t bytes) = 0;
  virtual void synchronize() = 0;
  // dst[r * dst_stride + i] = src[r * src_stride + i] for r < rows, i < width (floats). Used to
  // gather a strided view (one head's slice, the q part of qkv) into a contiguous hook tensor and
  // back. The default loops over copy(); backends may override with one 2-D copy.
  virtual void copy_rows(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t rows,
                         int64_t width) {
    for (int64_t r = 0; r < rows; ++r) copy(dst + r * dst_stride, src + r * src_stride, size_t(width) * sizeof(float));
  }

  // ---- matrix products ----------------------------------------------------------------------
  // C[M,N] (=|+=) op(A)[M,K] · op(B)[K,N] (+ bias[N] broadcast over rows; nullptr for none).
  // A is stored [M,K] (or [K,M] when transposed), B [K,N] (or [N,K]). Bias only with overwrite.
  virtual void matmul(float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N, int64_t K,
                      Transpose ta, Transpose tb, Accumulate acc) = 0;
  // dbias[N] += Σ_rows dout[M,N]
  virtual void bias_backward(float* dbias, const float* dout, int64_t M, int64_t N) = 0;

  // ---- element-wise -------------------------------------------------------------------------
  virtual void add(float* out, const float* a, const float* b, int64_t n) = 0;  // out = a + b
  virtual void add_inplace(float* a, const float* b, int64_t n) = 0;            // a += b
  virtual void scale_inplace(float* a, float s, int64_t n) = 0;                 // a *= s
  virtual void axpy(float* y, float alpha, const float* x, int64_t n) = 0;      // y += alpha x

  // ---- normalisation (TransformerLens LayerNorm / RMSNorm over the last dim, eps given) ------
  // out[N,C] = (inp - mean) * rstd * weight + bias;  mean[N], rstd[N] saved for backward.
  virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                 const float* bias, int64_t N, int64_t C, float eps) = 0;
  virtual void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) = 0;
  // out[N,C] = inp * rstd * weight, rstd = 1/sqrt(mean(inp²) + eps).
  virtual void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                               float eps) = 0;
  virtual void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                                const float* rstd, int64_t N, int64_t C) = 0;

  // The backward of n heads that each multiplied their own copy of one normalised input (the split
  // q/k/v inputs): dout [n, N, C] head-major, one gradient per head at the norm's output, all heads
  // sharing inp's saved statistics. Head h's input gradient is written (acc = overwrite) or added
  // (acc = add; then row_stride must be C) at dinp + h * head_stride, rows row_stride floats apart;
  // dsum [N, C] (nullptr to skip) += the sum of the n input gradients; dweight, dbias (LN only;
  // nullptr to skip) accumulate what the norm's backward of Σ_h dout_h would add. norm: which of the
  // two backwards above (mean unused for RMS), or none (the identity). With n = 1, acc = overwrite and
  // row_stride = C, dinp may alias dout. `scratch` [N, C] is the default's buffer, needed unless
  // that last case. The default runs the one-head backward per head; a backend may share each row's
  // normalised values and keep each row in cache across heads.
  virtual void norm_backward_heads(Normalization norm, float* dinp, int64_t head_stride, int64_t row_stride,
                                   Accumulate acc, float* dsum, float* dweight, float* dbias, const float* dout,
                                   const float* inp, const float* weight, const float* mean, const float* rstd,
                                   int64_t n, int64_t N, int64_t C, float* scratch) {
    float* discard = nullptr;  // the one-head backwards always add parameter gradients somewhere
    if (norm != Normalization::none && !dweight) {
      discard = static_cast<float*>(alloc_bytes(size_t(2 * C) * sizeof(float)));
      dweight = discard;
      dbias = discard + C;
    }
    const bool direct = acc == Accumulate::overwrite && row_stride == C;
    for (int64_t h = 0; h < n; ++h) {
      const float* g = dout + h * N * C;
      float* out = dinp + h * head_stride;
      float* dx = direct ? out : scratch;
      if (norm == Normalization::LN)
        layernorm_backward(dx, dweight, dbias, g, inp, weight, mean, rstd, N, C);
      else if (norm == Normalization::RMS)
        rmsnorm_backward(dx, dweight, g, inp, weight, rstd, N, C);
      else if (direct && out != g)
        copy(out, g, size_t(N * C) * sizeof(float));
      const float* result = norm == Normalization::none && !direct ? g : dx;
      if (!direct) {
        if (acc == Accumulate::add)
          add_inplace(out, result, N * C);
        else
          copy_rows(out, row_stride, result, C, N, C);
      }
      if (dsum) add_inplace(dsum, result, N * C);
    }
    if (discard) free_bytes(discard);
  }

  // ---- activation (gelu_new = tanh approximation, gelu = erf, relu, silu) ---------------------
  virtual void activation_forward(float* out, const float* inp, int64_t n, ActFn fn) = 0;
  virtual void activation_backward(float* dinp, const float* dout, const float* inp, int64_t n, ActFn fn) = 0;

  // ---- embeddings ---------------------------------------------------------------------------
  // out[B*T, D] = W_E[tokens[b,t]]   (tokens int32 [B*T], every id in [0, V): checked by the caller)
  virtual void embedding_forward(float* out, const int32_t* tokens, const float* W_E, int64_t BT, int64_t D) = 0;
  virtual void embedding_backward(float* dW_E, const float* dout, const int32_t* tokens, int64_t BT, int64_t D) = 0;
  // out[B, T, D] = W_pos[t]
  virtual void pos_embedding_forward(float* out, const float* W_pos, int64_t B, int64_t T, int64_t D) = 0;
  virtual void pos_embedding_backward(float* dW_pos, const float* dout, int64_t B, int64_t T, int64_t D) = 0;

  // ---- rotary (NeoX rotate-half over the whole head dim, base `base`), in place -------------
  // x[B, T, n_heads, dh] with row stride `row_stride` floats between consecutive (b,t) rows;
  // rotates the first n_heads*dh floats of each row. Backward applies the inverse rotation.
  virtual void rotary_forward(float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                              float base) = 0;
  virtual void rotary_backward(float* dx, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                               float base) = 0;

  // ---- attention ----------------------------------------------------------------------------
  // qkv[B, T, 3, H, dh] (q, k, v of every head for every position, after rotary).
  // pattern[B, H, T, T] = softmax over k ≤ q of (q·k) * scale; cells k > q are 0.
  // scores (optional, nullptr to skip) [B, H, T, T] = the pre-softmax (q·k) * scale, -inf for k > q.
  virtual void attention_pattern_forward(float* pattern, float* scores, const float* qkv, int64_t B, int64_t T,
                                         int64_t H, int64_t dh, float scale) = 0;
  // z[B, T, H, dh] = pattern · v
  virtual void attention_values_forward(float* z, const float* pattern, const float* qkv, int64_t B, int64_t T,
                                        int64_t H, int64_t dh) = 0;
  // From dz: dpattern[B,H,T,T] (overwritten) and the v part of dqkv (overwritten; q,k parts untouched).
  virtual void attention_values_backward(float* dpattern, float* dqkv, const float* dz, const float* pattern,
                                         const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh) = 0;
  // From dpattern: the q and k parts of dqkv (overwritten; v part untouched). dpattern may be
  // used as scratch (it is overwritten by dscores).
  virtual void attention_pattern_backward(float* dqkv, float* dpattern, const float* pattern, const float* qkv,
                                          int64_t B, int64_t T, int64_t H, int64_t dh, float scale) = 0;
  // The forward pair (pattern, then z) and the backward pair (values, then pattern) in one call
  // each, for when no hook stands between them: a backend may then keep each head's [T, T]
  // blocks in cache (the CPU backend does). Same results as the pairs; the defaults call them.
  // attention_backward overwrites all of dqkv; dpattern [B,H,T,T] is scratch it may use.
  virtual void attention_forward(float* pattern, float* z, const float* qkv, int64_t B, int64_t T, int64_t H,
                                 int64_t dh, float scale) {
    attention_pattern_forward(pattern, nullptr, qkv, B, T, H, dh, scale);
    attention_values_forward(z, pattern, qkv, B, T, H, dh);
  }
  virtual void attention_backward(float* dqkv, float* dpattern, const float* dz, const float* pattern, const float* qkv,
                                  int64_t B, int64_t T, int64_t H, int64_t dh, float scale) {
    attention_values_backward(dpattern, dqkv, dz, pattern, qkv, B, T, H, dh);
    attention_pattern_backward(dqkv, dpattern, pattern, qkv, B, T, H, dh, scale);
  }

  // ---- loss ---------------------------------------------------------------------------------
  // losses[N] = logsumexp(logits[n]) - logits[n, targets[n]]; lse[N] saved. targets < 0: loss 0.
  virtual void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                                     int64_t V) = 0;
  // dlogits[N,V] = (softmax(logits) - onehot(target)) * dloss[n]; rows with target < 0 get 0.
  // dlogits may alias logits (in place).
  virtual void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                                      const float* dloss, int64_t N, int64_t V) = 0;

  // ---- optimizer ----------------------------------------------------------------------------
  // Σ x² over n floats, accumulated in double, returned to the host.
  virtual double sum_squares(const float* x, int64_t n) = 0;
  // PyTorch AdamW: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; p -= lr (wd p + m̂ / (sqrt(v̂) + eps)),
  // with bias corrections for `step` (1-based). grad_scale multiplies g first (clipping).
  virtual void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                            float beta2, float eps, float weight_decay, int64_t step, float grad_scale) = 0;
  // p -= lr (g * grad_scale + wd p)
  virtual void sgd_update(float* param, const float* grad, int64_t n, float lr, float weight_decay,
                          float grad_scale) = 0;

  // ---- sums across processes on the backend's own memory (NCCL on CUDA), for data parallelism.
  // The processes' launcher (MPI) carries collective_id()'s bytes from rank 0 to every rank, each
  // joins with them, then all_reduce_sum adds n floats in place over the joined processes (every one
  // calls it, in the same order). A backend without such collectives (the CPU's: MPI reads its memory
  // directly) returns "" from collective_id(), and the caller moves the data itself.
  virtual std::string collective_id() { return ""; }
  virtual void join_collective(const std::string& id, int rank, int size);
  virtual void all_reduce_sum(float* data, int64_t n);
};

// OpenMP threads a CPU backend takes: 0 (every core) to kMaxCpuThreads. More is a typo, and far
// more (10^5) crashes libgomp when it cannot create them.
constexpr int kMaxCpuThreads = 1024;
// InputError naming `option` unless threads is in [0, kMaxCpuThreads]. Commands call it while
// checking their options, before any work.
void require_cpu_threads(int threads, const std::string& option = "--threads");

// The CPU backend with `threads` OpenMP threads (0 = all cores); require_cpu_threads first.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);
// The CUDA backend on device `ordinal`; InputError when headlab was built without CUDA or no GPU.
std::unique_ptr<Backend> make_cuda_backend(int ordinal = 0);
std::unique_ptr<Backend> make_backend(Device d, int threads = 0);

}  // namespace headlab
