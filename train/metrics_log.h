// DIR/metrics.jsonl: one JSON object per line and log point, flushed as written, so a crashed or
// diverged run keeps its curve. Steps only increase down the file, each once, so
// pandas.read_json(path, lines=True) reads one run whatever was killed and resumed:
//  - a resumed run first keeps the lines with step <= its checkpoint's step (the interrupted run
//    may have gone further; it will write those steps again, with the same losses), drops any
//    line that is not a whole JSON object (a line cut short by a kill), and replaces the file
//    with that in one rename, so a kill at that moment loses nothing;
//  - elapsed_s goes on from the last line kept (the time between that line and the kill is lost).
#pragma once
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
  void write_line(const std::string& line, int64_t step);
  std::string path_;
  int fd_ = -1;                // opened O_APPEND
  double elapsed_offset_ = 0;  // elapsed_s of the last line kept from the run being resumed
};

}  // namespace headlab
