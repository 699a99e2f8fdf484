// Norms, activations, embeddings, rotary and cross-entropy on the CPU backend, each against a
// plain double-precision loop and its backward against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "model/backend.h"
#include "tests/model/cpu_test_util.h"

namespace headlab {
namespace {

using testing::all_near;
using testing::gradient_matches;
using testing::numeric_gradient;
using testing::random_floats;
using testing::weighted_sum;

// ---- LayerNorm --------------------------------------------------------------------------------

struct NormCase {
  int64_t N = 7, C = 37;
  float eps = 1e-5f;
};

TEST(CpuLayerNormTest, ForwardMatchesReference) {
  const NormCase s;
  auto be = make_cpu_backend(2);
  const std::vector<float> inp = random_floats(s.N * s.C, 1, 2.0f, 5.0f);                 // [N,C], mean far from 0
  const std::vector<float> weight = random_floats(s.C, 2), bias = random_floats(s.C, 3);  // [C]
  std::vector<float> out(s.N * s.C), mean(s.N), rstd(s.N);
  be->layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), s.N, s.C, s.eps);
  std::vector<double> ref(s.N * s.C), ref_mean(s.N), ref_rstd(s.N);
  for (int64_t n = 0; n < s.N; ++n) {
    double m = 0.0, var = 0.0;
    for (int64_t c = 0; c < s.C; ++c) m += inp[n * s.C + c];
    m /= s.C;
    for (int64_t c = 0; c < s.C; ++c) var += (inp[n * s.C + c] - m) * (inp[n * s.C + c] - m);
    const double r = 1.0 / std::sqrt(var / s.C + s.eps);
    for (int64_t c = 0; c < s.C; ++c) ref[n * s.C + c] = (inp[n * s.C + c] - m) * r * weight[c] + bias[c];
    ref_mean[n] = m;
    ref_rstd[n] = r;
  }
  EXPECT_TRUE(all_near(out, ref, 1e-5, 1e-5));
  EXPECT_TRUE(all_near(mean, ref_mean, 1e-6, 0.0));
  EXPECT_TRUE(all_near(rstd, ref_rstd, 1e-5, 0.0));
}

TEST(CpuLayerNormTest, BackwardMatchesFiniteDifferences) {
  const NormCase s;
  auto be = make_cpu_backend(2);
  auto fd = make_cpu_backend(1);  // the thousands of small calls of finite differences
  std::vector<float> inp = random_floats(s.N * s.C, 4, -2.0f, 2.0f);
  std::vector<float> weight = random_floats(s.C, 5), bias = random_floats(s.C, 6);
  const std::vector<float> w = random_floats(s.N * s.C, 7);  // dout
  std::vector<float> out(s.N * s.C), mean(s.N), rstd(s.N);
  auto loss = [&] {
    fd->layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), s.N, s.C,
                          s.eps);
    return weighted_sum(out, w);
  };
  loss();
  // Parameter gradients accumulate: start them from non-zero values and look at the increase.
  const std::vector<float> dweight0 = random_floats(s.C, 8), dbias0 = random_floats(s.C, 9);
  std::vector<float> dinp(s.N * s.C, 99.0f), dweight = dweight0, dbias = dbias0;
  be->layernorm_backward(dinp.data(), dweight.data(), dbias.data(), w.data(), inp.data(), weight.data(), mean.data(),
                         rstd.data(), s.N, s.C);
  for (int64_t c = 0; c < s.C; ++c) dweight[c] -= dweight0[c], dbias[c] -= dbias0[c];
  EXPECT_TRUE(gradient_matches(dinp, numeric_gradient(inp, loss)));
  EXPECT_TRUE(gradient_matches(dweight, numeric_gradient(weight, loss)));
  EXPECT_TRUE(gradient_matches(dbias, numeric_gradient(bias, loss)));
}

