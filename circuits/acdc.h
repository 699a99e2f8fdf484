// ACDC (Conmy et al. 2023), the slow exact baseline, on the masked-edge primitive: start from the
// whole model; visit the destinations from the logits back (logits, then each layer's MLP input and
// heads' q/k/v inputs, last layer first); for each incoming edge, patch it from the corrupted run
// and keep it patched when the loss moves by less than the threshold (ℓ(with it patched) −
// ℓ(current) < τ), else restore it. The loss is KL(clean || run) by default, as in ACDC, or the
// task metric's loss form (−logit_diff, −prob). A node none of whose outgoing edges survive is
// removed with all its incoming edges without a run (it can no longer affect the output).
#pragma once
#include <functional>
#include <string>

#include "circuits/edge_graph.h"
#include "circuits/metrics.h"
#include "circuits/task_data.h"
#include "model/transformer.h"

namespace headlab {

struct AcdcOptions {
  double threshold = 0.01;  // τ
  MetricKind metric = MetricKind::kl;
  int batch_size = 64;
  std::function<void(const std::string&)> progress;
};

struct AcdcResult {
  EdgeGraph graph;
  EdgeMatrix keep{};    // 0/1: the edges ACDC kept
  EdgeMatrix change{};  // ℓ change measured when the edge was tried (0 for edges of removed nodes)
  double final_loss = 0, clean_loss = 0, corrupted_loss = 0;
  int64_t edges_tested = 0, forwards = 0;
};

// InputError when the task has no corrupted rows or the threshold is negative or not finite.
AcdcResult run_acdc(Transformer& model, const TaskData& task, const AcdcOptions& opt);

}  // namespace headlab
