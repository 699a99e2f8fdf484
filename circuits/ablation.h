// Ablation of each head and each layer: replace a component's output and measure what the task
// loses. Heads are ablated at hook_z (so the head's W_O z term leaves the residual stream; b_O
// stays), a layer's attention as all of its heads at once, a layer's MLP at hook_mlp_out.
//   zero      the output is 0
//   mean      the output is its mean over a reference set, position by position
//   resample  the output is the one computed on another input (rows of the reference set drawn
//             with a seed)
// Reported: the task metric on the clean rows and their mean next-token loss, for the clean model
// and each ablation.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "circuits/metrics.h"
#include "circuits/task_data.h"
#include "model/transformer.h"

namespace headlab {

enum class AblationKind { zero, mean, resample };
AblationKind parse_ablation_kind(const std::string& text, const std::string& what);  // InputError
std::string to_string(AblationKind k);

struct AblationOptions {
  AblationKind kind = AblationKind::zero;
  MetricKind metric = MetricKind::logit_diff;
  int batch_size = 16;
  const TaskData* reference = nullptr;  // mean / resample source; null = the task's clean rows
  uint64_t seed = 0;                    // resample: which reference rows
  std::function<void(const std::string&)> progress;
};

struct AblationReport {
  AblationKind kind = AblationKind::zero;
  MetricKind metric = MetricKind::logit_diff;
  int64_t n_rows = 0;
  double clean_metric = 0, clean_loss = 0;
  std::vector<double> head_metric, head_loss;  // [L, H]
  std::vector<double> attn_metric, attn_loss;  // [L]: every head of the layer at once
  std::vector<double> mlp_metric, mlp_loss;    // [L]; empty for attention-only models
  int64_t forwards = 0;
};

// InputError when the reference's rows differ in length from the task's (mean, resample).
AblationReport run_ablation(Transformer& model, const TaskData& task, const AblationOptions& options);

}  // namespace headlab
