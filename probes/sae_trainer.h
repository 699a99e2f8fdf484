// Training an SAE from a RowSource, as SAELens' SAETrainer does it: rows scaled so their mean norm
// is sqrt(d_in) (the factor estimated once on a sample), Adam, the learning-rate schedule, the
// sparsity coefficient's linear warm-up, clip_grad_norm_, and the dead-latent counters that AuxK
// reads (a latent is dead once it has not fired for more than dead_feature_window steps).
// Deterministic for a seed and thread count; resumable from the state it writes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/backend.h"
#include "probes/sae_model.h"
#include "probes/sae_pass.h"
#include "probes/sae_source.h"

namespace headlab {

// Everything training needs to continue exactly.
struct SaeTrainState {
  SaeConfig cfg;
  double scale = 1.0;                // rows are multiplied by this before the SAE sees them
  std::vector<float> params, m, v;   // arena (SaeLayout), training space
  std::vector<int64_t> since_fired;  // [d_sae] steps since each latent last fired
  std::vector<int64_t> fire_count;   // [d_sae] rows each latent fired on, over the whole run
  double topk_threshold = 0;         // batchtopk's inference threshold (EMA)
  int64_t step = 0, tokens_seen = 0;
  std::vector<uint64_t> source_state;
};

// One log line's worth, after each step.
struct SaeProgress {
  int64_t step = 0;
  SaeStepResult result;
  double lr = 0, grad_norm = 0, sparsity_coefficient = 0;
  double dead_fraction = 0;  // latents dead by the window after this step
};

// sqrt(d_in) / mean ‖x‖ over the next `rows` rows of the source; the source is put back where it was.
double estimate_input_scale(RowSource& source, int64_t rows);

// A fresh state: the scale estimated on `norm_rows` rows, SAELens' initialisation.
SaeTrainState new_sae_state(const SaeConfig& cfg, RowSource& source, int64_t norm_rows);

class SaeTrainer {
 public:
  SaeTrainer(SaeTrainState& state, Backend& be) : s_(state), be_(be) {}
  // One step on the next batch of the source. InputError (with the step) when the loss is not finite.
  SaeProgress step(RowSource& source);
  // Steps until cfg.steps; `on_step` after each one (return false to stop early, e.g. on a signal).
  void run(RowSource& source, const std::function<bool(const SaeProgress&)>& on_step);
  const SaeWorkspace& workspace() const { return ws_; }
  const std::vector<float>& last_grads() const { return grads_; }  // the last step's, before clipping

 private:
  SaeTrainState& s_;
  Backend& be_;
  SaeWorkspace ws_;
  std::vector<float> x_, grads_;
  std::vector<uint8_t> dead_;
};

// The coefficient of step `step` (0-based) for a final value warmed up over `warmup` steps
// (SAELens' CoefficientScheduler: final · min(step / warmup, 1)).
double warmed_up(double final_value, int64_t warmup, int64_t step);

}  // namespace headlab
