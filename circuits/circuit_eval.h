// Circuits as edge sets, and how faithful they are (Hanna et al. 2024; MIB, Mueller et al. 2025).
//   A circuit keeps some edges (mask 1) and patches every other edge from the corrupted run (0).
//   faithfulness f(C) = (m(C) − m(∅)) / (m(full) − m(∅)), m the task metric's mean over the rows,
//   m(full) the clean model, m(∅) every edge patched (the corrupted run).
//   MIB's curve: circuits of the top int(p · n_edges) edges for p in {0.1, 0.2, 0.5, 1, 2, 5, 10, 20,
//   50, 100}%, each pruned to edges on an input -> logits path; with x_i = p_i as a fraction,
//     CPR = Σ_i (x_{i+1} − x_i) (f_i + f_{i+1}) / 2            (edges ranked by signed score)
//     CMD = Σ_i (x_{i+1} − x_i) (|1 − f_i| + |1 − f_{i+1}|) / 2 (edges ranked by |score|)
//   the trapezoid rule on the linear fraction axis from 0.001 to 1, as MIB's evaluation computes them.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "circuits/edge_graph.h"
#include "circuits/metrics.h"
#include "circuits/task_data.h"
#include "model/transformer.h"

namespace headlab {

enum class Ranking { signed_score, absolute };

// The n edges with the highest score (or |score|), ties broken by edge order: a 0/1 mask.
EdgeMatrix top_edges(const EdgeGraph& g, const EdgeMatrix& scores, int64_t n, Ranking r);
// Edges whose score (or |score|) is >= threshold.
EdgeMatrix threshold_edges(const EdgeGraph& g, const EdgeMatrix& scores, double threshold, Ranking r);
// Only the kept edges that lie on a path input -> ... -> logits through kept edges (a destination
// belongs to its node: an edge into L1H0:k continues along L1H0's kept outgoing edges).
EdgeMatrix prune_to_paths(const EdgeGraph& g, const EdgeMatrix& keep);
int64_t count_edges(const EdgeGraph& g, const EdgeMatrix& keep);

// The metric's mean over the task's rows with the given mask (1 = kept, 0 = patched from the
// corrupted row), one masked forward per batch after one corrupted forward.
struct MaskedMetric {
  double masked = 0, clean = 0, corrupted = 0;  // means over the rows
  int64_t forwards = 0;
};
MaskedMetric masked_metric(Transformer& model, const TaskData& task, const EdgeMatrix& mask, MetricKind metric,
                           int batch_size);
// Several masks over the same rows: the clean and corrupted runs once per batch.
std::vector<MaskedMetric> masked_metrics(Transformer& model, const TaskData& task, const std::vector<EdgeMatrix>& masks,
                                         MetricKind metric, int batch_size);
double faithfulness(const MaskedMetric& m);  // (masked − corrupted) / (clean − corrupted)

const std::vector<double>& mib_percentages();  // {0.1, 0.2, ..., 100}

struct MibCurve {
  std::vector<double> percent;       // MIB's percentages
  std::vector<int64_t> requested;    // int(p / 100 · n_edges)
  std::vector<int64_t> kept;         // edges left after pruning
  std::vector<double> faithfulness;  // f at each point
  double area = 0;                   // CPR (signed ranking) or CMD (absolute ranking)
  Ranking ranking = Ranking::signed_score;
  double clean = 0, corrupted = 0;
  int64_t forwards = 0;
};
// CPR with Ranking::signed_score, CMD with Ranking::absolute.
MibCurve mib_curve(Transformer& model, const TaskData& task, const EdgeGraph& g, const EdgeMatrix& scores, Ranking r,
                   MetricKind metric, int batch_size, const std::function<void(const std::string&)>& progress = {});
double mib_area(const std::vector<double>& percent, const std::vector<double>& f, Ranking r);

// ROC AUC of scores (by |score| with Ranking::absolute) against a true edge set, over every edge:
// the probability that a true edge outranks a false one (ties count one half).
double edge_roc_auc(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& truth, Ranking r);

}  // namespace headlab
