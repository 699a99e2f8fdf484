#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace headlab {

LrSchedule::LrSchedule(LrShape shape, float lr, float min_lr, int64_t warmup, int64_t total_steps)
    : shape_(shape), lr_(lr), min_lr_(min_lr), warmup_(warmup), total_(total_steps) {}

float LrSchedule::at(int64_t step) const {
  if (step <= warmup_) return float(lr_ * double(step) / double(warmup_));
  if (shape_ == LrShape::constant || total_ <= warmup_) return float(lr_);
  // progress runs over (0, 1] from the first step after warmup to the last step.
  const double progress = std::min(1.0, double(step - warmup_) / double(total_ - warmup_));
  return float(min_lr_ + 0.5 * (lr_ - min_lr_) * (1.0 + std::cos(M_PI * progress)));
}

std::vector<int64_t> log_spaced_steps(int64_t last, int per_octave) {
  std::vector<int64_t> out;
  for (int k = 0;; ++k) {
    const int64_t s = std::llround(std::exp2(double(k) / per_octave));
    if (s > last) break;
    if (out.empty() || out.back() != s) out.push_back(s);
  }
  return out;
}

CheckpointSchedule::CheckpointSchedule(CheckpointSpacing spacing, int64_t every, int per_octave, int64_t total_steps)
    : every_(every), total_(total_steps) {
  if (spacing == CheckpointSpacing::log)
    for (int64_t s : log_spaced_steps(total_steps, per_octave)) log_steps_.insert(s);
}

bool CheckpointSchedule::due(int64_t step) const {
  if (step < 1 || step > total_) return false;
  return (every_ > 0 && step % every_ == 0) || log_steps_.count(step) > 0;
}

std::vector<int64_t> CheckpointSchedule::steps() const {
  std::set<int64_t> all = log_steps_;
  if (every_ > 0)
    for (int64_t s = every_; s <= total_; s += every_) all.insert(s);
  return {all.begin(), all.end()};
}

}  // namespace headlab
