// A Backend that forwards every call to another one and adds up the wall and process CPU time
// each kernel takes, by kernel name (matmuls also by shape): the per-kernel breakdown of the
// training-step benchmark. It times only; the wrapped backend computes. CPU time is the steadier
// figure on a loaded machine (it leaves out the time other processes held the cores).
#pragma once
#include <time.h>

#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "model/backend.h"

namespace headlab::bench {

class TimingBackend final : public Backend {
 public:
  struct Total {
    double seconds = 0;
    double cpu_seconds = 0;  // all threads together
    double flops = 0;        // matmuls only
    int64_t calls = 0;
  };

  explicit TimingBackend(Backend& inner) : in_(inner) {}
  const std::map<std::string, Total>& totals() const { return totals_; }
  void reset() { totals_.clear(); }

  Device device() const override { return in_.device(); }
  std::string name() const override { return in_.name(); }

  void* alloc_bytes(size_t bytes) override { return in_.alloc_bytes(bytes); }
  void free_bytes(void* p) override { in_.free_bytes(p); }
  void copy_to_host(void* d, const void* s, size_t n) override {
    time("copy", [&] { in_.copy_to_host(d, s, n); });
  }
  void copy_from_host(void* d, const void* s, size_t n) override {
    time("copy", [&] { in_.copy_from_host(d, s, n); });
  }
  void copy(void* d, const void* s, size_t n) override {
    time("copy", [&] { in_.copy(d, s, n); });
  }
  void fill_zero(void* p, size_t n) override {
    time("fill_zero", [&] { in_.fill_zero(p, n); });
  }
  void synchronize() override { in_.synchronize(); }
  void copy_rows(float* dst, int64_t ds, const float* src, int64_t ss, int64_t rows, int64_t width) override {
    time("copy_rows", [&] { in_.copy_rows(dst, ds, src, ss, rows, width); });
  }

  void matmul(float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N, int64_t K,
              Transpose ta, Transpose tb, Accumulate acc) override {
    const std::string key = "matmul " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) +
                            (ta == Transpose::yes ? " A^T" : "") + (tb == Transpose::yes ? " B^T" : "") +
                            (acc == Accumulate::add ? " +=" : "");
    time(
        key, [&] { in_.matmul(C, A, B, bias, M, N, K, ta, tb, acc); }, 2.0 * double(M) * double(N) * double(K));
  }
  void bias_backward(float* db, const float* dout, int64_t M, int64_t N) override {
    time("bias_backward", [&] { in_.bias_backward(db, dout, M, N); });
  }