TEST(CpuLayerNormTest, BackwardInPlaceOverDoutMatchesSeparateBuffers) {
  const NormCase s;
  auto be = make_cpu_backend(2);
  const std::vector<float> inp = random_floats(s.N * s.C, 10), weight = random_floats(s.C, 11),
                           bias = random_floats(s.C, 12), dout = random_floats(s.N * s.C, 13);
  std::vector<float> out(s.N * s.C), mean(s.N), rstd(s.N);
  be->layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), s.N, s.C, s.eps);
  std::vector<float> dinp(s.N * s.C), dw1(s.C), db1(s.C), dw2(s.C), db2(s.C), inplace = dout;
  be->layernorm_backward(dinp.data(), dw1.data(), db1.data(), dout.data(), inp.data(), weight.data(), mean.data(),
                         rstd.data(), s.N, s.C);
  be->layernorm_backward(inplace.data(), dw2.data(), db2.data(), inplace.data(), inp.data(), weight.data(), mean.data(),
                         rstd.data(), s.N, s.C);
  EXPECT_EQ(inplace, dinp);
  EXPECT_EQ(dw2, dw1);
  EXPECT_EQ(db2, db1);
}

// ---- RMSNorm ----------------------------------------------------------------------------------

TEST(CpuRmsNormTest, ForwardMatchesReference) {
  const NormCase s;
  auto be = make_cpu_backend(2);
  const std::vector<float> inp = random_floats(s.N * s.C, 20, -3.0f, 3.0f), weight = random_floats(s.C, 21);
  std::vector<float> out(s.N * s.C), rstd(s.N);
  be->rmsnorm_forward(out.data(), rstd.data(), inp.data(), weight.data(), s.N, s.C, s.eps);
  std::vector<double> ref(s.N * s.C), ref_rstd(s.N);
  for (int64_t n = 0; n < s.N; ++n) {
    double sq = 0.0;
    for (int64_t c = 0; c < s.C; ++c) sq += double(inp[n * s.C + c]) * inp[n * s.C + c];
    ref_rstd[n] = 1.0 / std::sqrt(sq / s.C + s.eps);
    for (int64_t c = 0; c < s.C; ++c) ref[n * s.C + c] = inp[n * s.C + c] * ref_rstd[n] * weight[c];
  }
  EXPECT_TRUE(all_near(out, ref, 1e-5, 1e-6));
  EXPECT_TRUE(all_near(rstd, ref_rstd, 1e-5, 0.0));
}

TEST(CpuRmsNormTest, BackwardMatchesFiniteDifferences) {
  const NormCase s;
  auto be = make_cpu_backend(2);
  auto fd = make_cpu_backend(1);  // the thousands of small calls of finite differences
  std::vector<float> inp = random_floats(s.N * s.C, 22, -2.0f, 2.0f), weight = random_floats(s.C, 23);
  const std::vector<float> w = random_floats(s.N * s.C, 24);
  std::vector<float> out(s.N * s.C), rstd(s.N);
  auto loss = [&] {
    fd->rmsnorm_forward(out.data(), rstd.data(), inp.data(), weight.data(), s.N, s.C, s.eps);
    return weighted_sum(out, w);
  };
  loss();
  const std::vector<float> dweight0 = random_floats(s.C, 25);
  std::vector<float> dinp(s.N * s.C, 99.0f), dweight = dweight0;
  be->rmsnorm_backward(dinp.data(), dweight.data(), w.data(), inp.data(), weight.data(), rstd.data(), s.N, s.C);
  for (int64_t c = 0; c < s.C; ++c) dweight[c] -= dweight0[c];
  EXPECT_TRUE(gradient_matches(dinp, numeric_gradient(inp, loss)));
  EXPECT_TRUE(gradient_matches(dweight, numeric_gradient(weight, loss)));
}

// ---- one normalisation's backward for many heads (the split q/k/v inputs) ---------------------

