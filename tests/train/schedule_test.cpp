#include "train/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace headlab {
namespace {

TEST(TrainLrScheduleTest, WarmupRisesLinearlyToThePeak) {
  const LrSchedule s(LrShape::constant, 1e-3f, 0.0f, /*warmup=*/10, /*total=*/100);
  EXPECT_FLOAT_EQ(s.at(1), 1e-4f);
  EXPECT_FLOAT_EQ(s.at(5), 5e-4f);
  EXPECT_FLOAT_EQ(s.at(10), 1e-3f);
  EXPECT_FLOAT_EQ(s.at(11), 1e-3f);
  EXPECT_FLOAT_EQ(s.at(100), 1e-3f);
}

TEST(TrainLrScheduleTest, NoWarmupStartsAtThePeak) {
  const LrSchedule s(LrShape::cosine, 2e-3f, 1e-4f, 0, 50);
  EXPECT_NEAR(s.at(1), 2e-3, 2e-3 * 0.01);  // one step into the cosine
  EXPECT_LT(s.at(1), 2e-3f);
}

TEST(TrainLrScheduleTest, CosineRunsFromPeakToMinLrAtTheLastStep) {
  const float lr = 1e-3f, min_lr = 1e-4f;
  const LrSchedule s(LrShape::cosine, lr, min_lr, /*warmup=*/10, /*total=*/110);
  EXPECT_FLOAT_EQ(s.at(10), lr);                             // end of warmup
  EXPECT_FLOAT_EQ(s.at(60), min_lr + 0.5f * (lr - min_lr));  // halfway through the decay
  EXPECT_FLOAT_EQ(s.at(110), min_lr);                        // the last step
  const double quarter = min_lr + 0.5 * (lr - min_lr) * (1 + std::cos(M_PI * 0.25));
  EXPECT_FLOAT_EQ(s.at(35), float(quarter));
  for (int64_t step = 11; step <= 110; ++step) EXPECT_LE(s.at(step), s.at(step - 1)) << step;
}

TEST(TrainLrScheduleTest, FollowsTheOptions) {
  TrainOptions o;
  o.lr = 0.5f;
  o.min_lr = 0.1f;
  o.warmup = 4;
  o.steps = 8;
  o.schedule = LrShape::cosine;
  const LrSchedule s(o);
  EXPECT_FLOAT_EQ(s.at(2), 0.25f);
  EXPECT_FLOAT_EQ(s.at(8), 0.1f);
}

TEST(TrainCheckpointScheduleTest, LogSpacedStepsDoubleEachOctave) {
  EXPECT_EQ(log_spaced_steps(40, 1), (std::vector<int64_t>{1, 2, 4, 8, 16, 32}));
  EXPECT_EQ(log_spaced_steps(32, 2), (std::vector<int64_t>{1, 2, 3, 4, 6, 8, 11, 16, 23, 32}));
  const std::vector<int64_t> dense = log_spaced_steps(100000, 4);
  // Dense early, sparse late: gaps grow, about 4 checkpoints per doubling.
  EXPECT_EQ(dense.front(), 1);
  EXPECT_LE(dense.back(), 100000);
  EXPECT_NEAR(double(dense.size()), 4 * std::log2(100000.0) - 3, 4);
  for (size_t i = 2; i < dense.size(); ++i) EXPECT_GE(dense[i] - dense[i - 1], dense[i - 1] - dense[i - 2] - 1);
}

TEST(TrainCheckpointScheduleTest, LogScheduleAddsMultiplesOfEvery) {
  const CheckpointSchedule s(CheckpointSpacing::log, /*every=*/25, /*per_octave=*/1, /*total=*/100);
  EXPECT_EQ(s.steps(), (std::vector<int64_t>{1, 2, 4, 8, 16, 25, 32, 50, 64, 75, 100}));
  EXPECT_TRUE(s.due(64));
  EXPECT_FALSE(s.due(65));
  EXPECT_FALSE(s.due(128));  // beyond the run
}

TEST(TrainCheckpointScheduleTest, EveryScheduleIsMultiplesOnly) {
  const CheckpointSchedule s(CheckpointSpacing::every, 30, 4, 100);
  EXPECT_EQ(s.steps(), (std::vector<int64_t>{30, 60, 90}));
  EXPECT_FALSE(s.due(1));
  const CheckpointSchedule none(CheckpointSpacing::every, 0, 4, 100);
  EXPECT_TRUE(none.steps().empty());
}

}  // namespace
}  // namespace headlab
