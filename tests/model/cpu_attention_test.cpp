// Causal attention kernels against plain loops, a hand-worked case and finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "model/backend.h"
#include "tests/model/cpu_test_util.h"

namespace headlab {
namespace {

using testing::all_near;
using testing::gradient_matches;
using testing::numeric_gradient;
using testing::random_floats;
using testing::weighted_sum;

struct Dims {
  int64_t B, T, H, dh;
  int64_t qkv_size() const { return B * T * 3 * H * dh; }
  int64_t pattern_size() const { return B * H * T * T; }
  int64_t z_size() const { return B * T * H * dh; }
  // qkv[b, t, part (0 q, 1 k, 2 v), h, d]
  int64_t qkv_index(int64_t b, int64_t t, int64_t part, int64_t h, int64_t d) const {
    return (((b * T + t) * 3 + part) * H + h) * dh + d;
  }
  int64_t pattern_index(int64_t b, int64_t h, int64_t q, int64_t k) const { return ((b * H + h) * T + q) * T + k; }
  int64_t z_index(int64_t b, int64_t t, int64_t h, int64_t d) const { return ((b * T + t) * H + h) * dh + d; }
};

// scores[B,H,T,T] and pattern[B,H,T,T] in double; scores for k > q are left at 0 (unused).
void reference_pattern(const Dims& s, const std::vector<float>& qkv, double scale, std::vector<double>& scores,
                       std::vector<double>& pattern) {
  scores.assign(s.pattern_size(), 0.0);
  pattern.assign(s.pattern_size(), 0.0);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t q = 0; q < s.T; ++q) {
        double max = -1e300, sum = 0.0;
        for (int64_t k = 0; k <= q; ++k) {
          double dot = 0.0;
          for (int64_t d = 0; d < s.dh; ++d)
            dot += double(qkv[s.qkv_index(b, q, 0, h, d)]) * qkv[s.qkv_index(b, k, 1, h, d)];
          scores[s.pattern_index(b, h, q, k)] = dot * scale;
          max = std::max(max, dot * scale);
        }
        for (int64_t k = 0; k <= q; ++k) sum += std::exp(scores[s.pattern_index(b, h, q, k)] - max);
        for (int64_t k = 0; k <= q; ++k)
          pattern[s.pattern_index(b, h, q, k)] = std::exp(scores[s.pattern_index(b, h, q, k)] - max) / sum;
      }
}

std::vector<double> reference_values(const Dims& s, const std::vector<float>& pattern, const std::vector<float>& qkv) {
  std::vector<double> z(s.z_size(), 0.0);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t q = 0; q < s.T; ++q)
        for (int64_t k = 0; k <= q; ++k)
          for (int64_t d = 0; d < s.dh; ++d)
            z[s.z_index(b, q, h, d)] += double(pattern[s.pattern_index(b, h, q, k)]) * qkv[s.qkv_index(b, k, 2, h, d)];
  return z;
}

void check_pattern_forward(const Dims& s, uint32_t seed) {
  auto be = make_cpu_backend(2);
  const float scale = 1.0f / std::sqrt(float(s.dh));
  const std::vector<float> qkv = random_floats(s.qkv_size(), seed, -2.0f, 2.0f);       // [B,T,3,H,dh]
  std::vector<float> pattern(s.pattern_size(), 5.0f), scores(s.pattern_size(), 5.0f);  // [B,H,T,T]
  be->attention_pattern_forward(pattern.data(), scores.data(), qkv.data(), s.B, s.T, s.H, s.dh, scale);
  std::vector<double> ref_scores, ref_pattern;
  reference_pattern(s, qkv, scale, ref_scores, ref_pattern);
  EXPECT_TRUE(all_near(pattern, ref_pattern, 1e-5, 1e-7));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t q = 0; q < s.T; ++q)
        for (int64_t k = 0; k < s.T; ++k) {
          const int64_t i = s.pattern_index(b, h, q, k);
          if (k <= q)
            ASSERT_NEAR(scores[i], ref_scores[i], 1e-5 * (1.0 + std::abs(ref_scores[i])));
          else
            ASSERT_EQ(scores[i], -std::numeric_limits<float>::infinity()) << "q=" << q << " k=" << k;
        }
}

TEST(CpuAttentionTest, PatternAndScoresMatchReference) {
  check_pattern_forward({2, 13, 3, 6}, 1);
  check_pattern_forward({2, 70, 2, 32}, 2);  // long rows: the vector loops and their remainders
}