// The CPU backend's fused pass against the interface's default, which runs the one-head backward
// per head (the unfused path): every head's input gradient, their sum and the norm's parameter
// gradients, written strided or added, for LN, RMS and no norm, with 300 columns (two column blocks
// of the parameter pass and a partial vector) and 1 or 2 threads.
TEST(CpuNormBackwardHeadsTest, EqualsTheOneHeadBackwardPerHead) {
  const int64_t n = 3, N = 11, C = 300;
  for (int threads : {1, 2})
    for (Normalization norm : {Normalization::LN, Normalization::RMS, Normalization::none})
      for (bool add : {false, true})
        for (bool params : {false, true}) {
          auto be = make_cpu_backend(threads);
          const std::vector<float> inp = random_floats(N * C, 1, 1.0f, 3.0f);
          const std::vector<float> weight = random_floats(C, 2, 0.5f, 1.5f), bias = random_floats(C, 3);
          const std::vector<float> dout = random_floats(n * N * C, 4);
          std::vector<float> out(N * C), mean(N), rstd(N);
          if (norm == Normalization::RMS)
            be->rmsnorm_forward(out.data(), rstd.data(), inp.data(), weight.data(), N, C, 1e-5f);
          else
            be->layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N, C,
                                  1e-5f);
          // add: head-major [n, N, C] rows added into; overwrite: TransformerLens' [N, n, C] layout.
          const int64_t head_stride = add ? N * C : C, row_stride = add ? C : n * C;
          struct Result {
            std::vector<float> dinp, dsum, dweight, dbias;
          };
          auto run = [&](bool fused) {
            Result r{random_floats(n * N * C, 5), random_floats(N * C, 6), random_floats(C, 7), random_floats(C, 8)};
            std::vector<float> scratch(N * C);
            float* dw = params ? r.dweight.data() : nullptr;
            float* db = params ? r.dbias.data() : nullptr;
            const Accumulate acc = add ? Accumulate::add : Accumulate::overwrite;
            if (fused)
              be->norm_backward_heads(norm, r.dinp.data(), head_stride, row_stride, acc, r.dsum.data(), dw, db,
                                      dout.data(), inp.data(), weight.data(), mean.data(), rstd.data(), n, N, C,
                                      scratch.data());
            else
              be->Backend::norm_backward_heads(norm, r.dinp.data(), head_stride, row_stride, acc, r.dsum.data(), dw, db,
                                               dout.data(), inp.data(), weight.data(), mean.data(), rstd.data(), n, N,
                                               C, scratch.data());
            return r;
          };
          const Result want = run(false), got = run(true);
          const std::string what = "norm " + std::to_string(int(norm)) + " add " + std::to_string(add) + " params " +
                                   std::to_string(params) + " threads " + std::to_string(threads);
          auto same = [&](const std::vector<float>& a, const std::vector<float>& b, const char* name) {
            for (size_t i = 0; i < a.size(); ++i)
              ASSERT_NEAR(a[i], b[i], 2e-5f * (1.0f + std::fabs(b[i]))) << what << " " << name << " " << i;
          };
          same(got.dinp, want.dinp, "dinp");
          same(got.dsum, want.dsum, "dsum");
          same(got.dweight, want.dweight, "dweight");
          same(got.dbias, want.dbias, "dbias");
          // The gradients themselves are not the inputs: the call changed them.
          EXPECT_GT(std::fabs(got.dsum[5] - random_floats(N * C, 6)[5]), 1e-4f) << what;
          if (params && norm != Normalization::none) {
            EXPECT_GT(std::fabs(got.dweight[250] - random_floats(C, 7)[250]), 1e-4f) << what;
          }
        }
}

// With one head, overwriting contiguous rows, the input gradient may be written over dout (the
// plain backward's use when no parameter gradient is wanted).
TEST(CpuNormBackwardHeadsTest, OneHeadInPlaceOverDout) {
  const int64_t N = 9, C = 37;
  auto be = make_cpu_backend(2);
  const std::vector<float> inp = random_floats(N * C, 1, 1.0f, 3.0f), weight = random_floats(C, 2, 0.5f, 1.5f),
                           bias = random_floats(C, 3);
  std::vector<float> out(N * C), mean(N), rstd(N), dweight(C), dbias(C);
  be->layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N, C, 1e-5f);
  std::vector<float> dout = random_floats(N * C, 4), want(N * C);
  be->layernorm_backward(want.data(), dweight.data(), dbias.data(), dout.data(), inp.data(), weight.data(), mean.data(),
                         rstd.data(), N, C);
  be->norm_backward_heads(Normalization::LN, dout.data(), 0, C, Accumulate::overwrite, nullptr, nullptr, nullptr,
                          dout.data(), inp.data(), weight.data(), mean.data(), rstd.data(), 1, N, C, nullptr);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(dout[i], want[i], 1e-5f * (1.0f + std::fabs(want[i]))) << i;
}

