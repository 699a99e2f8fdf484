// Head formation during training: a TrainObserver (train/trainer.h) that scores every head on one
// fixed repeated-random-token probe (circuits/head_scores.h) every N steps and keeps the history in
// a formation file (circuits/formation_track.h). headlab-train plugs it in for --track-heads
// FILE.h5 --track-every N; it lives with the command so that neither the training library nor the
// circuits library includes the other.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "circuits/formation_track.h"
#include "circuits/head_scores.h"
#include "model/config.h"
#include "train/trainer.h"

namespace headlab {

struct HeadTrackerOptions {
  std::string path;      // FILE.h5
  int64_t every = 100;   // score every this many steps (and at step 0 and the last step)
  int64_t n_seq = 16;    // probe sequences
  int64_t half_len = 0;  // probe repeat length n; 0: min(50, n_ctx / 2)
  uint64_t seed = 0;     // the probe's tokens
  ProbeOptions probe;
};

class HeadTracker : public TrainObserver {
 public:
  // tokenizer_json: the run's tokenizer (TrainSession::tokenizer_json), for the probe's tokens.
  // start_step: where the run starts; resuming (start_step > 0) keeps the points an existing file
  // has up to that step when its probe is the same, so the history continues, and rewrites the
  // file at once without the later ones (a killed run's points past its checkpoint). InputError
  // for every < 1 or a probe that does not fit the model.
  HeadTracker(const ModelConfig& cfg, const std::string& tokenizer_json, HeadTrackerOptions options,
              int64_t start_step = 0);

  void on_step(const StepRecord& record, Transformer& model) override;
  void on_eval(int64_t step, std::optional<float> val_loss, Transformer& model) override;

  // Scores the model now and appends the point (and rewrites the file).
  void record(int64_t step, float train_loss, Transformer& model);
  const FormationTrack& track() const { return track_; }

 private:
  HeadTrackerOptions options_;
  RepeatProbe probe_;
  FormationTrack track_;
};

}  // namespace headlab
