// Every CUDA kernel against its CPU twin, both through the Backend interface, on the same random
// inputs of awkward sizes (not multiples of 32 or 128, partial tiles everywhere), forward and
// backward; plus the CUDA-only extras (fused attention, bf16 products) and bitwise
// reproducibility of the reductions. Every test skips where there is no GPU (or no CUDA build).
//
// Tolerances (f32): element-wise kernels agree to a few ulp (rtol 1e-5, atol 1e-6); reductions
// over rows or columns and products sum in other orders, so rtol 1e-5 with atol 1e-5 for sums of
// up to ~200 terms of order 1 (the rounding of such a sum is ~sqrt(n)·6e-8·|terms| ≈ 1e-6, ten
// times under); attention, whose exps and divisions compound, rtol 1e-4, atol 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "model/backend.h"
#include "tests/model/cpu_test_util.h"
#ifdef HEADLAB_HAVE_CUDA
#include "model/cuda/cuda_backend.cuh"
#endif

namespace headlab {
namespace {

using testing::all_near;
using testing::random_floats;

// ---- fixtures -------------------------------------------------------------------------------------

// The CUDA backend on GPU 0, or nullptr and why not.
std::unique_ptr<Backend> cuda_backend_or_reason(std::string* why) {
#ifdef HEADLAB_HAVE_CUDA
  try {
    return make_cuda_backend(0);
  } catch (const InputError& e) {
    *why = e.what();
    return nullptr;
  }
#else
  *why = "headlab was built without CUDA";
  return nullptr;
#endif
}

// An array in one backend's memory, freed with it.
template <typename T>
class Buffer {
 public:
  Buffer(Backend& be, size_t n) : be_(&be), n_(n), p_(static_cast<T*>(be.alloc_bytes(n * sizeof(T)))) {}
  Buffer(Backend& be, const std::vector<T>& init) : Buffer(be, init.size()) {
    be.copy_from_host(p_, init.data(), n_ * sizeof(T));
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { be_->free_bytes(p_); }
  T* get() { return p_; }
  std::vector<T> values() const {
    std::vector<T> v(n_);
    be_->copy_to_host(v.data(), p_, n_ * sizeof(T));
    return v;
  }

 private:
  Backend* be_;
  size_t n_;
  T* p_;
};

// The same array in both backends, starting from the same values.
template <typename T>
struct Twin {
  Buffer<T> cpu, gpu;
  Twin(Backend& cpu_be, Backend& gpu_be, const std::vector<T>& init) : cpu(cpu_be, init), gpu(gpu_be, init) {}
  T* c() { return cpu.get(); }
  T* g() { return gpu.get(); }
};

class CudaTwinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    gpu_ = cuda_backend_or_reason(&why);
    if (!gpu_) GTEST_SKIP() << "no CUDA GPU: " << why;
    cpu_ = make_cpu_backend(2);
  }
  Backend& cpu() { return *cpu_; }
  Backend& gpu() { return *gpu_; }
#ifdef HEADLAB_HAVE_CUDA
  CudaBackend& cuda() { return dynamic_cast<CudaBackend&>(*gpu_); }
#endif
  template <typename T>
  Twin<T> twin(const std::vector<T>& init) {
    return Twin<T>(*cpu_, *gpu_, init);
  }
  Twin<float> twin_random(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    return twin(random_floats(n, seed, lo, hi));
  }
  // GPU against CPU values of one twin.
  template <typename T>
  ::testing::AssertionResult agree(const Twin<T>& t, double rtol, double atol) {
    return all_near(t.gpu.values(), t.cpu.values(), rtol, atol);
  }

