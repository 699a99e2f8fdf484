// When things happen over a run: the learning rate at each step, and the steps that get a
// checkpoint. Steps are 1-based: step s is the s-th optimizer update.
#pragma once
#include <cstdint>
#include <set>
#include <vector>

#include "train/options.h"

namespace headlab {

// Linear warmup from lr/warmup (step 1) to lr (step `warmup`), then either constant, or a cosine
// from lr down to min_lr, reached exactly at step `total_steps`.
class LrSchedule {
 public:
  LrSchedule(LrShape shape, float lr, float min_lr, int64_t warmup, int64_t total_steps);
  explicit LrSchedule(const TrainOptions& o) : LrSchedule(o.schedule, o.lr, o.min_lr, o.warmup, o.steps) {}
  float at(int64_t step) const;

 private:
  LrShape shape_;
  double lr_, min_lr_;
  int64_t warmup_, total_;
};

// round(2^(k / per_octave)) for k = 0, 1, ..., without repeats, up to `last` inclusive:
// per_octave 2 gives 1, 2, 3, 4, 6, 8, 11, 16, 23, 32 ... — dense where heads form, sparse after.
std::vector<int64_t> log_spaced_steps(int64_t last, int per_octave);

// The steps of a run that write DIR/checkpoints/step_NNNNNN.h5.
class CheckpointSchedule {
 public:
  CheckpointSchedule(CheckpointSpacing spacing, int64_t every, int per_octave, int64_t total_steps);
  explicit CheckpointSchedule(const TrainOptions& o)
      : CheckpointSchedule(o.checkpoint_schedule, o.checkpoint_every, o.checkpoints_per_octave, o.steps) {}
  bool due(int64_t step) const;
  std::vector<int64_t> steps() const;  // every due step in [1, total_steps], ascending

 private:
  int64_t every_, total_;
  std::set<int64_t> log_steps_;
};

}  // namespace headlab