// ---- activations ------------------------------------------------------------------------------

double reference_activation(double x, ActFn fn) {
  switch (fn) {
    case ActFn::gelu_new:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case ActFn::gelu:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case ActFn::relu:
      return x > 0.0 ? x : 0.0;
    case ActFn::silu:
      return x / (1.0 + std::exp(-x));
  }
  return 0.0;
}

const ActFn kActivations[] = {ActFn::gelu_new, ActFn::gelu, ActFn::relu, ActFn::silu};

TEST(CpuActivationTest, ForwardMatchesReference) {
  auto be = make_cpu_backend(2);
  std::vector<float> inp = random_floats(301, 30, -6.0f, 6.0f);
  inp.insert(inp.end(), {0.0f, 1e-4f, -1e-4f, 20.0f, -20.0f, 90.0f, -90.0f});
  for (ActFn fn : kActivations) {
    SCOPED_TRACE(to_string(fn));
    std::vector<float> out(inp.size());
    be->activation_forward(out.data(), inp.data(), inp.size(), fn);
    std::vector<double> ref(inp.size());
    for (size_t i = 0; i < inp.size(); ++i) ref[i] = reference_activation(inp[i], fn);
    EXPECT_TRUE(all_near(out, ref, 2e-6, 1e-6));
  }
}

TEST(CpuActivationTest, BackwardMatchesFiniteDifferences) {
  auto be = make_cpu_backend(2);
  auto fd = make_cpu_backend(1);  // the thousands of small calls of finite differences
  for (ActFn fn : kActivations) {
    SCOPED_TRACE(to_string(fn));
    std::vector<float> inp = random_floats(203, 31, -4.0f, 4.0f);
    for (float& x : inp)
      if (std::abs(x) < 0.01f) x = 0.01f;  // keep differences off relu's kink at 0
    const std::vector<float> w = random_floats(inp.size(), 32);
    std::vector<float> out(inp.size());
    auto loss = [&] {
      fd->activation_forward(out.data(), inp.data(), inp.size(), fn);
      return weighted_sum(out, w);
    };
    std::vector<float> dinp(inp.size());
    be->activation_backward(dinp.data(), w.data(), inp.data(), inp.size(), fn);
    EXPECT_TRUE(gradient_matches(dinp, numeric_gradient(inp, loss, 1e-3f)));
  }
}

TEST(CpuActivationTest, ReluGradientAtZeroIsZero) {
  auto be = make_cpu_backend(1);
  const std::vector<float> inp{0.0f, 1.0f, -1.0f}, dout{5.0f, 5.0f, 5.0f};
  std::vector<float> dinp(3);
  be->activation_backward(dinp.data(), dout.data(), inp.data(), 3, ActFn::relu);
  EXPECT_EQ(dinp, (std::vector<float>{0.0f, 5.0f, 0.0f}));
}

// ---- embeddings -------------------------------------------------------------------------------

TEST(CpuEmbeddingTest, ForwardGathersRowsAndBackwardScatterAdds) {
  auto be = make_cpu_backend(2);
  const int64_t V = 11, D = 300, BT = 17;  // D spans several column blocks
  const std::vector<int32_t> tokens{3, 0, 10, 3, 3, 7, 1, 0, 2, 9, 3, 4, 5, 6, 10, 8, 3};  // [BT], repeats
  const std::vector<float> W_E = random_floats(V * D, 40);                                 // [V,D]
  std::vector<float> out(BT * D);
  be->embedding_forward(out.data(), tokens.data(), W_E.data(), BT, D);
  for (int64_t i = 0; i < BT; ++i)
    for (int64_t c = 0; c < D; ++c) ASSERT_EQ(out[i * D + c], W_E[tokens[i] * D + c]);

  const std::vector<float> dout = random_floats(BT * D, 41);
  std::vector<float> dW_E = random_floats(V * D, 42);  // accumulated into
  std::vector<double> expected(dW_E.begin(), dW_E.end());
  for (int64_t i = 0; i < BT; ++i)
    for (int64_t c = 0; c < D; ++c) expected[tokens[i] * D + c] += dout[i * D + c];
  be->embedding_backward(dW_E.data(), dout.data(), tokens.data(), BT, D);
  EXPECT_TRUE(all_near(dW_E, expected, 1e-6, 1e-6));
}