  std::unique_ptr<Backend> cpu_, gpu_;
};

// One fixture, named per unit as the test names want.
using CudaBackendTest = CudaTwinTest;
using CudaMatmulTest = CudaTwinTest;
using CudaElementwiseTest = CudaTwinTest;
using CudaLayerNormTest = CudaTwinTest;
using CudaRmsNormTest = CudaTwinTest;
using CudaActivationTest = CudaTwinTest;
using CudaEmbeddingTest = CudaTwinTest;
using CudaRotaryTest = CudaTwinTest;
using CudaAttentionTest = CudaTwinTest;
using CudaFlashAttentionTest = CudaTwinTest;
using CudaCrossEntropyTest = CudaTwinTest;
using CudaOptimizerTest = CudaTwinTest;
using CudaDeterminismTest = CudaTwinTest;

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Cells equal to ±inf in both become 0, so all_near compares the finite rest; an infinity on one
// side only stays and fails.
void neutralise_shared_infinities(std::vector<float>& a, std::vector<float>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (std::isinf(a[i]) && a[i] == b[i]) a[i] = b[i] = 0.0f;
}

// ---- memory ---------------------------------------------------------------------------------------

TEST_F(CudaBackendTest, MemoryRoundTripsCopiesAndZeroes) {
  const std::vector<float> host = random_floats(1001, 1);
  Buffer<float> a(gpu(), host.size()), b(gpu(), host.size());
  EXPECT_EQ(a.values(), std::vector<float>(host.size(), 0.0f));  // alloc_bytes zero-fills
  gpu().copy_from_host(a.get(), host.data(), host.size() * sizeof(float));
  EXPECT_EQ(a.values(), host);
  gpu().copy(b.get(), a.get(), host.size() * sizeof(float));
  EXPECT_EQ(b.values(), host);
  gpu().fill_zero(a.get() + 3, 10 * sizeof(float));
  std::vector<float> expected = host;
  std::fill(expected.begin() + 3, expected.begin() + 13, 0.0f);
  EXPECT_EQ(a.values(), expected);
  EXPECT_EQ(gpu().device(), Device::cuda);
  EXPECT_NE(gpu().name().find("cuda:0"), std::string::npos) << gpu().name();
}

// Runs where there is NO GPU (and CUDA was built): asking for one is an input error that says why.
TEST(CudaBackendFactoryTest, WithoutGpuIsAnInputError) {
#ifdef HEADLAB_HAVE_CUDA
  std::unique_ptr<Backend> gpu;
  try {
    gpu = make_cuda_backend(0);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--device cuda: no CUDA GPU is available: "), std::string::npos) << e.what();
    return;
  }
  GTEST_SKIP() << "a CUDA GPU is present: " << gpu->name();
#else
  GTEST_SKIP() << "no CUDA GPU: headlab was built without CUDA";
#endif
}

TEST(CudaBackendFactoryTest, MissingOrdinalIsAnInputError) {
#ifdef HEADLAB_HAVE_CUDA
  EXPECT_THROW(make_cuda_backend(999), InputError);
  EXPECT_THROW(make_cuda_backend(-1), InputError);
#else
  GTEST_SKIP() << "no CUDA GPU: headlab was built without CUDA";
#endif
}

// ---- matmul ---------------------------------------------------------------------------------------

TEST_F(CudaMatmulTest, MatchesCpuForEveryTransposeWithBiasAndAccumulate) {
  const int64_t M = 67, N = 45, K = 83;
  for (Transpose ta : {Transpose::no, Transpose::yes}) {
    for (Transpose tb : {Transpose::no, Transpose::yes}) {
      SCOPED_TRACE(std::string("ta ") + (ta == Transpose::yes ? "yes" : "no") + ", tb " +
                   (tb == Transpose::yes ? "yes" : "no"));
      auto A = twin_random(M * K, 1), B = twin_random(K * N, 2), bias = twin_random(N, 3);  // [M,K] [K,N] [N]
      auto C = twin_random(M * N, 4);                                                       // [M,N]
      for (Backend* be : {&cpu(), &gpu()}) {
        const bool on_gpu = be == &gpu();
        be->matmul(on_gpu ? C.g() : C.c(), on_gpu ? A.g() : A.c(), on_gpu ? B.g() : B.c(), on_gpu ? bias.g() : bias.c(),
                   M, N, K, ta, tb, Accumulate::overwrite);
      }
      EXPECT_TRUE(agree(C, 1e-5, 1e-5)) << "overwrite with bias";
      for (Backend* be : {&cpu(), &gpu()}) {
        const bool on_gpu = be == &gpu();
        be->matmul(on_gpu ? C.g() : C.c(), on_gpu ? A.g() : A.c(), on_gpu ? B.g() : B.c(), nullptr, M, N, K, ta, tb,
                   Accumulate::add);
      }
      EXPECT_TRUE(agree(C, 1e-5, 2e-5)) << "accumulate";
    }
  }
}

// Operands at odd float offsets (inside a parameter arena) must not meet an algorithm that
// assumes 16-byte alignment; the bias too.
TEST_F(CudaMatmulTest, HandlesOperandsAtOddOffsets) {
  const int64_t M = 33, N = 17, K = 29;
  auto A = twin_random(M * K + 1, 5), B = twin_random(K * N + 3, 6), bias = twin_random(N + 1, 7);
  auto C = twin_random(M * N + 1, 8);
  cpu().matmul(C.c() + 1, A.c() + 1, B.c() + 3, bias.c() + 1, M, N, K, Transpose::no, Transpose::yes,
               Accumulate::overwrite);
  gpu().matmul(C.g() + 1, A.g() + 1, B.g() + 3, bias.g() + 1, M, N, K, Transpose::no, Transpose::yes,
               Accumulate::overwrite);
  EXPECT_TRUE(agree(C, 1e-5, 1e-5));
}

TEST_F(CudaMatmulTest, EmptyInnerDimensionGivesTheBias) {
  const int64_t M = 5, N = 7;
  auto A = twin_random(1, 9), B = twin_random(1, 10), bias = twin_random(N, 11), C = twin_random(M * N, 12);
  cpu().matmul(C.c(), A.c(), B.c(), bias.c(), M, N, 0, Transpose::no, Transpose::no, Accumulate::overwrite);
  gpu().matmul(C.g(), A.g(), B.g(), bias.g(), M, N, 0, Transpose::no, Transpose::no, Accumulate::overwrite);
  EXPECT_TRUE(agree(C, 0.0, 0.0));
}

TEST_F(CudaMatmulTest, BiasBackwardMatchesCpuAndAccumulates) {
  const int64_t M = 1237, N = 45;  // several row chunks
  auto dout = twin_random(M * N, 13), dbias = twin_random(N, 14);
  cpu().bias_backward(dbias.c(), dout.c(), M, N);
  gpu().bias_backward(dbias.g(), dout.g(), M, N);
  EXPECT_TRUE(agree(dbias, 1e-5, 1e-4));  // sums of 1237 terms
}

#ifdef HEADLAB_HAVE_CUDA
// bf16 round to nearest even, as bits and as the float it stands for.
uint16_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float bf16_value(float x) {
  const uint32_t u = uint32_t{bf16_bits(x)} << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Products of bf16 numbers are exact in f32, so bf16 inputs with f32 accumulation must match the
// f32 product of the rounded inputs to summation order.
TEST_F(CudaMatmulTest, Bf16MatchesCpuOnRoundedInputs) {
  const int64_t M = 41, N = 75, K = 99;
  const std::vector<float> a = random_floats(M * K, 15), b = random_floats(N * K, 16);  // A [M,K], B [N,K]
  std::vector<float> a_rounded(a.size()), b_rounded(b.size());
  std::vector<uint16_t> a_bits(a.size());
  for (size_t i = 0; i < a.size(); ++i) a_rounded[i] = bf16_value(a[i]), a_bits[i] = bf16_bits(a[i]);
  for (size_t i = 0; i < b.size(); ++i) b_rounded[i] = bf16_value(b[i]);

  Buffer<float> a_gpu(gpu(), a), b_gpu(gpu(), b), bias_gpu(gpu(), random_floats(N, 17)), c_gpu(gpu(), M * N);
  Buffer<uint16_t> a16(gpu(), a.size()), b16(gpu(), b.size());
  cuda().to_bf16(a16.get(), a_gpu.get(), M * K);
  cuda().to_bf16(b16.get(), b_gpu.get(), N * K);
  EXPECT_EQ(a16.values(), a_bits);
  cuda().matmul_bf16(c_gpu.get(), a16.get(), b16.get(), bias_gpu.get(), M, N, K, Transpose::no, Transpose::yes,
                     Accumulate::overwrite);

  Buffer<float> a_cpu(cpu(), a_rounded), b_cpu(cpu(), b_rounded), bias_cpu(cpu(), random_floats(N, 17)),
      c_cpu(cpu(), M * N);
  cpu().matmul(c_cpu.get(), a_cpu.get(), b_cpu.get(), bias_cpu.get(), M, N, K, Transpose::no, Transpose::yes,
               Accumulate::overwrite);
  EXPECT_TRUE(all_near(c_gpu.values(), c_cpu.values(), 1e-5, 1e-5));
}
#endif

// ---- element-wise ---------------------------------------------------------------------------------

TEST_F(CudaElementwiseTest, AddScaleAxpyMatchCpu) {
  const int64_t n = 1001;
  auto a = twin_random(n, 20), b = twin_random(n, 21), out = twin_random(n, 22);
  cpu().add(out.c(), a.c(), b.c(), n);
  gpu().add(out.g(), a.g(), b.g(), n);
  EXPECT_TRUE(agree(out, 0.0, 0.0));  // one rounding, the same on both
  cpu().add_inplace(a.c(), b.c(), n);
  gpu().add_inplace(a.g(), b.g(), n);
  EXPECT_TRUE(agree(a, 0.0, 0.0));
  cpu().scale_inplace(a.c(), -1.7f, n);
  gpu().scale_inplace(a.g(), -1.7f, n);
  EXPECT_TRUE(agree(a, 0.0, 0.0));
  cpu().axpy(a.c(), 0.3f, b.c(), n);  // fused or not: one ulp
  gpu().axpy(a.g(), 0.3f, b.g(), n);
  EXPECT_TRUE(agree(a, 1e-6, 1e-7));
}

// ---- normalisation --------------------------------------------------------------------------------

TEST_F(CudaLayerNormTest, ForwardAndBackwardMatchCpu) {
  const int64_t N = 131, C = 203;
  const float eps = 1e-5f;
  auto inp = twin_random(N * C, 30, 1.0f, 4.0f);  // [N,C], mean far from 0
  auto weight = twin_random(C, 31), bias = twin_random(C, 32);
  auto out = twin_random(N * C, 33), mean = twin_random(N, 34), rstd = twin_random(N, 35);
  cpu().layernorm_forward(out.c(), mean.c(), rstd.c(), inp.c(), weight.c(), bias.c(), N, C, eps);
  gpu().layernorm_forward(out.g(), mean.g(), rstd.g(), inp.g(), weight.g(), bias.g(), N, C, eps);
  EXPECT_TRUE(agree(out, 1e-5, 1e-5));
  EXPECT_TRUE(agree(mean, 1e-5, 1e-6));  // a mean of 203 values near 2.5: sums rounded differently
  EXPECT_TRUE(agree(rstd, 1e-5, 0.0));

  auto dout = twin_random(N * C, 36), dinp = twin_random(N * C, 37);
  auto dweight = twin_random(C, 38), dbias = twin_random(C, 39);  // non-zero: backward adds into them
  cpu().layernorm_backward(dinp.c(), dweight.c(), dbias.c(), dout.c(), inp.c(), weight.c(), mean.c(), rstd.c(), N, C);
  gpu().layernorm_backward(dinp.g(), dweight.g(), dbias.g(), dout.g(), inp.g(), weight.g(), mean.g(), rstd.g(), N, C);
  EXPECT_TRUE(agree(dinp, 1e-4, 1e-5));
  EXPECT_TRUE(agree(dweight, 1e-5, 1e-5));
  EXPECT_TRUE(agree(dbias, 1e-5, 1e-5));
}

TEST_F(CudaLayerNormTest, BackwardInPlaceOverDoutMatchesCpu) {
  const int64_t N = 37, C = 75;
  auto inp = twin_random(N * C, 40), weight = twin_random(C, 41), bias = twin_random(C, 42);
  auto out = twin_random(N * C, 43), mean = twin_random(N, 44), rstd = twin_random(N, 45);
  cpu().layernorm_forward(out.c(), mean.c(), rstd.c(), inp.c(), weight.c(), bias.c(), N, C, 1e-5f);
  gpu().layernorm_forward(out.g(), mean.g(), rstd.g(), inp.g(), weight.g(), bias.g(), N, C, 1e-5f);
  auto grad = twin_random(N * C, 46), dweight = twin_random(C, 47), dbias = twin_random(C, 48);
  cpu().layernorm_backward(grad.c(), dweight.c(), dbias.c(), grad.c(), inp.c(), weight.c(), mean.c(), rstd.c(), N, C);
  gpu().layernorm_backward(grad.g(), dweight.g(), dbias.g(), grad.g(), inp.g(), weight.g(), mean.g(), rstd.g(), N, C);
  EXPECT_TRUE(agree(grad, 1e-4, 1e-5));
  EXPECT_TRUE(agree(dweight, 1e-5, 1e-5));
  EXPECT_TRUE(agree(dbias, 1e-5, 1e-5));
}

TEST_F(CudaRmsNormTest, ForwardAndBackwardMatchCpu) {
  const int64_t N = 131, C = 203;
  auto inp = twin_random(N * C, 50, -2.0f, 2.0f), weight = twin_random(C, 51);
  auto out = twin_random(N * C, 52), rstd = twin_random(N, 53);
  cpu().rmsnorm_forward(out.c(), rstd.c(), inp.c(), weight.c(), N, C, 1e-5f);
  gpu().rmsnorm_forward(out.g(), rstd.g(), inp.g(), weight.g(), N, C, 1e-5f);
  EXPECT_TRUE(agree(out, 1e-5, 1e-6));
  EXPECT_TRUE(agree(rstd, 1e-5, 0.0));
  auto dout = twin_random(N * C, 54), dinp = twin_random(N * C, 55), dweight = twin_random(C, 56);
  cpu().rmsnorm_backward(dinp.c(), dweight.c(), dout.c(), inp.c(), weight.c(), rstd.c(), N, C);
  gpu().rmsnorm_backward(dinp.g(), dweight.g(), dout.g(), inp.g(), weight.g(), rstd.g(), N, C);
  EXPECT_TRUE(agree(dinp, 1e-4, 1e-5));
  EXPECT_TRUE(agree(dweight, 1e-5, 1e-5));
}

// ---- activations ----------------------------------------------------------------------------------

TEST_F(CudaActivationTest, ForwardAndBackwardMatchCpuForEveryFunction) {
  const int64_t n = 4099;
  for (ActFn fn : {ActFn::gelu_new, ActFn::gelu, ActFn::relu, ActFn::silu}) {
    SCOPED_TRACE(to_string(fn));
    auto inp = twin_random(n, 60, -6.0f, 6.0f), out = twin_random(n, 61);
    cpu().activation_forward(out.c(), inp.c(), n, fn);
    gpu().activation_forward(out.g(), inp.g(), n, fn);
    EXPECT_TRUE(agree(out, 1e-5, 1e-6));
    auto dout = twin_random(n, 62), dinp = twin_random(n, 63);
    cpu().activation_backward(dinp.c(), dout.c(), inp.c(), n, fn);
    gpu().activation_backward(dinp.g(), dout.g(), inp.g(), n, fn);
    // gelu_new's x (1 - tanh²) du term magnifies tanh's last-bit differences up to ~15 times.
    EXPECT_TRUE(agree(dinp, 1e-5, 3e-6));
  }
}

// ---- embeddings -----------------------------------------------------------------------------------

std::vector<int32_t> random_tokens(size_t n, int32_t vocab, uint32_t seed) {
  const std::vector<float> u = random_floats(n, seed, 0.0f, 1.0f);
  std::vector<int32_t> tokens(n);
  for (size_t i = 0; i < n; ++i) tokens[i] = std::min<int32_t>(vocab - 1, static_cast<int32_t>(u[i] * vocab));
  return tokens;
}

TEST_F(CudaEmbeddingTest, TokenForwardAndBackwardMatchCpu) {
  const int64_t V = 53, D = 75, BT = 3 * 41;  // ~2 positions per token: repeats everywhere
  auto tokens = twin(random_tokens(BT, V, 70));
  auto W_E = twin_random(V * D, 71), out = twin_random(BT * D, 72);
  cpu().embedding_forward(out.c(), tokens.c(), W_E.c(), BT, D);
  gpu().embedding_forward(out.g(), tokens.g(), W_E.g(), BT, D);
  EXPECT_TRUE(agree(out, 0.0, 0.0));                                   // a copy
  auto dout = twin_random(BT * D, 73), dW_E = twin_random(V * D, 74);  // dW_E accumulates
  cpu().embedding_backward(dW_E.c(), dout.c(), tokens.c(), BT, D);
  gpu().embedding_backward(dW_E.g(), dout.g(), tokens.g(), BT, D);
  EXPECT_TRUE(agree(dW_E, 1e-6, 1e-6));  // the same sums in the same (sequence) order
}

TEST_F(CudaEmbeddingTest, PositionForwardAndBackwardMatchCpu) {
  const int64_t B = 3, T = 41, D = 75;
  auto W_pos = twin_random(T * D, 75), out = twin_random(B * T * D, 76);
  cpu().pos_embedding_forward(out.c(), W_pos.c(), B, T, D);
  gpu().pos_embedding_forward(out.g(), W_pos.g(), B, T, D);
  EXPECT_TRUE(agree(out, 0.0, 0.0));
  auto dout = twin_random(B * T * D, 77), dW_pos = twin_random(T * D, 78);
  cpu().pos_embedding_backward(dW_pos.c(), dout.c(), B, T, D);
  gpu().pos_embedding_backward(dW_pos.g(), dout.g(), B, T, D);
  EXPECT_TRUE(agree(dW_pos, 1e-6, 1e-6));
}

// ---- rotary ---------------------------------------------------------------------------------------

// Rotates the q part of a qkv-like array (row stride 3*H*dh) and leaves the rest alone.
TEST_F(CudaRotaryTest, ForwardAndBackwardMatchCpuAndLeaveTheRestAlone) {
  const int64_t B = 2, T = 67, H = 3, dh = 22, stride = 3 * H * dh;
  auto x = twin_random(B * T * stride, 80);
  // Angles up to 66 rad: an ulp of difference in a frequency (powf on either side) moves a
  // rotated value by up to ~66 · 6e-8 · |x| ≈ 4e-6.
  cpu().rotary_forward(x.c(), B, T, H, dh, stride, 10000.0f);
  gpu().rotary_forward(x.g(), B, T, H, dh, stride, 10000.0f);
  EXPECT_TRUE(agree(x, 1e-5, 1e-5));
  cpu().rotary_backward(x.c(), B, T, H, dh, stride, 10000.0f);
  gpu().rotary_backward(x.g(), B, T, H, dh, stride, 10000.0f);
  EXPECT_TRUE(agree(x, 1e-5, 1e-5));
  EXPECT_TRUE(all_near(x.gpu.values(), random_floats(B * T * stride, 80), 0.0, 1e-5)) << "backward undoes forward";
}

TEST_F(CudaRotaryTest, OddHeadDimensionIsAnInputError) {
  Buffer<float> x(gpu(), 2 * 3 * 5);
  EXPECT_THROW(gpu().rotary_forward(x.get(), 1, 2, 3, 5, 15, 10000.0f), InputError);
}

// ---- attention (split) ----------------------------------------------------------------------------

struct AttentionShape {
  int64_t B = 2, T = 45, H = 3, dh = 24;
  int64_t qkv_size() const { return B * T * 3 * H * dh; }
  int64_t pattern_size() const { return B * H * T * T; }
  int64_t z_size() const { return B * T * H * dh; }
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(dh)); }
};

