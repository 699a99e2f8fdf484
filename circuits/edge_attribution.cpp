#include "circuits/edge_attribution.h"

#include "circuits/masked_forward.h"
#include "core/errors.h"

namespace headlab {

EdgeMethod parse_ig_mode(const std::string& text) {
  if (text == "inputs") return EdgeMethod::ig_inputs;
  if (text == "activations") return EdgeMethod::ig_activations;
  if (text == "clean-corrupted") return EdgeMethod::clean_corrupted;
  throw InputError("--ig-mode", "expected inputs, activations or clean-corrupted, got '" + text + "'");
}

std::string to_string(EdgeMethod m) {
  switch (m) {
    case EdgeMethod::eap:
      return "EAP";
    case EdgeMethod::ig_inputs:
      return "EAP-IG-inputs";
    case EdgeMethod::ig_activations:
      return "EAP-IG-activations";
    case EdgeMethod::clean_corrupted:
      return "EAP-IG-clean-corrupted";
  }
  return "?";
}

double metric_loss(MetricKind kind, double value) { return kind == MetricKind::kl ? value : -value; }

std::vector<float> loss_gradient(MetricKind kind, const float* logits, const MetricTargets& t) {
  std::vector<float> g = metric_gradient(kind, logits, t);
  if (kind != MetricKind::kl)
    for (float& x : g) x = -x;
  return g;
}

EdgeScores attribute_edges(Transformer& model, const TaskData& task, const EdgeAttributionOptions& opt) {
  if (!task.has_pairs())
    throw InputError(task.what + ": /corrupted", "edge attribution needs clean/corrupted pairs; the dataset has none");
  if (opt.ig_steps < 1 || opt.ig_steps > 1000)
    throw InputError("--ig", "expected a number of steps in [1, 1000], got " + std::to_string(opt.ig_steps));
  const ModelConfig& c = model.config();
  check_task_fits_model(task, c);
  EdgeScores out{EdgeGraph(c)};
  out.method = opt.method;
  out.metric = opt.metric;
  const bool ig = opt.method == EdgeMethod::ig_inputs || opt.method == EdgeMethod::ig_activations;
  out.ig_steps = ig ? opt.ig_steps : 0;
  out.n_rows = task.n;
  out.scores = edge_matrix(out.graph, 0.0f);
  EdgePatcher patcher(model, out.graph);
  const auto batches = task_batches(task, opt.batch_size);
  // EAP-IG-activations. layer nodes: the input, then per layer its heads and its MLP, as
  // (first source, count) ranges.
  std::vector<std::pair<int, int>> layer_nodes = {{out.graph.src_input(), 1}};
  for (int l = 0; l < c.n_layers; ++l) {
    if (c.n_heads > 0) layer_nodes.push_back({out.graph.src_head(l, 0), c.n_heads});
    if (out.graph.has_mlps()) layer_nodes.push_back({out.graph.src_mlp(l), 1});
  }
  int K = opt.ig_steps;  // runs whose gradients are averaged
  if (opt.method == EdgeMethod::eap) K = 1;
  if (opt.method == EdgeMethod::clean_corrupted) K = 2;
  if (opt.method == EdgeMethod::ig_activations) K = opt.ig_steps * int(layer_nodes.size());
  double clean_sum = 0, corrupted_sum = 0;
  for (const TaskBatch& b : batches) {
    patcher.cache_corrupted(b.corrupted, b.B, b.T);
    std::vector<float> buffer;
    const std::vector<float> corrupted_logits = model.logits_to_host();
    // The clean run records the source rows (clean − corrupted) every method scores with.
    MaskedRunOptions clean;
    clean.gradients = !ig;
    patcher.forward(b.clean, clean);
    out.forwards += 2;
    const float* logits = host_logits(model, buffer);
    const std::vector<float> ref = answer_logprobs(logits, b.B, b.T, c.d_vocab, b.answer_pos);
    const MetricTargets targets = b.metric_targets(c.d_vocab, ref.data());
    clean_sum += metric_sum(opt.metric, logits, targets);
    corrupted_sum += metric_sum(opt.metric, corrupted_logits.data(), targets);
    patcher.zero_gradients();
    auto backward_here = [&]() {
      std::vector<float> buf;
      patcher.backward(loss_gradient(opt.metric, host_logits(model, buf), targets).data());
      ++out.backwards;
    };
    if (!ig) backward_here();
    if (opt.method == EdgeMethod::clean_corrupted) {
      MaskedRunOptions corrupted;
      corrupted.keep_deltas = true;
      corrupted.gradients = true;
      patcher.forward(b.corrupted, corrupted);
      ++out.forwards;
      backward_here();
    }
    if (opt.method == EdgeMethod::ig_inputs) {
      for (int k = 0; k < K; ++k) {
        MaskedRunOptions step;
        step.keep_deltas = true;
        step.gradients = true;
        step.input_alpha = float(k) / float(K);
        patcher.forward(b.clean, step);
        ++out.forwards;
        backward_here();
      }
    }
    if (opt.method == EdgeMethod::ig_activations) {
      for (const auto& [first, count] : layer_nodes)
        for (int k = 1; k <= opt.ig_steps; ++k) {
          MaskedRunOptions step;
          step.keep_deltas = true;
          step.gradients = true;
          const float alpha = float(k) / float(opt.ig_steps);
          if (first == out.graph.src_input()) {
            step.input_alpha = alpha;
          } else {
            step.replace_first = first;
            step.replace_count = count;
            step.replace_alpha = alpha;
          }
          patcher.forward(b.clean, step);
          ++out.forwards;
          backward_here();
        }
    }
    patcher.add_edge_scores(out.scores, 1.0 / (double(K) * double(task.n)));
    if (opt.progress)
      opt.progress("batch " + std::to_string(b.first / opt.batch_size + 1) + "/" + std::to_string(batches.size()) +
                   " done (" + std::to_string(out.forwards) + " forwards, " + std::to_string(out.backwards) +
                   " backwards)");
  }
  out.clean_metric = clean_sum / double(task.n);
  out.corrupted_metric = corrupted_sum / double(task.n);
  return out;
}

std::vector<double> node_scores(const EdgeScores& s) {
  const EdgeGraph& g = s.graph;
  std::vector<double> out(size_t(g.n_src()), 0.0);
  for (int src = 0; src < g.n_src(); ++src)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(src, d)) out[size_t(src)] += double(s.scores[size_t(g.cell(src, d))]);
  return out;
}

}  // namespace headlab
