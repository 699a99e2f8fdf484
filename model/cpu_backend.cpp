// The CPU backend: oneDNN for the matrix products, OpenMP loops (model/cpu/) for the rest.
// Every call first sets this backend's thread count, so two backends with different counts can
// live in one process (oneDNN reads the same OpenMP setting).
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/errors.h"
#include "model/backend.h"
#include "model/cpu/activation.h"
#include "model/cpu/adamw.h"
#include "model/cpu/attention.h"
#include "model/cpu/block_pool.h"
#include "model/cpu/cross_entropy.h"
#include "model/cpu/elementwise.h"
#include "model/cpu/embedding.h"
#include "model/cpu/layernorm.h"
#include "model/cpu/matmul.h"
#include "model/cpu/norm_heads.h"
#include "model/cpu/rmsnorm.h"
#include "model/cpu/rotary.h"

namespace headlab {

namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads) { omp_set_num_threads(threads_); }

  Device device() const override { return Device::cpu; }
  std::string name() const override {
    const dnnl_version_t* v = dnnl_version();
    return "cpu (" + std::to_string(threads_) + (threads_ == 1 ? " thread" : " threads") + ", oneDNN " +
           std::to_string(v->major) + "." + std::to_string(v->minor) + ")";
  }

  // ---- memory ----
  void* alloc_bytes(size_t bytes) override {
    const size_t rounded = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;  // aligned_alloc wants whole 64s
    const bool large = rounded >= cpu::BlockPool::kSmallest;
    void* p = large ? pool_.take(rounded) : nullptr;
    if (!p) {
      p = std::aligned_alloc(64, rounded);
      if (!p) throw InternalError("cpu backend: out of memory allocating " + std::to_string(bytes) + " bytes");
      if (large) pool_.track(p, rounded);
    }
    std::memset(p, 0, rounded);
    return p;
  }
  void free_bytes(void* p) override {
    if (p && !pool_.give_back(p)) std::free(p);
  }
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override { copy(host_dst, src, bytes); }
  void copy_from_host(void* dst, const void* host_src, size_t bytes) override { copy(dst, host_src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memmove(dst, src, bytes);
  }
  void fill_zero(void* p, size_t bytes) override {
    if (bytes) std::memset(p, 0, bytes);
  }
  void synchronize() override {}  // every kernel has finished when it returns

  // ---- matrix products ----
  void matmul(float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N, int64_t K,
              Transpose ta, Transpose tb, Accumulate acc) override {
    use_threads();
    matmuls_.matmul_forward(C, A, B, bias, M, N, K, ta, tb, acc);
  }
  void bias_backward(float* dbias, const float* dout, int64_t M, int64_t N) override {
    use_threads();
    cpu::bias_backward(dbias, dout, M, N);
  }

  // ---- element-wise ----
  void add(float* out, const float* a, const float* b, int64_t n) override {
    use_threads();
    cpu::add(out, a, b, n);
  }
  void add_inplace(float* a, const float* b, int64_t n) override {
    use_threads();
    cpu::add_inplace(a, b, n);
  }
  void scale_inplace(float* a, float s, int64_t n) override {
    use_threads();
    cpu::scale_inplace(a, s, n);
  }
  void axpy(float* y, float alpha, const float* x, int64_t n) override {
    use_threads();
    cpu::axpy(y, alpha, x, n);
  }

  // ---- normalisation ----
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                         int64_t N, int64_t C, float eps) override {
    use_threads();
    cpu::layernorm_forward(out, mean, rstd, inp, weight, bias, N, C, eps);
  }
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) override {
    use_threads();
    cpu::layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
  }
  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                       float eps) override {
    use_threads();
    cpu::rmsnorm_forward(out, rstd, inp, weight, N, C, eps);
  }
  void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                        const float* rstd, int64_t N, int64_t C) override {
    use_threads();
    cpu::rmsnorm_backward(dinp, dweight, dout, inp, weight, rstd, N, C);
  }

  void norm_backward_heads(Normalization norm, float* dinp, int64_t head_stride, int64_t row_stride, Accumulate acc,
                           float* dsum, float* dweight, float* dbias, const float* dout, const float* inp,
                           const float* weight, const float* mean, const float* rstd, int64_t n, int64_t N, int64_t C,
                           float*) override {
    use_threads();
    cpu::norm_backward_heads(norm, dinp, head_stride, row_stride, acc == Accumulate::add, dsum, dweight, dbias, dout,
                             inp, weight, mean, rstd, n, N, C);
  }

  // ---- activation ----
  void activation_forward(float* out, const float* inp, int64_t n, ActFn fn) override {
    use_threads();
    cpu::activation_forward(out, inp, n, fn);
  }
  void activation_backward(float* dinp, const float* dout, const float* inp, int64_t n, ActFn fn) override {
    use_threads();
    cpu::activation_backward(dinp, dout, inp, n, fn);
  }

  // ---- embeddings ----
  void embedding_forward(float* out, const int32_t* tokens, const float* W_E, int64_t BT, int64_t D) override {
    use_threads();
    cpu::embedding_forward(out, tokens, W_E, BT, D);
  }
  void embedding_backward(float* dW_E, const float* dout, const int32_t* tokens, int64_t BT, int64_t D) override {
    use_threads();
    cpu::embedding_backward(dW_E, dout, tokens, BT, D);
  }
  void pos_embedding_forward(float* out, const float* W_pos, int64_t B, int64_t T, int64_t D) override {
    use_threads();
    cpu::pos_embedding_forward(out, W_pos, B, T, D);
  }
  void pos_embedding_backward(float* dW_pos, const float* dout, int64_t B, int64_t T, int64_t D) override {
    use_threads();
    cpu::pos_embedding_backward(dW_pos, dout, B, T, D);
  }

  // ---- rotary ----
  void rotary_forward(float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                      float base) override {
    use_threads();
    cpu::rotary_forward(x, B, T, n_heads, dh, row_stride, base);
  }
  void rotary_backward(float* dx, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                       float base) override {
    use_threads();
    cpu::rotary_backward(dx, B, T, n_heads, dh, row_stride, base);
  }

  // ---- attention ----
  void attention_pattern_forward(float* pattern, float* scores, const float* qkv, int64_t B, int64_t T, int64_t H,
                                 int64_t dh, float scale) override {
    use_threads();
    cpu::attention_pattern_forward(pattern, scores, qkv, B, T, H, dh, scale);
  }
  void attention_values_forward(float* z, const float* pattern, const float* qkv, int64_t B, int64_t T, int64_t H,
                                int64_t dh) override {
    use_threads();
    cpu::attention_values_forward(z, pattern, qkv, B, T, H, dh);
  }
  void attention_values_backward(float* dpattern, float* dqkv, const float* dz, const float* pattern, const float* qkv,
                                 int64_t B, int64_t T, int64_t H, int64_t dh) override {
    use_threads();
    cpu::attention_values_backward(dpattern, dqkv, dz, pattern, qkv, B, T, H, dh);
  }
  void attention_pattern_backward(float* dqkv, float* dpattern, const float* pattern, const float* qkv, int64_t B,
                                  int64_t T, int64_t H, int64_t dh, float scale) override {
    use_threads();
    cpu::attention_pattern_backward(dqkv, dpattern, pattern, qkv, B, T, H, dh, scale);
  }

  void attention_forward(float* pattern, float* z, const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh,
                         float scale) override {
    use_threads();
    cpu::attention_forward(pattern, z, qkv, B, T, H, dh, scale);
  }
  void attention_backward(float* dqkv, float* dpattern, const float* dz, const float* pattern, const float* qkv,
                          int64_t B, int64_t T, int64_t H, int64_t dh, float scale) override {
    use_threads();
    cpu::attention_backward(dqkv, dz, pattern, qkv, B, T, H, dh, scale);  // per-thread scratch, not dpattern
  }

  // ---- loss ----
  void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                             int64_t V) override {
    use_threads();
    cpu::cross_entropy_forward(losses, lse, logits, targets, N, V);
  }
  void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                              const float* dloss, int64_t N, int64_t V) override {
    use_threads();
    cpu::cross_entropy_backward(dlogits, logits, lse, targets, dloss, N, V);
  }

  // ---- optimizer ----
  double sum_squares(const float* x, int64_t n) override {
    use_threads();
    return cpu::sum_squares(x, n);
  }
  void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int64_t step, float grad_scale) override {
    use_threads();
    cpu::adamw_update(param, grad, m, v, n, lr, beta1, beta2, eps, weight_decay, step, grad_scale);
  }
  void sgd_update(float* param, const float* grad, int64_t n, float lr, float weight_decay, float grad_scale) override {
    use_threads();
    cpu::sgd_update(param, grad, n, lr, weight_decay, grad_scale);
  }

 private:
  void use_threads() const { omp_set_num_threads(threads_); }

  int threads_;
  cpu::MatmulPrimitives matmuls_;
  cpu::BlockPool pool_;
};

}  // namespace

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  throw InputError("device '" + s + "'", "expected cpu or cuda");
}

std::string to_string(Device d) { return d == Device::cuda ? "cuda" : "cpu"; }

void require_cpu_threads(int threads, const std::string& option) {
  if (threads < 0 || threads > kMaxCpuThreads)
    throw InputError(option, "expected an integer in [0, " + std::to_string(kMaxCpuThreads) +
                                 "] (0 = every core), got " + std::to_string(threads));
}

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  require_cpu_threads(threads);
  return std::make_unique<CpuBackend>(threads == 0 ? omp_get_num_procs() : threads);
}

std::unique_ptr<Backend> make_backend(Device d, int threads) {
  return d == Device::cuda ? make_cuda_backend(0) : make_cpu_backend(threads);
}

void Backend::join_collective(const std::string&, int, int) {
  throw InternalError(name() + " has no collectives of its own (its collective_id() is empty)");
}

void Backend::all_reduce_sum(float*, int64_t) {
  throw InternalError(name() + " has no collectives of its own (its collective_id() is empty)");
}

}  // namespace headlab