TEST(CpuEmbeddingTest, PositionalForwardBroadcastsAndBackwardSumsBatch) {
  auto be = make_cpu_backend(2);
  const int64_t B = 3, T = 13, D = 37;
  const std::vector<float> W_pos = random_floats(T * D, 43);  // [T,D] (n_ctx >= T rows used)
  std::vector<float> out(B * T * D);
  be->pos_embedding_forward(out.data(), W_pos.data(), B, T, D);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < D; ++c) ASSERT_EQ(out[(b * T + t) * D + c], W_pos[t * D + c]);

  const std::vector<float> dout = random_floats(B * T * D, 44);
  std::vector<float> dW_pos = random_floats(T * D, 45);
  std::vector<double> expected(dW_pos.begin(), dW_pos.end());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < D; ++c) expected[t * D + c] += dout[(b * T + t) * D + c];
  be->pos_embedding_backward(dW_pos.data(), dout.data(), B, T, D);
  EXPECT_TRUE(all_near(dW_pos, expected, 1e-6, 1e-6));
}

// ---- rotary -----------------------------------------------------------------------------------

// Rotates q and k of a fused qkv array [B,T,3,H,dh] in one call (2H heads, row stride 3H dh),
// as the model does; v must be untouched.
struct RotaryCase {
  int64_t B = 2, T = 13, H = 3, dh = 6;
  float base = 10000.0f;
  int64_t stride() const { return 3 * H * dh; }
  int64_t size() const { return B * T * stride(); }
};

std::vector<double> reference_rotary(const RotaryCase& s, const std::vector<float>& x) {
  std::vector<double> out(x.begin(), x.end());
  const int64_t half = s.dh / 2;
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < s.T; ++t)
      for (int64_t h = 0; h < 2 * s.H; ++h)
        for (int64_t i = 0; i < half; ++i) {
          const int64_t lo = (b * s.T + t) * s.stride() + h * s.dh + i, hi = lo + half;
          const double angle = t * std::pow(double(s.base), -2.0 * i / s.dh);
          out[lo] = x[lo] * std::cos(angle) - x[hi] * std::sin(angle);
          out[hi] = x[hi] * std::cos(angle) + x[lo] * std::sin(angle);
        }
  return out;
}

TEST(CpuRotaryTest, ForwardMatchesReferenceAndLeavesValuesAlone) {
  const RotaryCase s;
  auto be = make_cpu_backend(2);
  const std::vector<float> x0 = random_floats(s.size(), 50);
  std::vector<float> x = x0;
  be->rotary_forward(x.data(), s.B, s.T, 2 * s.H, s.dh, s.stride(), s.base);
  EXPECT_TRUE(all_near(x, reference_rotary(s, x0), 1e-5, 1e-6));  // v entries compared exactly equal
}

TEST(CpuRotaryTest, BackwardIsInverseAndMatchesFiniteDifferences) {
  const RotaryCase s;
  auto be = make_cpu_backend(2);
  auto fd = make_cpu_backend(1);  // the thousands of small calls of finite differences
  std::vector<float> x = random_floats(s.size(), 51);
  const std::vector<float> w = random_floats(s.size(), 52);
  std::vector<float> y;
  auto loss = [&] {
    y = x;
    fd->rotary_forward(y.data(), s.B, s.T, 2 * s.H, s.dh, s.stride(), s.base);
    return weighted_sum(y, w);
  };
  std::vector<float> dx = w;
  be->rotary_backward(dx.data(), s.B, s.T, 2 * s.H, s.dh, s.stride(), s.base);
  EXPECT_TRUE(gradient_matches(dx, numeric_gradient(x, loss)));

  loss();
  be->rotary_backward(y.data(), s.B, s.T, 2 * s.H, s.dh, s.stride(), s.base);
  EXPECT_TRUE(all_near(y, x, 1e-6, 1e-6));
}

