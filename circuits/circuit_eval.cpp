#include "circuits/circuit_eval.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "circuits/masked_forward.h"
#include "core/errors.h"

namespace headlab {
namespace {

double rank_value(float s, Ranking r) { return r == Ranking::absolute ? std::fabs(double(s)) : double(s); }

std::vector<int64_t> edge_cells(const EdgeGraph& g) {
  std::vector<int64_t> cells;
  cells.reserve(size_t(g.n_edges()));
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(s, d)) cells.push_back(g.cell(s, d));
  return cells;
}

}  // namespace

EdgeMatrix top_edges(const EdgeGraph& g, const EdgeMatrix& scores, int64_t n, Ranking r) {
  std::vector<int64_t> cells = edge_cells(g);
  n = std::max<int64_t>(0, std::min<int64_t>(n, int64_t(cells.size())));
  std::stable_sort(cells.begin(), cells.end(), [&](int64_t a, int64_t b) {
    return rank_value(scores[size_t(a)], r) > rank_value(scores[size_t(b)], r);
  });
  EdgeMatrix keep(size_t(g.n_cells()), 0.0f);
  for (int64_t i = 0; i < n; ++i) keep[size_t(cells[size_t(i)])] = 1.0f;
  return keep;
}

EdgeMatrix threshold_edges(const EdgeGraph& g, const EdgeMatrix& scores, double threshold, Ranking r) {
  EdgeMatrix keep(size_t(g.n_cells()), 0.0f);
  for (int64_t c : edge_cells(g))
    if (rank_value(scores[size_t(c)], r) >= threshold) keep[size_t(c)] = 1.0f;
  return keep;
}

EdgeMatrix prune_to_paths(const EdgeGraph& g, const EdgeMatrix& keep) {
  const int S = g.n_src(), Dn = g.n_dst();
  auto kept = [&](int s, int d) { return g.is_edge(s, d) && keep[size_t(g.cell(s, d))] != 0.0f; };
  std::vector<char> from_input(size_t(S), 0), to_logits(size_t(S), 0);
  from_input[0] = 1;
  // Sources are numbered in the order they write, so one pass in each direction settles both.
  for (int d = 0; d < Dn; ++d) {
    const int owner = g.dst_owner(d);
    if (owner < 0) continue;
    for (int s = 0; s < g.n_readable(d); ++s)
      if (from_input[size_t(s)] && kept(s, d)) from_input[size_t(owner)] = 1;
  }
  for (int s = S - 1; s >= 0; --s)
    for (int d = 0; d < Dn && !to_logits[size_t(s)]; ++d) {
      if (!kept(s, d)) continue;
      const int owner = g.dst_owner(d);
      if (owner < 0 || to_logits[size_t(owner)]) to_logits[size_t(s)] = 1;
    }
  EdgeMatrix out(size_t(g.n_cells()), 0.0f);
  for (int s = 0; s < S; ++s)
    for (int d = 0; d < Dn; ++d) {
      if (!kept(s, d) || !from_input[size_t(s)]) continue;
      const int owner = g.dst_owner(d);
      if (owner < 0 || to_logits[size_t(owner)]) out[size_t(g.cell(s, d))] = 1.0f;
    }
  return out;
}

int64_t count_edges(const EdgeGraph& g, const EdgeMatrix& keep) {
  int64_t n = 0;
  for (int64_t c : edge_cells(g)) n += keep[size_t(c)] != 0.0f;
  return n;
}

