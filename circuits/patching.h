// Activation patching sweeps (Wang et al. 2022; Heimersheim & Nanda 2024 for the vocabulary):
//  - denoising: run the corrupted input and patch in one piece of the clean run;
//  - noising: run the clean input and patch in one piece of the corrupted run.
// Each sweep patches one hook site at every (layer, position), (layer, head) or (layer, head,
// position) in turn, one patched forward each, and reports the task metric normalised as
//   (patched - corrupted) / (clean - corrupted)
// so 1 means the piece alone restores the clean behaviour (denoising) and 0 means it breaks it
// completely (noising).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "circuits/metrics.h"
#include "circuits/task_data.h"
#include "core/work_shard.h"
#include "model/hooks.h"
#include "model/transformer.h"

namespace headlab {

enum class PatchDirection { denoising, noising };
std::string to_string(PatchDirection d);
// "denoising", "noising" or "both" (a comma-separated list works too); InputError otherwise.
std::vector<PatchDirection> parse_patch_directions(const std::string& text, const std::string& what);

// What one sweep patches: a hook site, swept over layers and positions and/or heads.
struct PatchSweep {
  std::string name;
  HookSite site = HookSite::resid_pre;
  bool by_head = false;      // one patched run per head (the head's slice only)
  bool by_position = false;  // one patched run per position (that position only)
};
// Names: resid_pre, resid_mid, resid_post, attn_out, mlp_out (by layer and position);
// z, q, k, v, pattern (by layer and head, all positions); z_pos, q_pos, k_pos, v_pos, pattern_pos
// (by layer, head and position). InputError for an unknown name or a site the model lacks.
PatchSweep parse_patch_sweep(const std::string& name, const ModelConfig& cfg);
std::vector<PatchSweep> parse_patch_sweeps(const std::string& list, const ModelConfig& cfg);
// [L, T], [L, H] or [L, H, T] (T: positions, or position groups).
std::vector<int64_t> sweep_shape(const PatchSweep& s, const ModelConfig& cfg, int T);

struct PatchResult {
  PatchSweep sweep;
  PatchDirection direction = PatchDirection::denoising;
  std::vector<int64_t> shape;      // sweep_shape
  std::vector<double> metric;      // mean metric of each patched run
  std::vector<double> normalised;  // (metric - corrupted) / (clean - corrupted)
};

struct PatchReport {
  MetricKind metric = MetricKind::logit_diff;
  int64_t n_rows = 0;
  int T = 0;
  double clean = 0, corrupted = 0;  // mean metric of the unpatched runs
  std::vector<PatchResult> results;
  int64_t forwards = 0;  // forward passes run, over all batches
};

struct PatchOptions {
  MetricKind metric = MetricKind::logit_diff;
  // Positions by group instead of by absolute index (Wang et al.'s IO, S1, S2, END): when set,
  // position_groups [n, T] gives each row position's group (0 .. n_groups - 1, or -1 for none) and
  // the position axis of every by-position sweep runs over the groups, each patched run patching,
  // in every row, the positions of that group there (a row without one is left unpatched).
  const std::vector<int32_t>* position_groups = nullptr;
  int n_groups = 0;
  int batch_size = 16;
  std::vector<PatchDirection> directions = {PatchDirection::denoising};
  std::function<void(const std::string&)> progress;  // told after each batch; may be empty
  // Several processes sharing the sweep: this one patches only the cells it owns, counted over the
  // results in order (direction, sweep, then each result's cells); the others' cells come back
  // with metric 0 and are merged by the caller (take each cell from its owner: the same sums, in the
  // same order, as one process computes).
  WorkShard shard;
};

// InputError when the task has no corrupted rows.
PatchReport run_patching(Transformer& model, const TaskData& task, const std::vector<PatchSweep>& sweeps,
                         const PatchOptions& options);

// (m - corrupted) / (clean - corrupted); NaN when clean and corrupted are equal.
double normalise_patched(double m, double clean, double corrupted);

}  // namespace headlab