TEST_F(CudaAttentionTest, PatternAndScoresForwardMatchCpu) {
  const AttentionShape s;
  auto qkv = twin_random(s.qkv_size(), 90, -2.0f, 2.0f);
  auto pattern = twin_random(s.pattern_size(), 91), scores = twin_random(s.pattern_size(), 92);
  cpu().attention_pattern_forward(pattern.c(), scores.c(), qkv.c(), s.B, s.T, s.H, s.dh, s.scale());
  gpu().attention_pattern_forward(pattern.g(), scores.g(), qkv.g(), s.B, s.T, s.H, s.dh, s.scale());
  EXPECT_TRUE(agree(pattern, 1e-4, 1e-6));
  std::vector<float> gpu_scores = scores.gpu.values(), cpu_scores = scores.cpu.values();
  neutralise_shared_infinities(gpu_scores, cpu_scores);
  EXPECT_TRUE(all_near(gpu_scores, cpu_scores, 1e-5, 1e-5));
  // Without scores: the same pattern, every cell k > q exactly 0.
  auto pattern_only = twin_random(s.pattern_size(), 93);
  gpu().attention_pattern_forward(pattern_only.g(), nullptr, qkv.g(), s.B, s.T, s.H, s.dh, s.scale());
  EXPECT_TRUE(all_near(pattern_only.gpu.values(), pattern.cpu.values(), 1e-4, 1e-6));
}

