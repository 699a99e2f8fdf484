// When do induction heads form? (`headlab-circuits formation --track FILE.h5`.) Reads the history
// headlab-train --track-heads wrote (circuits/head_tracker.h) and finds the phase change Olsson et
// al. 2022 describe: the induction score of the best head rises steeply, and at the same time the
// loss on the repeated half of the probe drops and the in-context-learning score (late minus early
// loss) falls; the overall training loss may show a bump there.
//
// Files written into DIR:
//   formation.json  the analysis below and every curve (steps, per-head scores, losses)
//   formation.txt   the analysis in words
//   formation.svg   line charts: induction-stripe score of each head (or each layer's best, for
//                   models with more than 12 heads), previous-token score likewise, and the losses
//                   and ICL score, over training steps
#pragma once
#include <cstdint>
#include <string>

#include "circuits/formation_track.h"

namespace headlab {

struct FormationAnalysis {
  int64_t n_points = 0;
  // Max over heads of the induction-stripe score (ARENA's induction score), at each point; the
  // head that holds it at the last point.
  int best_layer = -1, best_head = -1;
  double final_induction = 0;
  // The steepest rise of that maximum, per step, between consecutive points: it happens between
  // rise_from and rise_to, by rise (score units). formation_step = rise_to. -1 when there are
  // fewer than two points.
  int64_t formation_step = -1, rise_from = -1, rise_to = -1;
  double rise = 0;
  // The first point at which the maximum exceeds the threshold (-1: never).
  double threshold = 0.4;
  int64_t first_above_threshold = -1;
  // The steepest drop, per step, of the probe's repeated-half loss and of the ICL score (the point
  // that ends the interval), and their sizes.
  int64_t loss_drop_step = -1, icl_drop_step = -1;
  double loss_drop = 0, icl_drop = 0;
  // The largest rise of the training loss between consecutive points (the bump Olsson et al. see at
  // the phase change), at the point that ends it; -1 when the loss never rises. The training loss is
  // one batch's, so small rises are noise.
  int64_t loss_bump_step = -1;
  double loss_bump = 0;
  // |formation_step - loss_drop_step| in points: 0 or 1 means the score and the loss move together.
  int64_t score_loss_gap_points = -1;
};

// InputError("--track", ...) when the track has no points.
FormationAnalysis analyse_formation(const FormationTrack& track, double threshold = 0.4);

std::string formation_text(const FormationTrack& track, const FormationAnalysis& a, const std::string& source);

// Writes formation.json, formation.txt and formation.svg into dir (created when missing).
void write_formation_report(const FormationTrack& track, const FormationAnalysis& a, const std::string& source,
                            const std::string& dir);

}  // namespace headlab