TEST(CpuAttentionTest, PatternRowsSumToOneAndUpperTriangleIsExactlyZero) {
  const Dims s{2, 13, 3, 6};
  auto be = make_cpu_backend(2);
  const std::vector<float> qkv = random_floats(s.qkv_size(), 3, -3.0f, 3.0f);
  std::vector<float> pattern(s.pattern_size(), 5.0f);
  be->attention_pattern_forward(pattern.data(), nullptr, qkv.data(), s.B, s.T, s.H, s.dh, 0.4f);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t q = 0; q < s.T; ++q) {
        double sum = 0.0;
        for (int64_t k = 0; k < s.T; ++k) {
          const float p = pattern[s.pattern_index(b, h, q, k)];
          if (k > q)
            ASSERT_EQ(p, 0.0f) << "b=" << b << " h=" << h << " q=" << q << " k=" << k;
          else
            ASSERT_GE(p, 0.0f);
          sum += p;
        }
        ASSERT_NEAR(sum, 1.0, 1e-6) << "b=" << b << " h=" << h << " q=" << q;
      }
}

// T=2, one head of size 2, worked by hand: row 0 attends only to itself; row 1 has scores
// 0.5 * (q1·k0, q1·k1) = (0, 1), so pattern (1/(1+e), e/(1+e)).
TEST(CpuAttentionTest, TinyCaseMatchesHandComputation) {
  auto be = make_cpu_backend(1);
  // rows t: q(2) k(2) v(2)
  const std::vector<float> qkv{1, 0, 1, 0, 1, 2,   // t = 0
                               0, 1, 0, 2, 3, 4};  // t = 1
  std::vector<float> pattern(4), scores(4), z(4);
  be->attention_pattern_forward(pattern.data(), scores.data(), qkv.data(), 1, 2, 1, 2, 0.5f);
  be->attention_values_forward(z.data(), pattern.data(), qkv.data(), 1, 2, 1, 2);
  const double e = std::exp(1.0);
  const double p10 = 1.0 / (1.0 + e), p11 = e / (1.0 + e);
  EXPECT_EQ(pattern[0], 1.0f);
  EXPECT_EQ(pattern[1], 0.0f);
  EXPECT_NEAR(pattern[2], p10, 1e-7);
  EXPECT_NEAR(pattern[3], p11, 1e-7);
  EXPECT_EQ(scores[0], 0.5f);
  EXPECT_EQ(scores[1], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(scores[2], 0.0f);
  EXPECT_EQ(scores[3], 1.0f);
  EXPECT_NEAR(z[0], 1.0, 1e-7);
  EXPECT_NEAR(z[1], 2.0, 1e-7);
  EXPECT_NEAR(z[2], p10 * 1 + p11 * 3, 1e-6);
  EXPECT_NEAR(z[3], p10 * 2 + p11 * 4, 1e-6);
}

TEST(CpuAttentionTest, ValuesMatchReference) {
  for (const Dims& s : {Dims{2, 13, 3, 6}, Dims{1, 40, 2, 32}}) {
    auto be = make_cpu_backend(2);
    const std::vector<float> qkv = random_floats(s.qkv_size(), 4);
    const std::vector<float> pattern = random_floats(s.pattern_size(), 5, 0.0f, 1.0f);  // cells k > q must be ignored
    std::vector<float> z(s.z_size(), 5.0f);
    be->attention_values_forward(z.data(), pattern.data(), qkv.data(), s.B, s.T, s.H, s.dh);
    EXPECT_TRUE(all_near(z, reference_values(s, pattern, qkv), 1e-5, 1e-6));
  }
}

const float kSentinel = 12345.0f;

bool is_part(const Dims& s, int64_t i, int64_t part) { return (i / (s.H * s.dh)) % 3 == part; }

TEST(CpuAttentionTest, ValuesBackwardMatchesFiniteDifferences) {
  const Dims s{2, 13, 3, 6};
  auto be = make_cpu_backend(2);
  auto fd = make_cpu_backend(1);  // the thousands of small calls of finite differences
  std::vector<float> qkv = random_floats(s.qkv_size(), 6);
  std::vector<float> pattern = random_floats(s.pattern_size(), 7, 0.0f, 1.0f);
  const std::vector<float> w = random_floats(s.z_size(), 8);  // dz
  std::vector<float> z(s.z_size());
  auto loss = [&] {
    fd->attention_values_forward(z.data(), pattern.data(), qkv.data(), s.B, s.T, s.H, s.dh);
    return weighted_sum(z, w);
  };
  std::vector<float> dpattern(s.pattern_size(), kSentinel), dqkv(s.qkv_size(), kSentinel);
  be->attention_values_backward(dpattern.data(), dqkv.data(), w.data(), pattern.data(), qkv.data(), s.B, s.T, s.H,
                                s.dh);
  EXPECT_TRUE(gradient_matches(dpattern, numeric_gradient(pattern, loss)));  // k > q: both 0

  const std::vector<double> numeric = numeric_gradient(qkv, loss);
  std::vector<float> dv;
  std::vector<double> numeric_dv;
  for (int64_t i = 0; i < s.qkv_size(); ++i) {
    if (is_part(s, i, 2)) {
      dv.push_back(dqkv[i]);
      numeric_dv.push_back(numeric[i]);
    } else {
      ASSERT_EQ(dqkv[i], kSentinel) << "q/k part of dqkv written at " << i;
    }
  }
  EXPECT_TRUE(gradient_matches(dv, numeric_dv));
}

TEST(CpuAttentionTest, PatternBackwardMatchesFiniteDifferences) {
  const Dims s{2, 13, 3, 6};
  const float scale = 1.0f / std::sqrt(6.0f);
  auto be = make_cpu_backend(2);
  auto fd = make_cpu_backend(1);  // the thousands of small calls of finite differences
  std::vector<float> qkv = random_floats(s.qkv_size(), 9, -1.5f, 1.5f);
  const std::vector<float> w = random_floats(s.pattern_size(), 10);  // dpattern
  std::vector<float> pattern(s.pattern_size());
  auto loss = [&] {
    fd->attention_pattern_forward(pattern.data(), nullptr, qkv.data(), s.B, s.T, s.H, s.dh, scale);
    return weighted_sum(pattern, w);
  };
  loss();
  std::vector<float> dpattern = w, dqkv(s.qkv_size(), kSentinel);
  be->attention_pattern_backward(dqkv.data(), dpattern.data(), pattern.data(), qkv.data(), s.B, s.T, s.H, s.dh, scale);
  const std::vector<double> numeric = numeric_gradient(qkv, loss);
  std::vector<float> dqk;
  std::vector<double> numeric_dqk;
  for (int64_t i = 0; i < s.qkv_size(); ++i) {
    if (is_part(s, i, 2)) {
      ASSERT_EQ(dqkv[i], kSentinel) << "v part of dqkv written at " << i;
    } else {
      dqk.push_back(dqkv[i]);
      numeric_dqk.push_back(numeric[i]);
    }
  }
  EXPECT_TRUE(gradient_matches(dqk, numeric_dqk));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t q = 0; q < s.T; ++q)
        for (int64_t k = q + 1; k < s.T; ++k) ASSERT_EQ(dpattern[s.pattern_index(b, h, q, k)], 0.0f);
}