TEST_F(CudaAttentionTest, ValuesForwardAndBothBackwardsMatchCpu) {
  const AttentionShape s;
  auto qkv = twin_random(s.qkv_size(), 94, -2.0f, 2.0f);
  auto pattern = twin_random(s.pattern_size(), 95);
  cpu().attention_pattern_forward(pattern.c(), nullptr, qkv.c(), s.B, s.T, s.H, s.dh, s.scale());
  gpu().attention_pattern_forward(pattern.g(), nullptr, qkv.g(), s.B, s.T, s.H, s.dh, s.scale());
  auto z = twin_random(s.z_size(), 96);
  cpu().attention_values_forward(z.c(), pattern.c(), qkv.c(), s.B, s.T, s.H, s.dh);
  gpu().attention_values_forward(z.g(), pattern.g(), qkv.g(), s.B, s.T, s.H, s.dh);
  EXPECT_TRUE(agree(z, 1e-4, 1e-5));

  // dqkv starts random: values_backward must touch only its v part, pattern_backward only q, k.
  auto dz = twin_random(s.z_size(), 97), dpattern = twin_random(s.pattern_size(), 98);
  auto dqkv = twin_random(s.qkv_size(), 99);
  cpu().attention_values_backward(dpattern.c(), dqkv.c(), dz.c(), pattern.c(), qkv.c(), s.B, s.T, s.H, s.dh);
  gpu().attention_values_backward(dpattern.g(), dqkv.g(), dz.g(), pattern.g(), qkv.g(), s.B, s.T, s.H, s.dh);
  EXPECT_TRUE(agree(dpattern, 1e-4, 1e-5)) << "dpattern (0 above the diagonal)";
  EXPECT_TRUE(agree(dqkv, 1e-4, 1e-5)) << "dv, with dq and dk untouched";
  cpu().attention_pattern_backward(dqkv.c(), dpattern.c(), pattern.c(), qkv.c(), s.B, s.T, s.H, s.dh, s.scale());
  gpu().attention_pattern_backward(dqkv.g(), dpattern.g(), pattern.g(), qkv.g(), s.B, s.T, s.H, s.dh, s.scale());
  EXPECT_TRUE(agree(dpattern, 1e-4, 1e-5)) << "dscores";
  EXPECT_TRUE(agree(dqkv, 1e-4, 1e-5)) << "dq and dk, with dv kept";
}

