// Head formation during training: the history of every head's scores on one fixed
// repeated-random-token probe (circuits/head_scores.h), scored every N steps, in an HDF5 file.
// headlab-train's head tracker (tools/headlab-train/head_tracker.h) writes it; the formation
// analysis (circuits/formation.h) reads it.
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
#include <string>
#include <vector>

#include "circuits/head_scores.h"
#include "model/config.h"

namespace headlab {

constexpr const char* kFormationFormat = "headlab.head_formation";

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

}  // namespace headlab
