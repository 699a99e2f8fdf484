// Path patching (Wang et al. 2022): the effect of sender heads on the model's output through one
// set of paths only — into the q, k or v inputs of receiver heads, or straight to the logits —
// with every other path held at its clean value. Three runs per sender set, as in the paper:
//   1. cache every head's hook_z on the clean and on the corrupted input (once per batch);
//   2. run the clean input with the senders' hook_z patched to their corrupted values and every
//      other head's hook_z frozen at its clean value (MLPs recomputed), caching the receivers'
//      hook_q / hook_k / hook_v — or, for the logits, scoring this run;
//   3. run the clean input with only the receivers' q / k / v patched from step 2, and score it.
// This is noising: results are reported both normalised, (patched - corrupted) / (clean - corrupted)
// (1 = the paths carry nothing), and as the effect (patched - clean) / (clean - corrupted)
// (0 = nothing, -1 = the paths carry the whole clean-corrupted difference).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "circuits/heads_arg.h"
#include "circuits/metrics.h"
#include "circuits/task_data.h"
#include "model/transformer.h"

namespace headlab {

struct PathReceiver {
  HeadRef head;
  bool q = false, k = false, v = false;
};

struct PathTarget {
  bool logits = false;                  // the direct paths to the logits
  std::vector<PathReceiver> receivers;  // or the q/k/v inputs of these heads
  int min_layer() const;                // the earliest receiver layer (n_layers for logits)
};

// "logits", or receivers "L2H1:q,L2H3:kv,L3H0" (no suffix = q, k and v). InputError (naming `what`)
// for malformed text or a head the model lacks.
PathTarget parse_path_target(const std::string& text, const ModelConfig& cfg, const std::string& what);
std::string describe(const PathTarget& t);  // "logits" or "L2H1:q,L2H3:kv"

// Whether a sender can reach the target at all: it must sit in a layer before some receiver.
bool sender_reaches(HeadRef sender, const PathTarget& target, const ModelConfig& cfg);

struct PathPatchOptions {
  MetricKind metric = MetricKind::logit_diff;
  int batch_size = 16;
  std::function<void(const std::string&)> progress;  // told after each batch; may be empty
};

struct PathPatchReport {
  MetricKind metric_kind = MetricKind::logit_diff;
  int64_t n_rows = 0;
  double clean = 0, corrupted = 0;
  std::vector<std::vector<HeadRef>> sender_sets;  // one patched result per set
  // Per set; NaN for a set none of whose heads reaches the target (no path, nothing run).
  std::vector<double> metric, normalised, effect;
  int64_t forwards = 0;
};

// InputError when the task has no corrupted rows or a sender set is empty.
PathPatchReport run_path_patching(Transformer& model, const TaskData& task,
                                  const std::vector<std::vector<HeadRef>>& sender_sets, const PathTarget& target,
                                  const PathPatchOptions& options);

}  // namespace headlab
