// The explicit-vector helpers of model/cpu/vector_math.h against their scalar twins: exp on 16
// lanes, the row max, the 16 x 16 transpose.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "model/cpu/vector_math.h"
#include "tests/model/cpu_test_util.h"

namespace headlab {
namespace {

using cpu::kLanes;
using cpu::Vec;

TEST(CpuVectorRowsTest, ExpOnSixteenLanesEqualsScalarExpBitwise) {
  std::vector<float> xs;
  for (float x = -90.0f; x < 90.0f; x += 0.0173f) xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-30f, -87.33654f, 88.3f, 89.0f, -1e30f, 1e30f}) xs.push_back(x);
  xs.push_back(-std::numeric_limits<float>::infinity());
  while (xs.size() % kLanes) xs.push_back(0.5f);
  for (size_t i = 0; i < xs.size(); i += kLanes) {
    const Vec e = cpu::exp_vec(cpu::load_vec(&xs[i]));
    for (int64_t j = 0; j < kLanes; ++j) {
      const float scalar = cpu::exp_simd(xs[i + j]), lane = e[j];  // clang takes no address of a lane
      ASSERT_EQ(std::memcmp(&lane, &scalar, sizeof scalar), 0)
          << "x=" << xs[i + j] << " vector " << e[j] << " scalar " << scalar;
    }
  }
  float nan_lanes[kLanes];
  for (float& x : nan_lanes) x = std::numeric_limits<float>::quiet_NaN();
  const Vec e = cpu::exp_vec(cpu::load_vec(nan_lanes));
  for (int64_t j = 0; j < kLanes; ++j) EXPECT_TRUE(std::isnan(e[j]));
}

TEST(CpuVectorRowsTest, MaxOfEqualsTheScalarMaxForEveryLengthAndPosition) {
  for (int64_t n : {1, 2, 15, 16, 17, 63, 64, 65, 130, 512, 1000}) {
    const std::vector<float> x = testing::random_floats(size_t(n), uint32_t(n), -50.0f, 50.0f);
    float expected = x[0];
    for (float v : x) expected = std::max(expected, v);
    EXPECT_EQ(cpu::max_of(x.data(), n), expected) << "n=" << n;
    for (int64_t at : {int64_t(0), n / 2, n - 1}) {  // the maximum in each part: vectors, tail
      std::vector<float> y = x;
      y[size_t(at)] = 1e6f;
      EXPECT_EQ(cpu::max_of(y.data(), n), 1e6f) << "n=" << n << " at " << at;
    }
  }
  const std::vector<float> negative(100, -3.0f);
  EXPECT_EQ(cpu::max_of(negative.data(), 100), -3.0f);
}

TEST(CpuVectorRowsTest, TransposeOfSixteenRowsSwapsRowsAndColumns) {
  Vec rows[kLanes];
  for (int i = 0; i < kLanes; ++i)
    for (int j = 0; j < kLanes; ++j) rows[i][j] = float(100 * i + j);
  cpu::transpose16(rows);
  for (int i = 0; i < kLanes; ++i)
    for (int j = 0; j < kLanes; ++j) ASSERT_EQ(rows[i][j], float(100 * j + i)) << "i=" << i << " j=" << j;
}

}  // namespace
}  // namespace headlab
