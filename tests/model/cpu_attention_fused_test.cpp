// The register-tiled attention kernels at the sizes the models use (whole 16-float vectors,
// ragged tails, several column blocks) against plain loops, and the fused forward and backward
// against the unfused pairs, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/backend.h"
#include "tests/model/cpu_test_util.h"

namespace headlab {
namespace {

using testing::all_near;
using testing::random_floats;

struct Dims {
  int64_t B, T, H, dh;
  int64_t qkv_size() const { return B * T * 3 * H * dh; }
  int64_t pattern_size() const { return B * H * T * T; }
  int64_t z_size() const { return B * T * H * dh; }
  int64_t qkv(int64_t b, int64_t t, int64_t part, int64_t h, int64_t d) const {
    return (((b * T + t) * 3 + part) * H + h) * dh + d;
  }
  int64_t pat(int64_t b, int64_t h, int64_t q, int64_t k) const { return ((b * H + h) * T + q) * T + k; }
  int64_t z(int64_t b, int64_t t, int64_t h, int64_t d) const { return ((b * T + t) * H + h) * dh + d; }
  std::string label() const {
    return "B=" + std::to_string(B) + " T=" + std::to_string(T) + " H=" + std::to_string(H) +
           " dh=" + std::to_string(dh);
  }
};

// The shapes that reach every path: dh a multiple of 16 (rows used in place) or not (packed),
// up to two column blocks of 64; T below, at and past a multiple of 16 and of the 6-row tile.
const std::vector<Dims> kShapes = {
    {1, 1, 1, 16}, {2, 37, 2, 32}, {1, 64, 3, 64}, {1, 70, 2, 80}, {2, 33, 2, 24}, {1, 130, 1, 16}, {1, 48, 2, 128},
};

// Forward and backward in double, straight from the definitions: pattern, z, and dqkv for the
// loss Σ dz·z.
struct Reference {
  std::vector<double> pattern, z, dqkv;
};

Reference reference(const Dims& s, const std::vector<float>& qkv, const std::vector<float>& dz, double scale) {
  Reference r{std::vector<double>(s.pattern_size()), std::vector<double>(s.z_size()),
              std::vector<double>(s.qkv_size())};
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      std::vector<double> dp(size_t(s.T * s.T), 0.0);
      for (int64_t q = 0; q < s.T; ++q) {
        std::vector<double> sc(size_t(q + 1));
        double max = -1e300, sum = 0.0;
        for (int64_t k = 0; k <= q; ++k) {
          double dot = 0.0;
          for (int64_t d = 0; d < s.dh; ++d) dot += double(qkv[s.qkv(b, q, 0, h, d)]) * qkv[s.qkv(b, k, 1, h, d)];
          sc[size_t(k)] = dot * scale;
          max = std::max(max, sc[size_t(k)]);
        }
        for (int64_t k = 0; k <= q; ++k) sum += std::exp(sc[size_t(k)] - max);
        for (int64_t k = 0; k <= q; ++k) r.pattern[s.pat(b, h, q, k)] = std::exp(sc[size_t(k)] - max) / sum;
        for (int64_t k = 0; k <= q; ++k)
          for (int64_t d = 0; d < s.dh; ++d) {
            r.z[s.z(b, q, h, d)] += r.pattern[s.pat(b, h, q, k)] * qkv[s.qkv(b, k, 2, h, d)];
            dp[size_t(q * s.T + k)] += double(dz[s.z(b, q, h, d)]) * qkv[s.qkv(b, k, 2, h, d)];
            r.dqkv[s.qkv(b, k, 2, h, d)] += r.pattern[s.pat(b, h, q, k)] * dz[s.z(b, q, h, d)];
          }
        double dot = 0.0;
        for (int64_t k = 0; k <= q; ++k) dot += r.pattern[s.pat(b, h, q, k)] * dp[size_t(q * s.T + k)];
        for (int64_t k = 0; k <= q; ++k) {
          const double ds = r.pattern[s.pat(b, h, q, k)] * (dp[size_t(q * s.T + k)] - dot) * scale;
          for (int64_t d = 0; d < s.dh; ++d) {
            r.dqkv[s.qkv(b, q, 0, h, d)] += ds * qkv[s.qkv(b, k, 1, h, d)];
            r.dqkv[s.qkv(b, k, 1, h, d)] += ds * qkv[s.qkv(b, q, 0, h, d)];
          }
        }
      }
    }
  return r;
}

struct Inputs {
  std::vector<float> qkv, dz;
  float scale;
};
Inputs inputs(const Dims& s, uint32_t seed) {
  return {random_floats(s.qkv_size(), seed, -1.5f, 1.5f), random_floats(s.z_size(), seed + 1),
          1.0f / std::sqrt(float(s.dh))};
}

TEST(CpuAttentionFusedTest, UnfusedKernelsMatchReferenceAtModelSizes) {
  auto be = make_cpu_backend(2);
  uint32_t seed = 100;
  for (const Dims& s : kShapes) {
    SCOPED_TRACE(s.label());
    const Inputs in = inputs(s, seed += 2);
    const Reference ref = reference(s, in.qkv, in.dz, in.scale);
    std::vector<float> pattern(s.pattern_size(), 7.0f), z(s.z_size(), 7.0f), dpattern(s.pattern_size(), 7.0f),
        dqkv(s.qkv_size(), 7.0f);
    be->attention_pattern_forward(pattern.data(), nullptr, in.qkv.data(), s.B, s.T, s.H, s.dh, in.scale);
    be->attention_values_forward(z.data(), pattern.data(), in.qkv.data(), s.B, s.T, s.H, s.dh);
    be->attention_values_backward(dpattern.data(), dqkv.data(), in.dz.data(), pattern.data(), in.qkv.data(), s.B, s.T,
                                  s.H, s.dh);
    be->attention_pattern_backward(dqkv.data(), dpattern.data(), pattern.data(), in.qkv.data(), s.B, s.T, s.H, s.dh,
                                   in.scale);
    EXPECT_TRUE(all_near(pattern, ref.pattern, 1e-5, 1e-7));
    EXPECT_TRUE(all_near(z, ref.z, 1e-4, 1e-5));
    EXPECT_TRUE(all_near(dqkv, ref.dqkv, 1e-4, 1e-5));
  }
}

TEST(CpuAttentionFusedTest, FusedForwardAndBackwardEqualTheUnfusedPairsBitwise) {
  for (int threads : {1, 2}) {
    auto be = make_cpu_backend(threads);
    uint32_t seed = 200;
    for (const Dims& s : kShapes) {
      SCOPED_TRACE(s.label() + " threads=" + std::to_string(threads));
      const Inputs in = inputs(s, seed += 2);
      std::vector<float> pattern(s.pattern_size()), z(s.z_size()), dpattern(s.pattern_size()), dqkv(s.qkv_size());
      be->attention_pattern_forward(pattern.data(), nullptr, in.qkv.data(), s.B, s.T, s.H, s.dh, in.scale);
      be->attention_values_forward(z.data(), pattern.data(), in.qkv.data(), s.B, s.T, s.H, s.dh);
      be->attention_values_backward(dpattern.data(), dqkv.data(), in.dz.data(), pattern.data(), in.qkv.data(), s.B, s.T,
                                    s.H, s.dh);
      be->attention_pattern_backward(dqkv.data(), dpattern.data(), pattern.data(), in.qkv.data(), s.B, s.T, s.H, s.dh,
                                     in.scale);

      std::vector<float> pattern_f(s.pattern_size(), 3.0f), z_f(s.z_size(), 3.0f), scratch(s.pattern_size()),
          dqkv_f(s.qkv_size(), 3.0f);
      be->attention_forward(pattern_f.data(), z_f.data(), in.qkv.data(), s.B, s.T, s.H, s.dh, in.scale);
      be->attention_backward(dqkv_f.data(), scratch.data(), in.dz.data(), pattern_f.data(), in.qkv.data(), s.B, s.T,
                             s.H, s.dh, in.scale);
      EXPECT_EQ(pattern_f, pattern);
      EXPECT_EQ(z_f, z);
      EXPECT_EQ(dqkv_f, dqkv);
    }
  }
}

// z and dv read the pattern only at k <= q: junk above the diagonal (a hook may leave any) does
// not change a bit of them.
TEST(CpuAttentionFusedTest, CellsAboveTheDiagonalAreNeverRead) {
  auto be = make_cpu_backend(2);
  uint32_t seed = 400;
  for (const Dims& s : kShapes) {
    SCOPED_TRACE(s.label());
    const Inputs in = inputs(s, seed += 2);
    std::vector<float> pattern(s.pattern_size());
    be->attention_pattern_forward(pattern.data(), nullptr, in.qkv.data(), s.B, s.T, s.H, s.dh, in.scale);
    std::vector<float> junk = pattern;
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t q = 0; q < s.T; ++q)
          for (int64_t k = q + 1; k < s.T; ++k) junk[s.pat(b, h, q, k)] = 1e3f * float(k - q);
    auto values = [&](const std::vector<float>& p) {
      std::vector<float> z(s.z_size()), dpattern(s.pattern_size()), dqkv(s.qkv_size(), 0.0f);
      be->attention_values_forward(z.data(), p.data(), in.qkv.data(), s.B, s.T, s.H, s.dh);
      be->attention_values_backward(dpattern.data(), dqkv.data(), in.dz.data(), p.data(), in.qkv.data(), s.B, s.T, s.H,
                                    s.dh);
      z.insert(z.end(), dqkv.begin(), dqkv.end());
      return z;
    };
    EXPECT_EQ(values(junk), values(pattern));
  }
}

// Each (batch, head) pair is one thread's, so the bits do not depend on the thread count.
TEST(CpuAttentionFusedTest, ResultsDoNotDependOnTheThreadCount) {
  const Dims s{3, 45, 3, 32};
  const Inputs in = inputs(s, 300);
  auto run = [&](int threads) {
    auto be = make_cpu_backend(threads);
    std::vector<float> pattern(s.pattern_size()), z(s.z_size()), scratch(s.pattern_size()), dqkv(s.qkv_size());
    be->attention_forward(pattern.data(), z.data(), in.qkv.data(), s.B, s.T, s.H, s.dh, in.scale);
    be->attention_backward(dqkv.data(), scratch.data(), in.dz.data(), pattern.data(), in.qkv.data(), s.B, s.T, s.H,
                           s.dh, in.scale);
    z.insert(z.end(), dqkv.begin(), dqkv.end());
    return z;
  };
  EXPECT_EQ(run(1), run(2));
  EXPECT_EQ(run(1), run(3));
}

}  // namespace
}  // namespace headlab