TEST(CpuRotaryTest, OddHeadDimensionIsInputError) {
  auto be = make_cpu_backend(1);
  std::vector<float> x(2 * 5);
  EXPECT_THROW(be->rotary_forward(x.data(), 1, 2, 1, 5, 5, 10000.0f), InputError);
}

// ---- cross-entropy ----------------------------------------------------------------------------

struct CrossEntropyCase {
  int64_t N = 6, V = 37;
  std::vector<int32_t> targets{3, -1, 0, 36, 17, -1};  // [N], -1 ignored
};

TEST(CpuCrossEntropyTest, ForwardMatchesReferenceWithLargeLogitsAndIgnoredRows) {
  const CrossEntropyCase s;
  auto be = make_cpu_backend(2);
  std::vector<float> logits = random_floats(s.N * s.V, 60, -5.0f, 5.0f);  // [N,V]
  for (int64_t v = 0; v < s.V; ++v) logits[2 * s.V + v] += 200.0f;        // naive exp would overflow
  std::vector<float> losses(s.N, 99.0f), lse(s.N);
  be->cross_entropy_forward(losses.data(), lse.data(), logits.data(), s.targets.data(), s.N, s.V);
  std::vector<double> ref_losses(s.N), ref_lse(s.N);
  for (int64_t n = 0; n < s.N; ++n) {
    double max = -1e300, sum = 0.0;
    for (int64_t v = 0; v < s.V; ++v) max = std::max(max, double(logits[n * s.V + v]));
    for (int64_t v = 0; v < s.V; ++v) sum += std::exp(logits[n * s.V + v] - max);
    ref_lse[n] = max + std::log(sum);
    ref_losses[n] = s.targets[n] < 0 ? 0.0 : ref_lse[n] - logits[n * s.V + s.targets[n]];
  }
  EXPECT_TRUE(all_near(losses, ref_losses, 1e-5, 1e-5));
  EXPECT_TRUE(all_near(lse, ref_lse, 1e-6, 1e-6));
  EXPECT_EQ(losses[1], 0.0f);
  EXPECT_EQ(losses[5], 0.0f);
}

TEST(CpuCrossEntropyTest, BackwardMatchesFiniteDifferences) {
  const CrossEntropyCase s;
  auto be = make_cpu_backend(2);
  auto fd = make_cpu_backend(1);  // the thousands of small calls of finite differences
  std::vector<float> logits = random_floats(s.N * s.V, 61, -3.0f, 3.0f);
  const std::vector<float> dloss = random_floats(s.N, 62, 0.5f, 2.0f);  // [N]
  std::vector<float> losses(s.N), lse(s.N);
  auto loss = [&] {
    fd->cross_entropy_forward(losses.data(), lse.data(), logits.data(), s.targets.data(), s.N, s.V);
    return weighted_sum(losses, dloss);
  };
  loss();
  std::vector<float> dlogits(s.N * s.V, 99.0f);
  be->cross_entropy_backward(dlogits.data(), logits.data(), lse.data(), s.targets.data(), dloss.data(), s.N, s.V);
  EXPECT_TRUE(gradient_matches(dlogits, numeric_gradient(logits, loss)));
  for (int64_t v = 0; v < s.V; ++v) ASSERT_EQ(dlogits[1 * s.V + v], 0.0f);  // ignored row

  std::vector<float> inplace = logits;
  be->cross_entropy_backward(inplace.data(), inplace.data(), lse.data(), s.targets.data(), dloss.data(), s.N, s.V);
  EXPECT_EQ(inplace, dlogits);
}

TEST(CpuCrossEntropyTest, TargetOutsideVocabularyIsInputError) {
  auto be = make_cpu_backend(1);
  const std::vector<float> logits(2 * 4);
  const std::vector<int32_t> targets{1, 4};
  std::vector<float> losses(2), lse(2);
  EXPECT_THROW(be->cross_entropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), 2, 4), InputError);
}

}  // namespace
}  // namespace headlab