// ---- attention (fused, CUDA only) -----------------------------------------------------------------

#ifdef HEADLAB_HAVE_CUDA
// The fused forward against the CPU's split path: z, and lse against log Σ_{k<=q} exp(scores).
// Head sizes cover every tile width (32, 64, 128, 256) and partial tiles; T = 1 is the smallest.
TEST_F(CudaFlashAttentionTest, ForwardMatchesCpuSplitPath) {
  for (const AttentionShape s :
       {AttentionShape{2, 77, 3, 40}, AttentionShape{1, 33, 2, 24}, AttentionShape{2, 70, 2, 64},
        AttentionShape{1, 45, 2, 72}, AttentionShape{1, 37, 1, 130}, AttentionShape{3, 1, 2, 8}}) {
    SCOPED_TRACE("B " + std::to_string(s.B) + " T " + std::to_string(s.T) + " H " + std::to_string(s.H) + " dh " +
                 std::to_string(s.dh));
    const std::vector<float> qkv_host = random_floats(s.qkv_size(), 100, -2.0f, 2.0f);
    Buffer<float> qkv_cpu(cpu(), qkv_host), pattern(cpu(), s.pattern_size()), scores(cpu(), s.pattern_size()),
        z_cpu(cpu(), s.z_size());
    cpu().attention_pattern_forward(pattern.get(), scores.get(), qkv_cpu.get(), s.B, s.T, s.H, s.dh, s.scale());
    cpu().attention_values_forward(z_cpu.get(), pattern.get(), qkv_cpu.get(), s.B, s.T, s.H, s.dh);
    const std::vector<float> score_values = scores.values();
    std::vector<double> lse_ref(s.B * s.H * s.T);  // [B,H,T]
    for (int64_t row = 0; row < s.B * s.H * s.T; ++row) {
      const int64_t q = row % s.T;
      double max = -std::numeric_limits<double>::infinity(), sum = 0.0;
      for (int64_t k = 0; k <= q; ++k) max = std::max(max, double(score_values[row * s.T + k]));
      for (int64_t k = 0; k <= q; ++k) sum += std::exp(score_values[row * s.T + k] - max);
      lse_ref[row] = max + std::log(sum);
    }

    Buffer<float> qkv_gpu(gpu(), qkv_host), z_gpu(gpu(), random_floats(s.z_size(), 101)),
        lse_gpu(gpu(), s.B * s.H * s.T);
    cuda().flash_attention_forward(z_gpu.get(), lse_gpu.get(), qkv_gpu.get(), s.B, s.T, s.H, s.dh, s.scale());
    EXPECT_TRUE(all_near(z_gpu.values(), z_cpu.values(), 1e-4, 1e-5));
    EXPECT_TRUE(all_near(lse_gpu.values(), lse_ref, 1e-5, 1e-5));
  }
}

