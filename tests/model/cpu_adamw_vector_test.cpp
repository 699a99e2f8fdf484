// The vectorised AdamW against itself: every element gets the same bits whether it falls in the
// 16-lane body or in the scalar tail, alone or among many, on one thread or several.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "model/backend.h"
#include "tests/model/cpu_test_util.h"

namespace headlab {
namespace {

struct State {
  std::vector<float> param, m, v;
};

// Three steps on n elements, all at once with `threads` threads.
State three_steps(const std::vector<float>& p0, const std::vector<std::vector<float>>& grads, int threads) {
  auto be = make_cpu_backend(threads);
  const int64_t n = int64_t(p0.size());
  State s{p0, std::vector<float>(size_t(n), 0.0f), std::vector<float>(size_t(n), 0.0f)};
  for (int step = 1; step <= 3; ++step)
    be->adamw_update(s.param.data(), grads[size_t(step - 1)].data(), s.m.data(), s.v.data(), n, 3e-3f, 0.9f, 0.95f,
                     1e-8f, 0.1f, step, step == 2 ? 0.5f : 1.0f);
  return s;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(CpuAdamWVectorTest, ElementsGetTheSameBitsInTheVectorBodyTheTailAndAlone) {
  const int64_t n = 10000 + 13;  // vector body and a 13-element tail, in each thread's share
  const std::vector<float> p0 = testing::random_floats(size_t(n), 1);
  std::vector<std::vector<float>> grads;
  for (uint32_t step = 0; step < 3; ++step) grads.push_back(testing::random_floats(size_t(n), 10 + step, -2.0f, 2.0f));

  const State one = three_steps(p0, grads, 1);
  for (int threads : {2, 3}) {
    const State many = three_steps(p0, grads, threads);
    EXPECT_TRUE(same_bits(many.param, one.param)) << threads << " threads";
    EXPECT_TRUE(same_bits(many.m, one.m)) << threads << " threads";
    EXPECT_TRUE(same_bits(many.v, one.v)) << threads << " threads";
  }
  // Element by element, each on its own (always the scalar tail), against the vector run.
  for (int64_t i : {int64_t(0), int64_t(5), int64_t(16), int64_t(4097), n - 1}) {
    std::vector<std::vector<float>> g1;
    for (const auto& g : grads) g1.push_back({g[size_t(i)]});
    const State alone = three_steps({p0[size_t(i)]}, g1, 1);
    EXPECT_EQ(std::memcmp(&alone.param[0], &one.param[size_t(i)], sizeof(float)), 0) << "element " << i;
    EXPECT_EQ(std::memcmp(&alone.v[0], &one.v[size_t(i)], sizeof(float)), 0) << "element " << i;
  }
}

}  // namespace
}  // namespace headlab
