#include "circuits/steering.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/errors.h"

namespace headlab {
namespace {

// Σ of the activation's per-position slices over the chosen positions of every row, and how many.
struct SliceSum {
  std::vector<double> sum;
  int64_t count = 0;
};

SliceSum sum_slices(Transformer& model, HookPoint point, const TokenDataset& ds, const std::string& what,
                    DirectionPositions positions, int batch_size) {
  const ModelConfig& c = model.config();
  if (ds.kind != DatasetKind::sequences || ds.n_seq < 1)
    throw InputError(what, "expected a dataset of sequences [n_seq, seq_len] with at least one row");
  // Each row's prompt ends at its answer position (its last position without /answer_pos); what
  // follows (the answer, padding) is not part of the prompt.
  const int64_t S = ds.seq_len;
  std::vector<int> last(size_t(ds.n_seq));
  for (int64_t r = 0; r < ds.n_seq; ++r)
    last[size_t(r)] = ds.answer_pos.empty() ? int(S - 1) : ds.answer_pos[size_t(r)];
  const int T = *std::max_element(last.begin(), last.end()) + 1;
  if (T > c.n_ctx)
    throw InputError(what,
                     "prompts have " + std::to_string(T) + " tokens; the model's n_ctx is " + std::to_string(c.n_ctx));
  std::vector<int32_t> tokens(size_t(ds.n_seq) * size_t(T));
  for (int64_t r = 0; r < ds.n_seq; ++r) std::copy_n(ds.tokens.begin() + r * S, T, tokens.begin() + r * T);
  for (int32_t t : tokens)
    if (t < 0 || t >= c.d_vocab)
      throw InputError(what + ": /tokens", "token id " + std::to_string(t) + " is outside the model's vocabulary [0, " +
                                               std::to_string(c.d_vocab) + ")");
  SliceSum s;
  for (int64_t first = 0; first < ds.n_seq; first += batch_size) {
    const int B = int(std::min<int64_t>(batch_size, ds.n_seq - first));
    auto cache = run_with_cache(model, tokens.data() + first * T, B, T, {point});
    const HostTensor& t = cache.at(point);
    const int64_t width = t.numel() / (int64_t(B) * T);  // one position's slice
    if (s.sum.empty()) s.sum.assign(size_t(width), 0.0);
    for (int b = 0; b < B; ++b) {
      const int end = last[size_t(first + b)];
      for (int p = positions == DirectionPositions::all ? 0 : end; p <= end; ++p) {
        const float* x = t.data.data() + (int64_t(b) * T + p) * width;
        for (int64_t i = 0; i < width; ++i) s.sum[size_t(i)] += x[i];
        ++s.count;
      }
    }
  }
  return s;
}

}  // namespace

DirectionPositions parse_direction_positions(const std::string& text, const std::string& what) {
  if (text == "all") return DirectionPositions::all;
  if (text == "last") return DirectionPositions::last;
  throw InputError(what, "expected all or last, got '" + text + "'");
}

std::vector<float> mean_difference_direction(Transformer& model, HookPoint point, const TokenDataset& positive,
                                             const std::string& positive_what, const TokenDataset& negative,
                                             const std::string& negative_what, DirectionPositions positions,
                                             int batch_size) {
  if (point.site == HookSite::attn_pattern || point.site == HookSite::attn_scores)
    throw InputError("--hook " + hook_name(point),
                     "steering needs a point with a position axis, not an attention pattern");
  if (batch_size < 1) throw InputError("--batch-size", "expected a positive integer");
  const SliceSum pos = sum_slices(model, point, positive, positive_what, positions, batch_size);
  const SliceSum neg = sum_slices(model, point, negative, negative_what, positions, batch_size);
  std::vector<float> dir(pos.sum.size());
  for (size_t i = 0; i < dir.size(); ++i)
    dir[i] = float(pos.sum[i] / double(pos.count) - neg.sum[i] / double(neg.count));
  return dir;
}

SteeringReport evaluate_steering(Transformer& model, const TaskData& task, HookPoint point,
                                 const std::vector<float>& direction, const std::vector<float>& coefficients,
                                 MetricKind metric, int batch_size) {
  const ModelConfig& c = model.config();
  check_task_fits_model(task, c);
  SteeringReport r;
  r.point = point;
  r.metric_kind = metric;
  r.coefficients = coefficients;
  double norm = 0;
  for (float x : direction) norm += double(x) * x;
  r.direction_norm = std::sqrt(norm);
  std::vector<double> metric_sums(coefficients.size(), 0.0);
  std::vector<LossSum> losses(coefficients.size());
  LossSum base_loss;
  double base_metric = 0;
  for (const TaskBatch& b : task_batches(task, batch_size)) {
    const LossSum bl = run_loss_sum(model, b);
    std::vector<float> buffer;
    const float* logits = host_logits(model, buffer);
    const std::vector<float> ref = answer_logprobs(logits, b.B, b.T, c.d_vocab, b.answer_pos);
    base_metric += metric_sum(metric, logits, b.metric_targets(c.d_vocab, ref.data()));
    base_loss.sum += bl.sum;
    base_loss.count += bl.count;
    for (size_t k = 0; k < coefficients.size(); ++k) {
      HookSet hooks;
      hooks.add_forward(point, add_direction(direction, coefficients[k]));
      const LossSum l = run_loss_sum(model, b, &hooks);
      losses[k].sum += l.sum;
      losses[k].count += l.count;
      metric_sums[k] += metric_sum(metric, host_logits(model, buffer), b.metric_targets(c.d_vocab, ref.data()));
    }
  }
  r.unsteered_metric = base_metric / double(task.n);
  r.unsteered_loss = base_loss.mean();
  for (size_t k = 0; k < coefficients.size(); ++k) {
    r.metric.push_back(metric_sums[k] / double(task.n));
    r.loss.push_back(losses[k].mean());
  }
  return r;
}

}  // namespace headlab
