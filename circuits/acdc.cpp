#include "circuits/acdc.h"

#include <cmath>
#include <memory>

#include "circuits/edge_attribution.h"
#include "circuits/masked_forward.h"
#include "core/errors.h"

namespace headlab {
namespace {

// The rows, one patcher per batch (each holds its batch's corrupted outputs), scored together.
class MaskedLoss {
 public:
  MaskedLoss(Transformer& model, const TaskData& task, const EdgeGraph& g, MetricKind metric, int batch_size)
      : model_(model), task_(task), metric_(metric), batches_(task_batches(task, batch_size)) {
    const ModelConfig& c = model.config();
    for (const TaskBatch& b : batches_) {
      model.forward(b.clean, b.B, b.T);
      std::vector<float> buffer;
      const float* logits = host_logits(model, buffer);
      refs_.push_back(answer_logprobs(logits, b.B, b.T, c.d_vocab, b.answer_pos));
      clean_ += metric_sum(metric, logits, b.metric_targets(c.d_vocab, refs_.back().data()));
      patchers_.push_back(std::make_unique<EdgePatcher>(model, g));
      patchers_.back()->cache_corrupted(b.corrupted, b.B, b.T);
      corrupted_ += metric_sum(metric, host_logits(model, buffer), b.metric_targets(c.d_vocab, refs_.back().data()));
      forwards += 2;
    }
  }
  double loss(const EdgeMatrix& mask) {
    double sum = 0;
    for (size_t i = 0; i < batches_.size(); ++i) {
      MaskedRunOptions opt;
      opt.mask = &mask;
      opt.keep_deltas = false;
      patchers_[i]->forward(batches_[i].clean, opt);
      std::vector<float> buffer;
      sum += metric_sum(metric_, host_logits(model_, buffer),
                        batches_[i].metric_targets(model_.config().d_vocab, refs_[i].data()));
      ++forwards;
    }
    return metric_loss(metric_, sum / double(task_.n));
  }
  double clean_loss() const { return metric_loss(metric_, clean_ / double(task_.n)); }
  double corrupted_loss() const { return metric_loss(metric_, corrupted_ / double(task_.n)); }
  int64_t forwards = 0;

 private:
  Transformer& model_;
  const TaskData& task_;
  MetricKind metric_;
  std::vector<TaskBatch> batches_;
  std::vector<std::vector<float>> refs_;
  std::vector<std::unique_ptr<EdgePatcher>> patchers_;
  double clean_ = 0, corrupted_ = 0;
};

}  // namespace

AcdcResult run_acdc(Transformer& model, const TaskData& task, const AcdcOptions& opt) {
  if (!task.has_pairs())
    throw InputError(task.what + ": /corrupted", "ACDC needs clean/corrupted pairs; the dataset has none");
  if (!std::isfinite(opt.threshold) || opt.threshold < 0)
    throw InputError("--threshold", "expected a finite threshold >= 0, got " + std::to_string(opt.threshold));
  check_task_fits_model(task, model.config());
  AcdcResult r{EdgeGraph(model.config())};
  const EdgeGraph& g = r.graph;
  r.keep = edge_matrix(g, 1.0f);
  r.change = edge_matrix(g, 0.0f);
  MaskedLoss scorer(model, task, g, opt.metric, opt.batch_size);
  r.clean_loss = scorer.clean_loss();
  r.corrupted_loss = scorer.corrupted_loss();
  double current = scorer.loss(r.keep);
  auto has_children = [&](int src) {
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(src, d) && r.keep[size_t(g.cell(src, d))] != 0.0f) return true;
    return false;
  };
  for (int d = g.n_dst() - 1; d >= 0; --d) {
    const int owner = g.dst_owner(d);
    const bool dead = owner >= 0 && !has_children(owner);
    // Later sources first, as ACDC sorts a node's parents from the output side.
    for (int s = g.n_readable(d) - 1; s >= 0; --s) {
      const size_t c = size_t(g.cell(s, d));
      r.keep[c] = 0.0f;
      if (dead) continue;
      const double tried = scorer.loss(r.keep);
      ++r.edges_tested;
      r.change[c] = float(tried - current);
      if (tried - current < opt.threshold)
        current = tried;
      else
        r.keep[c] = 1.0f;
    }
    if (opt.progress && (d % 8 == 0 || d == g.n_dst() - 1))
      opt.progress("visited " + g.dst_name(d) + ": " + std::to_string(r.edges_tested) + " edges tried, loss " +
                   std::to_string(current));
  }
  r.final_loss = current;
  r.forwards = scorer.forwards;
  return r;
}

}  // namespace headlab
