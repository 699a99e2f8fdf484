#include "train/gradient_sum.h"

#include <chrono>

#include "core/errors.h"

namespace headlab {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

GradientSum::GradientSum(RankGroup& ranks, Transformer& model, Reduction how, int64_t bucket_floats)
    : ranks_(ranks), model_(model), how_(how) {
  overlapped_ = (how == Reduction::overlap || how == Reduction::overlap_thread) && ranks.size() > 1 &&
                model.backend().device() == Device::cpu;
  if (!overlapped_) return;
  const std::vector<ArenaRange> stages = backward_stages(model.table());
  for (int i = 0; i < int(stages.size()); ++i) {
    const ArenaRange& s = stages[size_t(i)];
    // Stages run down the arena, each right below the last: a bucket grows downwards.
    if (!buckets_.empty() && buckets_.back().range.size < bucket_floats &&
        s.offset + s.size == buckets_.back().range.offset) {
      Bucket& b = buckets_.back();
      b.range.offset = s.offset;
      b.range.size += s.size;
      b.last_stage = i;
    } else {
      buckets_.push_back({s, i});
    }
  }
}

GradientsFinal GradientSum::on_final() {
  next_bucket_ = 0;
  seconds_ = 0;
  if (!overlapped_) return {};
  return [this](int stage) { stage_final(stage); };
}

void GradientSum::stage_final(int stage) {
  const Clock::time_point t = Clock::now();
  start_through(stage);
  if (how_ == Reduction::overlap) ranks_.progress_sums();
  seconds_ += since(t);
}

void GradientSum::start_through(int stage) {
  float* grads = model_.grads();
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].last_stage <= stage) {
    const ArenaRange& r = buckets_[next_bucket_].range;
    ranks_.start_sum(grads + r.offset, r.size, how_ == Reduction::overlap_thread);
    ++next_bucket_;
  }
}

void GradientSum::finish() {
  const Clock::time_point t = Clock::now();
  if (overlapped_) {
    if (!buckets_.empty()) start_through(buckets_.back().last_stage);
    ranks_.wait_sums();
  } else {
    ranks_.sum(model_.grads(), model_.table().arena_size(), model_.backend(), how_);
  }
  next_bucket_ = 0;
  seconds_ += since(t);
}

}  // namespace headlab