  void add(float* out, const float* a, const float* b, int64_t n) override {
    time("add", [&] { in_.add(out, a, b, n); });
  }
  void add_inplace(float* a, const float* b, int64_t n) override {
    time("add_inplace", [&] { in_.add_inplace(a, b, n); });
  }
  void scale_inplace(float* a, float s, int64_t n) override {
    time("scale_inplace", [&] { in_.scale_inplace(a, s, n); });
  }
  void axpy(float* y, float alpha, const float* x, int64_t n) override {
    time("axpy", [&] { in_.axpy(y, alpha, x, n); });
  }

  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                         int64_t N, int64_t C, float eps) override {
    time("layernorm_forward", [&] { in_.layernorm_forward(out, mean, rstd, inp, w, b, N, C, eps); });
  }
  void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                          const float* mean, const float* rstd, int64_t N, int64_t C) override {
    time("layernorm_backward", [&] { in_.layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C); });
  }
  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N, int64_t C,
                       float eps) override {
    time("rmsnorm_forward", [&] { in_.rmsnorm_forward(out, rstd, inp, w, N, C, eps); });
  }
  void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, const float* rstd,
                        int64_t N, int64_t C) override {
    time("rmsnorm_backward", [&] { in_.rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C); });
  }

  void activation_forward(float* out, const float* inp, int64_t n, ActFn fn) override {
    time("activation_forward", [&] { in_.activation_forward(out, inp, n, fn); });
  }
  void activation_backward(float* dinp, const float* dout, const float* inp, int64_t n, ActFn fn) override {
    time("activation_backward", [&] { in_.activation_backward(dinp, dout, inp, n, fn); });
  }

  void embedding_forward(float* out, const int32_t* t, const float* W, int64_t BT, int64_t D) override {
    time("embedding_forward", [&] { in_.embedding_forward(out, t, W, BT, D); });
  }
  void embedding_backward(float* dW, const float* dout, const int32_t* t, int64_t BT, int64_t D) override {
    time("embedding_backward", [&] { in_.embedding_backward(dW, dout, t, BT, D); });
  }
  void pos_embedding_forward(float* out, const float* W, int64_t B, int64_t T, int64_t D) override {
    time("pos_embedding_forward", [&] { in_.pos_embedding_forward(out, W, B, T, D); });
  }
  void pos_embedding_backward(float* dW, const float* dout, int64_t B, int64_t T, int64_t D) override {
    time("pos_embedding_backward", [&] { in_.pos_embedding_backward(dW, dout, B, T, D); });
  }

  void rotary_forward(float* x, int64_t B, int64_t T, int64_t H, int64_t dh, int64_t rs, float base) override {
    time("rotary_forward", [&] { in_.rotary_forward(x, B, T, H, dh, rs, base); });
  }
  void rotary_backward(float* dx, int64_t B, int64_t T, int64_t H, int64_t dh, int64_t rs, float base) override {
    time("rotary_backward", [&] { in_.rotary_backward(dx, B, T, H, dh, rs, base); });
  }

  void attention_pattern_forward(float* pattern, float* scores, const float* qkv, int64_t B, int64_t T, int64_t H,
                                 int64_t dh, float scale) override {
    time("attention_pattern_forward", [&] { in_.attention_pattern_forward(pattern, scores, qkv, B, T, H, dh, scale); });
  }
  void attention_values_forward(float* z, const float* pattern, const float* qkv, int64_t B, int64_t T, int64_t H,
                                int64_t dh) override {
    time("attention_values_forward", [&] { in_.attention_values_forward(z, pattern, qkv, B, T, H, dh); });
  }
  void attention_values_backward(float* dpattern, float* dqkv, const float* dz, const float* pattern, const float* qkv,
                                 int64_t B, int64_t T, int64_t H, int64_t dh) override {
    time("attention_values_backward",
         [&] { in_.attention_values_backward(dpattern, dqkv, dz, pattern, qkv, B, T, H, dh); });
  }
  void attention_pattern_backward(float* dqkv, float* dpattern, const float* pattern, const float* qkv, int64_t B,
                                  int64_t T, int64_t H, int64_t dh, float scale) override {
    time("attention_pattern_backward",
         [&] { in_.attention_pattern_backward(dqkv, dpattern, pattern, qkv, B, T, H, dh, scale); });
  }

  void attention_forward(float* pattern, float* z, const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh,
                         float scale) override {
    time("attention_forward", [&] { in_.attention_forward(pattern, z, qkv, B, T, H, dh, scale); });
  }
  void attention_backward(float* dqkv, float* dpattern, const float* dz, const float* pattern, const float* qkv,
                          int64_t B, int64_t T, int64_t H, int64_t dh, float scale) override {
    time("attention_backward", [&] { in_.attention_backward(dqkv, dpattern, dz, pattern, qkv, B, T, H, dh, scale); });
  }

  void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                             int64_t V) override {
    time("cross_entropy_forward", [&] { in_.cross_entropy_forward(losses, lse, logits, targets, N, V); });
  }
  void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                              const float* dloss, int64_t N, int64_t V) override {
    time("cross_entropy_backward", [&] { in_.cross_entropy_backward(dlogits, logits, lse, targets, dloss, N, V); });
  }

  double sum_squares(const float* x, int64_t n) override {
    double r = 0;
    time("sum_squares", [&] { r = in_.sum_squares(x, n); });
    return r;
  }
  void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float b1, float b2, float eps,
                    float wd, int64_t step, float gs) override {
    time("adamw_update", [&] { in_.adamw_update(p, g, m, v, n, lr, b1, b2, eps, wd, step, gs); });
  }
  void sgd_update(float* p, const float* g, int64_t n, float lr, float wd, float gs) override {
    time("sgd_update", [&] { in_.sgd_update(p, g, n, lr, wd, gs); });
  }

 private:
  static double cpu_now() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
  }
  template <typename F>
  void time(const std::string& key, F&& f, double flops = 0) {
    const double c0 = cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Total& t = totals_[key];
    t.seconds += dt;
    t.cpu_seconds += cpu_now() - c0;
    t.flops += flops;
    t.calls += 1;
  }

  Backend& in_;
  std::map<std::string, Total> totals_;
};

}  // namespace headlab::bench
