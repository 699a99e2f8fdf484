// DIR/metrics.jsonl: one JSON object per line and log point, flushed as written, so a crashed or
// diverged run keeps its curve. A resumed run first drops the lines after its checkpoint's step
// (the interrupted run may have gone further), so the file reads as one run.
#pragma once
#include <cstdio>
#include <string>

#include "train/trainer.h"

namespace headlab {

class MetricsLog : public TrainObserver {
 public:
  // resume_step > 0: keep the existing lines with step <= resume_step; otherwise start afresh.
  MetricsLog(const std::string& path, int64_t resume_step);
  ~MetricsLog() override;
  void on_step(const StepRecord& r, Transformer& model) override;
  void on_eval(int64_t step, std::optional<float> val_loss, Transformer& model) override;

 private:
  void write_line(const std::string& line);
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace headlab