// The two backward kernels chained, as the model runs them, against differences of Σ w·z(qkv).
void check_chained_backward(const Dims& s) {
  SCOPED_TRACE("dh=" + std::to_string(s.dh));
  const float scale = 1.0f / std::sqrt(float(s.dh));
  auto be = make_cpu_backend(2);
  auto fd = make_cpu_backend(1);  // the thousands of small calls of finite differences
  std::vector<float> qkv = random_floats(s.qkv_size(), 11, -1.5f, 1.5f);
  const std::vector<float> w = random_floats(s.z_size(), 12);  // dz
  std::vector<float> pattern(s.pattern_size()), z(s.z_size());
  auto loss = [&] {
    fd->attention_pattern_forward(pattern.data(), nullptr, qkv.data(), s.B, s.T, s.H, s.dh, scale);
    fd->attention_values_forward(z.data(), pattern.data(), qkv.data(), s.B, s.T, s.H, s.dh);
    return weighted_sum(z, w);
  };
  loss();
  std::vector<float> dpattern(s.pattern_size()), dqkv(s.qkv_size(), kSentinel);
  be->attention_values_backward(dpattern.data(), dqkv.data(), w.data(), pattern.data(), qkv.data(), s.B, s.T, s.H,
                                s.dh);
  be->attention_pattern_backward(dqkv.data(), dpattern.data(), pattern.data(), qkv.data(), s.B, s.T, s.H, s.dh, scale);
  EXPECT_TRUE(gradient_matches(dqkv, numeric_gradient(qkv, loss)));
}

TEST(CpuAttentionTest, ChainedBackwardMatchesFiniteDifferences) {
  check_chained_backward({2, 13, 2, 6});
  check_chained_backward({1, 9, 2, 40});  // a whole 32-float chunk and a ragged tail
}

TEST(CpuAttentionTest, BackwardIsBitwiseRepeatable) {
  const Dims s{2, 33, 3, 16};
  auto be = make_cpu_backend(2);
  const std::vector<float> qkv = random_floats(s.qkv_size(), 13);
  const std::vector<float> dz = random_floats(s.z_size(), 14);
  std::vector<float> pattern(s.pattern_size());
  be->attention_pattern_forward(pattern.data(), nullptr, qkv.data(), s.B, s.T, s.H, s.dh, 0.25f);
  auto backward = [&] {
    std::vector<float> dpattern(s.pattern_size()), dqkv(s.qkv_size());
    be->attention_values_backward(dpattern.data(), dqkv.data(), dz.data(), pattern.data(), qkv.data(), s.B, s.T, s.H,
                                  s.dh);
    be->attention_pattern_backward(dqkv.data(), dpattern.data(), pattern.data(), qkv.data(), s.B, s.T, s.H, s.dh,
                                   0.25f);
    return dqkv;
  };
  EXPECT_EQ(backward(), backward());
}

}  // namespace
}  // namespace headlab