// The fused backward's dqkv (all three parts) against the CPU's values + pattern backwards.
TEST_F(CudaFlashAttentionTest, BackwardMatchesCpuSplitPath) {
  for (const AttentionShape s :
       {AttentionShape{2, 77, 3, 40}, AttentionShape{1, 70, 2, 64}, AttentionShape{1, 45, 2, 72},
        AttentionShape{1, 37, 1, 130}, AttentionShape{2, 1, 1, 8}}) {
    SCOPED_TRACE("B " + std::to_string(s.B) + " T " + std::to_string(s.T) + " H " + std::to_string(s.H) + " dh " +
                 std::to_string(s.dh));
    const std::vector<float> qkv_host = random_floats(s.qkv_size(), 102, -2.0f, 2.0f);
    const std::vector<float> dz_host = random_floats(s.z_size(), 103);
    Buffer<float> qkv_cpu(cpu(), qkv_host), dz_cpu(cpu(), dz_host), pattern(cpu(), s.pattern_size()),
        dpattern(cpu(), s.pattern_size()), dqkv_cpu(cpu(), s.qkv_size());
    cpu().attention_pattern_forward(pattern.get(), nullptr, qkv_cpu.get(), s.B, s.T, s.H, s.dh, s.scale());
    cpu().attention_values_backward(dpattern.get(), dqkv_cpu.get(), dz_cpu.get(), pattern.get(), qkv_cpu.get(), s.B,
                                    s.T, s.H, s.dh);
    cpu().attention_pattern_backward(dqkv_cpu.get(), dpattern.get(), pattern.get(), qkv_cpu.get(), s.B, s.T, s.H, s.dh,
                                     s.scale());

    Buffer<float> qkv_gpu(gpu(), qkv_host), dz_gpu(gpu(), dz_host), z_gpu(gpu(), s.z_size()),
        lse_gpu(gpu(), s.B * s.H * s.T), dqkv_gpu(gpu(), random_floats(s.qkv_size(), 104));
    cuda().flash_attention_forward(z_gpu.get(), lse_gpu.get(), qkv_gpu.get(), s.B, s.T, s.H, s.dh, s.scale());
    cuda().flash_attention_backward(dqkv_gpu.get(), dz_gpu.get(), z_gpu.get(), lse_gpu.get(), qkv_gpu.get(), s.B, s.T,
                                    s.H, s.dh, s.scale());
    EXPECT_TRUE(all_near(dqkv_gpu.values(), dqkv_cpu.values(), 1e-4, 2e-5));
  }
}

