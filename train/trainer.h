// The training loop. Each step: next batch, forward, zero grads, backward (× grad_accum), clip,
// update, one record for the observers; evaluation and checkpoints at their scheduled steps.
//
// Files under options.out (when set): metrics.jsonl (one JSON object per log point: step, loss,
// val_loss, lr, grad_norm, tokens_per_s, tokens_seen, elapsed_s; allreduce_s on several ranks: that
// step's gradient sum on rank 0), checkpoints/step_NNNNNN.h5 at
// the checkpoint schedule's steps and at --stop-at, and final.h5 when the run reaches --steps.
// Every checkpoint carries the full training state, so any of them can be resumed.
//
// Killed at any moment (SIGKILL included), a run leaves DIR consistent: checkpoints and final.h5
// are written under hidden temporary names (".step_NNNNNN.h5.tmp") and renamed into place
// complete, so every step_*.h5 that exists loads; the next run in DIR removes the leftovers.
// Resuming from the latest checkpoint into the same DIR repeats the lost steps bit for bit and
// drops metrics.jsonl's lines past the checkpoint (see metrics_log.h).
//
// Observers let a command plug in more (a progress line, head-formation tracking) without this
// library knowing about them.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/errors.h"
#include "train/gradient_sum.h"
#include "train/rank_group.h"
#include "train/schedule.h"
#include "train/session.h"

namespace headlab {

struct StepRecord {
  int64_t step = 0;         // updates done, this one included
  int64_t total_steps = 0;  // --steps
  float loss = 0;           // mean loss of the step's micro-batches (before the update)
  float lr = 0;
  double grad_norm = 0;     // global norm before clipping
  double tokens_per_s = 0;  // training throughput since the previous log point
  int64_t tokens_seen = 0;
  double elapsed_s = 0;  // wall time since this run() began
  double eta_s = 0;      // to the last step of this run() at the pace so far
  // Several ranks: this rank's seconds of the step spent summing gradients and not hidden behind
  // the backward (waiting for the slower rank included).
  std::optional<double> allreduce_s;
  // A log point: step 1, every --log-every, evaluation points, --steps. Not --stop-at, so a run
  // stopped and resumed logs the same steps as one that was not.
  bool log = false;
  std::optional<float> val_loss;  // at evaluation points, when there is validation data
};

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  // After every update (record.step = updates done).
  virtual void on_step(const StepRecord& record, Transformer& model) {}
  // At every evaluation point, after on_step; also at step 0, before the first update of a fresh
  // run. val_loss is empty without validation data.
  virtual void on_eval(int64_t step, std::optional<float> val_loss, Transformer& model) {}
  virtual void on_checkpoint(int64_t step, const std::string& path) {}
};

// A NaN or inf loss or gradient norm: training stopped before that step's update. An input error
// (the settings diverge): the command prints it and exits 2.
class TrainingDiverged : public InputError {
 public:
  TrainingDiverged(int64_t step, const std::string& quantity, double value, const std::string& last_checkpoint);
  int64_t step;
  std::string last_checkpoint;  // empty when none was written
};

struct TrainResult {
  int64_t step = 0;           // updates done when run() returned
  bool finished = false;      // reached --steps (final.h5 written when out is set)
  std::vector<float> losses;  // the loss of every step this run() took
  std::optional<float> final_val_loss;
};

class Trainer {
 public:
  explicit Trainer(TrainSession& session);  // creates the out directories; writes nothing else yet
  ~Trainer();
  void add_observer(TrainObserver* observer) { observers_.push_back(observer); }
  // Trains from session.step to --steps (or --stop-at). Throws TrainingDiverged.
  TrainResult run();
  // Mean validation loss over --eval-batches fixed batches; empty without validation data.
  std::optional<float> evaluate();
  // Writes a checkpoint of the current state (model, optimizer, data position, step).
  void save_checkpoint(const std::string& path);

 private:
  using Clock = std::chrono::steady_clock;
  float accumulate_gradients(int64_t step);
  StepRecord make_record(int64_t step, float loss, float lr, double grad_norm, bool eval_point);
  int64_t last_step() const;          // of this run(): --stop-at, else --steps
  bool eval_due(int64_t step) const;  // step 0 = before the first update
  void notify(const StepRecord* record, std::optional<float> val_loss);
  [[noreturn]] void diverged(int64_t step, const std::string& quantity, double value);
  std::string step_checkpoint_path(int64_t step) const;
  void save_checkpoint(const std::string& path, const char* kill_point);

  TrainSession& s_;
  std::unique_ptr<RankGroup> own_ranks_;  // when the session names none: this process alone
  RankGroup* ranks_ = nullptr;
  std::unique_ptr<GradientSum> gradient_sum_;
  const TrainOptions& o_;
  LrSchedule lr_;
  CheckpointSchedule checkpoints_;
  std::vector<TrainObserver*> observers_;
  std::unique_ptr<TrainObserver> metrics_;  // DIR/metrics.jsonl
  // Throughput: time in steps only (evaluation and checkpoints left out).
  Clock::time_point run_start_;
  double step_seconds_ = 0, window_seconds_ = 0;
  int64_t steps_this_run_ = 0, window_tokens_ = 0;
};

// Test hook, for the kill-and-resume tests: HEADLAB_TEST_KILL_AT=<point>:<step> makes the process
// raise SIGKILL at that point of that step. Points, in the order a step meets them:
//   step        after the update, before anything of the step is written
//   metrics     halfway through writing the step's metrics.jsonl line (flushed)
//   checkpoint  while writing the step's checkpoint: its temporary file holds half the bytes
//   final       the same for final.h5 (step = --steps)
// Unset (always, outside tests) it costs one getenv per process.
void kill_if_testing(const char* point, int64_t step);
bool test_kill_due(const char* point, int64_t step);  // whether kill_if_testing would kill here

}  // namespace headlab