std::vector<MaskedMetric> masked_metrics(Transformer& model, const TaskData& task, const std::vector<EdgeMatrix>& masks,
                                         MetricKind metric, int batch_size) {
  if (!task.has_pairs())
    throw InputError(task.what + ": /corrupted",
                     "circuit evaluation needs clean/corrupted pairs; the dataset has none");
  const ModelConfig& c = model.config();
  check_task_fits_model(task, c);
  const EdgeGraph g(c);
  for (const EdgeMatrix& m : masks)
    if (int64_t(m.size()) != g.n_cells()) throw InternalError("a mask that does not fit the model's edge graph");
  EdgePatcher patcher(model, g);
  std::vector<MaskedMetric> out(masks.size());
  double clean = 0, corrupted = 0;
  int64_t forwards = 0;
  std::vector<double> sums(masks.size(), 0.0);
  for (const TaskBatch& b : task_batches(task, batch_size)) {
    std::vector<float> buffer;
    model.forward(b.clean, b.B, b.T);
    const float* logits = host_logits(model, buffer);
    const std::vector<float> ref = answer_logprobs(logits, b.B, b.T, c.d_vocab, b.answer_pos);
    const MetricTargets t = b.metric_targets(c.d_vocab, ref.data());
    clean += metric_sum(metric, logits, t);
    patcher.cache_corrupted(b.corrupted, b.B, b.T);
    corrupted += metric_sum(metric, host_logits(model, buffer), t);
    forwards += 2;
    for (size_t i = 0; i < masks.size(); ++i) {
      MaskedRunOptions opt;
      opt.mask = &masks[i];
      patcher.forward(b.clean, opt);
      sums[i] += metric_sum(metric, host_logits(model, buffer), t);
      ++forwards;
    }
  }
  for (size_t i = 0; i < masks.size(); ++i) {
    out[i].masked = sums[i] / double(task.n);
    out[i].clean = clean / double(task.n);
    out[i].corrupted = corrupted / double(task.n);
    out[i].forwards = forwards;
  }
  return out;
}

MaskedMetric masked_metric(Transformer& model, const TaskData& task, const EdgeMatrix& mask, MetricKind metric,
                           int batch_size) {
  return masked_metrics(model, task, {mask}, metric, batch_size)[0];
}

double faithfulness(const MaskedMetric& m) { return (m.masked - m.corrupted) / (m.clean - m.corrupted); }

const std::vector<double>& mib_percentages() {
  static const std::vector<double> p = {0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100};
  return p;
}

double mib_area(const std::vector<double>& percent, const std::vector<double>& f, Ranking r) {
  double area = 0;
  for (size_t i = 0; i + 1 < f.size(); ++i) {
    const double dx = (percent[i + 1] - percent[i]) / 100.0;
    area +=
        r == Ranking::absolute ? dx * (std::fabs(1 - f[i]) + std::fabs(1 - f[i + 1])) / 2 : dx * (f[i] + f[i + 1]) / 2;
  }
  return area;
}

MibCurve mib_curve(Transformer& model, const TaskData& task, const EdgeGraph& g, const EdgeMatrix& scores, Ranking r,
                   MetricKind metric, int batch_size, const std::function<void(const std::string&)>& progress) {
  MibCurve c;
  c.ranking = r;
  c.percent = mib_percentages();
  std::vector<EdgeMatrix> masks;
  for (double p : c.percent) {
    // MIB's count: int(fraction · n_edges), the fraction as a double.
    const int64_t n = int64_t(p / 100.0 * double(g.n_edges()));
    c.requested.push_back(n);
    masks.push_back(prune_to_paths(g, top_edges(g, scores, n, r)));
    c.kept.push_back(count_edges(g, masks.back()));
  }
  if (progress) progress("evaluating " + std::to_string(masks.size()) + " circuits");
  const std::vector<MaskedMetric> m = masked_metrics(model, task, masks, metric, batch_size);
  for (const MaskedMetric& x : m) c.faithfulness.push_back(faithfulness(x));
  c.clean = m[0].clean;
  c.corrupted = m[0].corrupted;
  c.forwards = m[0].forwards;
  c.area = mib_area(c.percent, c.faithfulness, r);
  return c;
}

double edge_roc_auc(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& truth, Ranking r) {
  std::vector<int64_t> cells = edge_cells(g);
  std::sort(cells.begin(), cells.end(),
            [&](int64_t a, int64_t b) { return rank_value(scores[size_t(a)], r) < rank_value(scores[size_t(b)], r); });
  // Mann-Whitney U with mid-ranks for ties.
  double rank_sum = 0, n_pos = 0;
  for (size_t i = 0; i < cells.size();) {
    size_t j = i;
    const double v = rank_value(scores[size_t(cells[i])], r);
    while (j < cells.size() && rank_value(scores[size_t(cells[j])], r) == v) ++j;
    const double mid = (double(i) + double(j - 1)) / 2.0 + 1.0;
    for (size_t k = i; k < j; ++k)
      if (truth[size_t(cells[k])] != 0.0f) {
        rank_sum += mid;
        n_pos += 1;
      }
    i = j;
  }
  const double n_neg = double(cells.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) throw InputError("true edge set", "needs at least one true and one false edge");
  return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

}  // namespace headlab