TEST_F(CudaFlashAttentionTest, HeadDimensionAbove256IsAnInputError) {
  const AttentionShape s{1, 3, 1, 257};
  Buffer<float> qkv(gpu(), s.qkv_size()), z(gpu(), s.z_size()), lse(gpu(), s.B * s.H * s.T);
  EXPECT_THROW(cuda().flash_attention_forward(z.get(), lse.get(), qkv.get(), s.B, s.T, s.H, s.dh, s.scale()),
               InputError);
}
#endif

// ---- cross-entropy --------------------------------------------------------------------------------

TEST_F(CudaCrossEntropyTest, ForwardAndBackwardMatchCpuWithPaddingRows) {
  const int64_t N = 37, V = 1001;
  std::vector<int32_t> targets_host = random_tokens(N, V, 110);
  targets_host[3] = targets_host[20] = -1;  // padding rows: loss 0, gradient 0
  auto targets = twin(targets_host);
  auto logits = twin_random(N * V, 111, -5.0f, 5.0f);
  auto losses = twin_random(N, 112), lse = twin_random(N, 113);
  cpu().cross_entropy_forward(losses.c(), lse.c(), logits.c(), targets.c(), N, V);
  gpu().cross_entropy_forward(losses.g(), lse.g(), logits.g(), targets.g(), N, V);
  EXPECT_TRUE(agree(lse, 1e-6, 1e-6));
  EXPECT_TRUE(agree(losses, 1e-5, 1e-5));
  EXPECT_EQ(losses.gpu.values()[3], 0.0f);

  auto dloss = twin_random(N, 114), dlogits = twin_random(N * V, 115);
  cpu().cross_entropy_backward(dlogits.c(), logits.c(), lse.c(), targets.c(), dloss.c(), N, V);
  gpu().cross_entropy_backward(dlogits.g(), logits.g(), lse.g(), targets.g(), dloss.g(), N, V);
  EXPECT_TRUE(agree(dlogits, 1e-5, 1e-7));
  // In place over the logits, as the model does.
  cpu().cross_entropy_backward(logits.c(), logits.c(), lse.c(), targets.c(), dloss.c(), N, V);
  gpu().cross_entropy_backward(logits.g(), logits.g(), lse.g(), targets.g(), dloss.g(), N, V);
  EXPECT_TRUE(agree(logits, 1e-5, 1e-7));
}

TEST_F(CudaCrossEntropyTest, TargetOutsideTheVocabularyIsAnInputError) {
  const int64_t N = 5, V = 7;
  Buffer<int32_t> targets(gpu(), std::vector<int32_t>{0, 6, 7, -1, 2});
  Buffer<float> logits(gpu(), random_floats(N * V, 116)), losses(gpu(), N), lse(gpu(), N);
  try {
    gpu().cross_entropy_forward(losses.get(), lse.get(), logits.get(), targets.get(), N, V);
    ADD_FAILURE() << "no error for target 7 with a vocabulary of 7";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("target token 7 at row 2"), std::string::npos) << e.what();
  }
}

