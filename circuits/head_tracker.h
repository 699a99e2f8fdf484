// Head formation during training: a TrainObserver (train/trainer.h) that scores every head on one
// fixed repeated-random-token probe (circuits/head_scores.h) every N steps and keeps the history in
// an HDF5 file. headlab-train plugs it in for --track-heads FILE.h5 --track-every N; the training
// library itself never sees it.
//
// FILE.h5 (rewritten atomically after each point, so it is always complete):
//   root attributes  format = "headlab.head_formation", format_version = 1, n_layers, n_heads,
//                    every, probe_n_seq, probe_half_len, probe_seed, probe_bos, icl_early, icl_late
//   /steps                      int64   [n_points]  updates done when scored (0 = before training)
//   /train_loss                 float32 [n_points]  the step's training loss (NaN at step 0)
//   /previous_token, /duplicate_token, /induction, /induction_stripe, /first_token
//                               float32 [n_points, n_layers, n_heads]
//   /icl_score, /loss_first_half, /loss_repeated_half, /loss_all   float32 [n_points]
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "circuits/head_scores.h"
#include "model/config.h"
#include "train/trainer.h"

namespace headlab {

constexpr const char* kFormationFormat = "headlab.head_formation";

struct HeadTrackerOptions {
  std::string path;      // FILE.h5
  int64_t every = 100;   // score every this many steps (and at step 0 and the last step)
  int64_t n_seq = 16;    // probe sequences
  int64_t half_len = 0;  // probe repeat length n; 0: min(50, n_ctx / 2)
  uint64_t seed = 0;     // the probe's tokens
  ProbeOptions probe;
};

// One scored point.
struct FormationPoint {
  int64_t step = 0;
  float train_loss = 0;  // NaN when not known (step 0)
  ProbeScores scores;
};

// The history a file holds.
struct FormationTrack {
  int n_layers = 0, n_heads = 0;
  int64_t every = 0, probe_n_seq = 0, probe_half_len = 0, icl_early = 0, icl_late = 0;
  uint64_t probe_seed = 0;
  int32_t probe_bos = 0;
  std::vector<FormationPoint> points;
};

// Atomic rewrite; InputError when the path cannot be written.
void write_formation_track(const std::string& path, const FormationTrack& track);
// InputError naming the file and the dataset at fault when it is not a formation file.
FormationTrack read_formation_track(const std::string& path);

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
