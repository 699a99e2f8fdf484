// What a person watching the run sees on stdout: on a terminal, one line redrawn in place (step,
// loss, tokens/s, ETA); otherwise (a log file, a pipe) one plain line per log point.
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

#include "train/trainer.h"

namespace headlab {

class ProgressReporter : public TrainObserver {
 public:
  ProgressReporter(std::FILE* out, bool terminal) : out_(out), terminal_(terminal) {}
  ~ProgressReporter() override { finish(); }
  // Ends a redrawn line, so what is printed next starts on its own line.
  void finish();
  void on_step(const StepRecord& r, Transformer& model) override;
  void on_eval(int64_t step, std::optional<float> val_loss, Transformer& model) override;
  void on_checkpoint(int64_t step, const std::string& path) override;

 private:
  std::FILE* out_;
  bool terminal_;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace headlab