// ---- optimizer ------------------------------------------------------------------------------------

TEST_F(CudaOptimizerTest, AdamwOverThreeStepsMatchesCpu) {
  const int64_t n = 3001;
  auto param = twin_random(n, 120), m = twin(std::vector<float>(n, 0.0f)), v = twin(std::vector<float>(n, 0.0f));
  for (int64_t step = 1; step <= 3; ++step) {
    auto grad = twin_random(n, 121 + static_cast<uint32_t>(step));
    cpu().adamw_update(param.c(), grad.c(), m.c(), v.c(), n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, step, 0.7f);
    gpu().adamw_update(param.g(), grad.g(), m.g(), v.g(), n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, step, 0.7f);
  }
  EXPECT_TRUE(agree(param, 1e-5, 1e-6));
  EXPECT_TRUE(agree(m, 1e-5, 1e-7));
  EXPECT_TRUE(agree(v, 1e-5, 1e-8));
}

TEST_F(CudaOptimizerTest, SgdAndSumSquaresMatchCpu) {
  const int64_t n = 5003;
  auto param = twin_random(n, 130), grad = twin_random(n, 131);
  cpu().sgd_update(param.c(), grad.c(), n, 0.05f, 0.01f, 0.5f);
  gpu().sgd_update(param.g(), grad.g(), n, 0.05f, 0.01f, 0.5f);
  EXPECT_TRUE(agree(param, 1e-6, 1e-7));
  const double cpu_sum = cpu().sum_squares(grad.c(), n), gpu_sum = gpu().sum_squares(grad.g(), n);
  EXPECT_NEAR(gpu_sum, cpu_sum, 1e-12 * cpu_sum);  // both accumulate in double
  EXPECT_EQ(gpu().sum_squares(grad.g(), 0), 0.0);
}

// ---- reproducibility ------------------------------------------------------------------------------

// Every parameter-gradient reduction, run twice from the same inputs, gives the same bits.
TEST_F(CudaDeterminismTest, ReductionsAreBitwiseReproducible) {
  const int64_t N = 4099, C = 75, V = 7;  // many row chunks; 7 tokens repeated ~600 times each
  const std::vector<float> inp = random_floats(N * C, 140), dout = random_floats(N * C, 141);
  const std::vector<float> weight = random_floats(C, 142), bias = random_floats(C, 143);
  Buffer<float> inp_g(gpu(), inp), dout_g(gpu(), dout), weight_g(gpu(), weight), bias_g(gpu(), bias);
  Buffer<float> out(gpu(), N * C), mean(gpu(), N), rstd(gpu(), N), dinp(gpu(), N * C);
  Buffer<int32_t> tokens(gpu(), random_tokens(N, V, 144));
  gpu().layernorm_forward(out.get(), mean.get(), rstd.get(), inp_g.get(), weight_g.get(), bias_g.get(), N, C, 1e-5f);
  auto run = [&] {
    Buffer<float> dweight(gpu(), C), dbias(gpu(), C), dW_E(gpu(), V * C), dW_pos(gpu(), N / 4 * C);
    gpu().layernorm_backward(dinp.get(), dweight.get(), dbias.get(), dout_g.get(), inp_g.get(), weight_g.get(),
                             mean.get(), rstd.get(), N, C);
    gpu().bias_backward(dbias.get(), dout_g.get(), N, C);
    gpu().embedding_backward(dW_E.get(), dout_g.get(), tokens.get(), N, C);
    gpu().pos_embedding_backward(dW_pos.get(), dout_g.get(), 4, N / 4, C);
    return std::vector<std::vector<float>>{dweight.values(), dbias.values(), dW_E.values(), dW_pos.values(),
                                           dinp.values()};
  };
  const auto first = run(), second = run();
  const char* names[] = {"dweight", "dbias", "dW_E", "dW_pos", "dinp"};
  for (size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(bitwise_equal(first[i], second[i])) << names[i];
  EXPECT_EQ(gpu().sum_squares(dout_g.get(), N * C), gpu().sum_squares(dout_g.get(), N * C));
#ifdef HEADLAB_HAVE_CUDA
  const AttentionShape s{2, 77, 3, 40};
  Buffer<float> qkv(gpu(), random_floats(s.qkv_size(), 145)), dz(gpu(), random_floats(s.z_size(), 146));
  Buffer<float> z(gpu(), s.z_size()), lse(gpu(), s.B * s.H * s.T), dqkv(gpu(), s.qkv_size());
  auto flash = [&] {
    cuda().flash_attention_forward(z.get(), lse.get(), qkv.get(), s.B, s.T, s.H, s.dh, s.scale());
    cuda().flash_attention_backward(dqkv.get(), dz.get(), z.get(), lse.get(), qkv.get(), s.B, s.T, s.H, s.dh,
                                    s.scale());
    return dqkv.values();
  };
  EXPECT_TRUE(bitwise_equal(flash(), flash())) << "flash attention dqkv";
#endif
}

}  // namespace
}  // namespace headlab
