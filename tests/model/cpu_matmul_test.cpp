// oneDNN matmul and the bias gradient against plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/backend.h"
#include "model/cpu/matmul.h"
#include "tests/model/cpu_test_util.h"

namespace headlab {
namespace {

using testing::all_near;
using testing::random_floats;

struct MatmulCase {
  int64_t M, N, K;
  Transpose ta, tb;
  Accumulate acc;
  bool bias;
  std::string label() const {
    return std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) +
           (ta == Transpose::yes ? " A^T" : " A") + (tb == Transpose::yes ? " B^T" : " B") +
           (acc == Accumulate::add ? " +=" : " =") + (bias ? " bias" : "");
  }
};

// Runs the case through `run` and compares with a double-precision loop. The tolerance is 1e-5 of
// Σ_k |a||b| + |bias| + |C before|, the scale that float rounding errors follow.
template <typename Run>
void check_matmul(const MatmulCase& c, Run run, uint32_t seed) {
  SCOPED_TRACE(c.label());
  const std::vector<float> A = random_floats(c.M * c.K, seed);      // [M,K] or [K,M]
  const std::vector<float> B = random_floats(c.K * c.N, seed + 1);  // [K,N] or [N,K]
  const std::vector<float> bias = random_floats(c.N, seed + 2);     // [N]
  std::vector<float> C = random_floats(c.M * c.N, seed + 3);        // [M,N]
  const std::vector<float> C_before = C;

  run(C.data(), A.data(), B.data(), c.bias ? bias.data() : nullptr);

  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) {
      double sum = 0.0, scale = 0.0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = c.ta == Transpose::yes ? A[k * c.M + m] : A[m * c.K + k];
        const double b = c.tb == Transpose::yes ? B[n * c.K + k] : B[k * c.N + n];
        sum += a * b;
        scale += std::abs(a * b);
      }
      if (c.bias) sum += bias[n], scale += std::abs(bias[n]);
      if (c.acc == Accumulate::add) sum += C_before[m * c.N + n], scale += std::abs(C_before[m * c.N + n]);
      ASSERT_NEAR(C[m * c.N + n], sum, 1e-5 * scale + 1e-30) << "at m=" << m << " n=" << n;
    }
  }
}

void check_with_backend(Backend& be, const MatmulCase& c, uint32_t seed) {
  check_matmul(
      c,
      [&](float* C, const float* A, const float* B, const float* bias) {
        be.matmul(C, A, B, bias, c.M, c.N, c.K, c.ta, c.tb, c.acc);
      },
      seed);
}

TEST(CpuMatmulTest, EveryTransposeAccumulateBiasCombinationMatchesReference) {
  auto be = make_cpu_backend(2);
  uint32_t seed = 10;
  for (Transpose ta : {Transpose::no, Transpose::yes})
    for (Transpose tb : {Transpose::no, Transpose::yes})
      for (Accumulate acc : {Accumulate::overwrite, Accumulate::add})
        for (bool bias : {false, true}) check_with_backend(*be, {37, 19, 23, ta, tb, acc, bias}, seed += 4);
}

TEST(CpuMatmulTest, LargerShapesMatchReference) {
  auto be = make_cpu_backend(2);
  check_with_backend(*be, {130, 70, 300, Transpose::no, Transpose::no, Accumulate::overwrite, true}, 1);
  check_with_backend(*be, {130, 70, 300, Transpose::no, Transpose::yes, Accumulate::add, false}, 2);
  check_with_backend(*be, {65, 257, 96, Transpose::yes, Transpose::no, Accumulate::add, false}, 3);
  check_with_backend(*be, {1, 33, 17, Transpose::no, Transpose::yes, Accumulate::overwrite, true}, 4);
}

TEST(CpuMatmulTest, OneThreadMatchesReference) {
  auto be = make_cpu_backend(1);
  check_with_backend(*be, {37, 19, 23, Transpose::yes, Transpose::yes, Accumulate::add, false}, 5);
}

TEST(CpuMatmulTest, CachedPrimitiveIsReusedWithNewPointers) {
  cpu::MatmulPrimitives primitives;
  const MatmulCase c{37, 19, 23, Transpose::no, Transpose::yes, Accumulate::overwrite, true};
  auto run = [&](float* C, const float* A, const float* B, const float* bias) {
    primitives.matmul_forward(C, A, B, bias, c.M, c.N, c.K, c.ta, c.tb, c.acc);
  };
  check_matmul(c, run, 20);
  check_matmul(c, run, 30);  // new buffers, same shape: the cached primitive must read the new ones
  EXPECT_EQ(primitives.cached_primitives(), 1u);
  const MatmulCase other{37, 19, 23, Transpose::no, Transpose::yes, Accumulate::add, true};
  check_matmul(
      other,
      [&](float* C, const float* A, const float* B, const float* bias) {
        primitives.matmul_forward(C, A, B, bias, other.M, other.N, other.K, other.ta, other.tb, other.acc);
      },
      40);
  EXPECT_EQ(primitives.cached_primitives(), 2u);
}

TEST(CpuMatmulTest, EmptyInnerDimensionGivesBiasOrLeavesOutput) {
  auto be = make_cpu_backend(2);
  const std::vector<float> bias{1.0f, -2.0f, 3.0f};  // [N=3]
  std::vector<float> C(2 * 3, 7.0f);                 // [M=2, N=3]
  be->matmul(C.data(), nullptr, nullptr, bias.data(), 2, 3, 0, Transpose::no, Transpose::no, Accumulate::overwrite);
  EXPECT_EQ(C, (std::vector<float>{1, -2, 3, 1, -2, 3}));
  be->matmul(C.data(), nullptr, nullptr, nullptr, 2, 3, 0, Transpose::no, Transpose::no, Accumulate::add);
  EXPECT_EQ(C, (std::vector<float>{1, -2, 3, 1, -2, 3}));
  be->matmul(C.data(), nullptr, nullptr, nullptr, 2, 3, 0, Transpose::no, Transpose::no, Accumulate::overwrite);
  EXPECT_EQ(C, std::vector<float>(6, 0.0f));
}

TEST(CpuMatmulTest, BiasBackwardAddsColumnSums) {
  auto be = make_cpu_backend(2);
  const int64_t M = 37, N = 300;                             // N spans several column blocks
  const std::vector<float> dout = random_floats(M * N, 50);  // [M,N]
  std::vector<float> dbias = random_floats(N, 51);           // [N], accumulated into
  std::vector<double> expected(dbias.begin(), dbias.end());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) expected[n] += dout[m * N + n];
  be->bias_backward(dbias.data(), dout.data(), M, N);
  EXPECT_TRUE(all_near(dbias, expected, 1e-5, 1e-5));
}

}  // namespace
}  // namespace headlab
