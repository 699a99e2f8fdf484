// Edge attribution on the masked-edge primitive (circuits/masked_forward.h):
//   EAP (Syed et al. 2023): score(u -> v) = Σ_{batch, pos, d_model} (a_u^corrupted − a_u^clean) ·
//     ∂ℓ/∂in_v at the clean run, from one corrupted forward, one clean forward and one backward;
//   EAP-IG, inputs (Hanna et al. 2024, MIB's recommended method): the gradient averaged over runs
//     whose input embedding is corrupted + α (clean − corrupted), α = k/K for k = 0..K−1 (the left
//     Riemann sum of the reference implementation; α = 1 is never run);
//   EAP-IG, activations (MIB's EAP-IG-activations, the reference implementation's
//     get_scores_ig_activations): for each layer node in turn (the input, each layer's heads
//     together, each MLP) and α = k/K for k = 1..K (a right Riemann sum), a clean run whose node
//     output is replaced by corrupted + α (clean − corrupted), a constant (no gradient flows back
//     through it); every edge's gradient averaged over all (1 + #layers' attention + #MLPs) · K runs;
//   clean-corrupted: the gradient averaged over the clean and the corrupted run only.
// ℓ is the loss form of the metric: −metric for logit_diff and prob (higher is the behaviour),
// the KL itself for kl. A score is then the first-order increase of ℓ when the edge alone is
// patched: positive = the edge carries the behaviour. Scores are means over the task's rows.
// Clean and corrupted rows have the same token count (TaskData guarantees it).
#pragma once
#include <functional>
#include <string>

#include "circuits/edge_graph.h"
#include "circuits/metrics.h"
#include "circuits/task_data.h"
#include "model/transformer.h"

namespace headlab {

enum class EdgeMethod { eap, ig_inputs, ig_activations, clean_corrupted };
// "inputs" | "activations" | "clean-corrupted"; InputError otherwise
EdgeMethod parse_ig_mode(const std::string& text);
std::string to_string(EdgeMethod m);  // "EAP", "EAP-IG-inputs" ...

struct EdgeAttributionOptions {
  EdgeMethod method = EdgeMethod::eap;
  MetricKind metric = MetricKind::logit_diff;
  int ig_steps = 5;  // K
  int batch_size = 16;
  std::function<void(const std::string&)> progress;
};

struct EdgeScores {
  EdgeGraph graph;
  EdgeMatrix scores{};  // [n_src, n_dst], 0 off the edges
  EdgeMethod method = EdgeMethod::eap;
  MetricKind metric = MetricKind::logit_diff;
  int ig_steps = 0;
  int64_t n_rows = 0;
  double clean_metric = 0, corrupted_metric = 0;  // means over the rows
  int64_t forwards = 0, backwards = 0;
};

// InputError when the task has no corrupted rows, or K is outside [1, 1000].
EdgeScores attribute_edges(Transformer& model, const TaskData& task, const EdgeAttributionOptions& opt);

// The loss form ℓ of a metric (see above) for one sequence value, and d(Σ ℓ)/d(logits).
double metric_loss(MetricKind kind, double metric_value);
std::vector<float> loss_gradient(MetricKind kind, const float* logits, const MetricTargets& t);

// Node attribution patching (Nanda 2023) from edge scores: a source's score is the sum of its
// outgoing edges' scores, which equals (a^corrupted − a^clean) · ∂ℓ/∂a at its output (hook_result
// of a head, hook_mlp_out of an MLP; through W_O the same as at hook_z), since the gradient at a
// source's output is the sum of the gradients of every destination that reads it.
std::vector<double> node_scores(const EdgeScores& s);  // [n_src]

}  // namespace headlab
