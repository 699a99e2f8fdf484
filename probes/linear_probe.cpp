#include "probes/linear_probe.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "core/errors.h"
#include "core/seeded_rng.h"

namespace headlab {
namespace {

constexpr int kSets = 3;

// The rows of one set, standardised, contiguous: what the fits and scores run on.
struct SetRows {
  std::vector<int64_t> index;  // token index in the store
  std::vector<float> X;        // [rows, d]
  int64_t n() const { return int64_t(index.size()); }
};

}  // namespace

ProbeSplit split_by_document(const std::vector<int64_t>& doc_ids, const std::vector<bool>& labelled,
                             const double fractions[3], uint64_t seed, const std::string& what) {
  std::vector<int64_t> docs;
  for (size_t i = 0; i < doc_ids.size(); ++i)
    if (labelled[i]) docs.push_back(doc_ids[i]);
  std::sort(docs.begin(), docs.end());
  docs.erase(std::unique(docs.begin(), docs.end()), docs.end());
  SeededRng rng(seed);
  rng.shuffle(docs);
  const double total = fractions[0] + fractions[1] + fractions[2];
  const int64_t n_docs = int64_t(docs.size());
  const int64_t n_train = int64_t(std::llround(double(n_docs) * fractions[0] / total));
  const int64_t n_val = int64_t(std::llround(double(n_docs) * (fractions[0] + fractions[1]) / total)) - n_train;
  std::map<int64_t, int8_t> set_of;
  for (int64_t i = 0; i < n_docs; ++i)
    set_of[docs[size_t(i)]] = int8_t(i < n_train           ? SplitSet::train
                                     : i < n_train + n_val ? SplitSet::validation
                                                           : SplitSet::test);
  ProbeSplit s;
  s.set.assign(doc_ids.size(), int8_t(SplitSet::none));
  for (size_t i = 0; i < doc_ids.size(); ++i) {
    if (!labelled[i]) continue;
    s.set[i] = set_of[doc_ids[i]];
    ++s.tokens[s.set[i]];
  }
  for (const auto& [doc, set] : set_of) ++s.documents[set];
  static const char* names[kSets] = {"training", "validation", "test"};
  for (int k = 0; k < kSets; ++k)
    if (s.tokens[k] == 0)
      throw InputError(what, "the split by document leaves the " + std::string(names[k]) + " set empty (" +
                                 std::to_string(n_docs) + " documents with labelled tokens, fractions " +
                                 std::to_string(fractions[0]) + "/" + std::to_string(fractions[1]) + "/" +
                                 std::to_string(fractions[2]) + "): use more data or other --split fractions");
  return s;
}

std::vector<int32_t> control_task_labels(const std::vector<int32_t>& tokens, const std::vector<int32_t>& labels,
                                         const ProbeSplit& split, uint64_t seed) {
  std::vector<int32_t> pool;  // the training labels: drawing from them draws from their distribution
  for (size_t i = 0; i < labels.size(); ++i)
    if (split.set[i] == int8_t(SplitSet::train)) pool.push_back(labels[i]);
  SeededRng rng(seed ^ 0x636f6e74726f6cULL);
  std::map<int32_t, int32_t> of_type;
  std::vector<int32_t> out(labels.size(), -1);
  if (pool.empty()) return out;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (split.set[i] == int8_t(SplitSet::none)) continue;
    auto it = of_type.find(tokens[i]);
    if (it == of_type.end()) it = of_type.emplace(tokens[i], rng.pick(pool)).first;
    out[i] = it->second;
  }
  return out;
}

std::vector<float> control_task_scalars(const std::vector<int32_t>& tokens, const std::vector<float>& labels,
                                        const ProbeSplit& split, uint64_t seed) {
  std::vector<float> pool;
  for (size_t i = 0; i < labels.size(); ++i)
    if (split.set[i] == int8_t(SplitSet::train)) pool.push_back(labels[i]);
  SeededRng rng(seed ^ 0x636f6e74726f6cULL);
  std::map<int32_t, float> of_type;
  std::vector<float> out(labels.size(), NAN);
  if (pool.empty()) return out;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (split.set[i] == int8_t(SplitSet::none)) continue;
    auto it = of_type.find(tokens[i]);
    if (it == of_type.end()) it = of_type.emplace(tokens[i], rng.pick(pool)).first;
    out[i] = it->second;
  }
  return out;
}

ProbeTask prepare_probe_task(const ActivationStore& store, const std::string& label, const double fractions[3],
                             uint64_t seed, bool control) {
  ProbeTask t;
  const std::string what = store.path() + ": /labels/" + label;
  t.scalar = store.label_kind(label) == LabelKind::scalar;
  const std::vector<int64_t> docs = store.doc_ids();
  const std::vector<int32_t> tokens = store.tokens();
  std::vector<bool> labelled(size_t(store.n_tokens()));
  std::vector<int32_t> raw;
  if (t.scalar) {
    t.yf = store.scalar_label(label);
    for (size_t i = 0; i < labelled.size(); ++i) labelled[i] = std::isfinite(t.yf[i]);
  } else {
    raw = store.class_label(label);
    for (size_t i = 0; i < labelled.size(); ++i) labelled[i] = raw[i] >= 0;
  }
  t.split = split_by_document(docs, labelled, fractions, seed, what);
  if (t.scalar) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < labelled.size(); ++i)
      if (t.split.set[i] == int8_t(SplitSet::train))
        lo = std::min(lo, double(t.yf[i])), hi = std::max(hi, double(t.yf[i]));
    if (!(hi > lo)) throw InputError(what, "every training token has the same value; a probe needs variation");
    if (control) t.control_yf = control_task_scalars(tokens, t.yf, t.split, seed);
    return t;
  }
  std::map<int32_t, int64_t> counts;
  for (size_t i = 0; i < raw.size(); ++i)
    if (t.split.set[i] == int8_t(SplitSet::train)) ++counts[raw[i]];
  if (counts.size() < 2)
    throw InputError(what, "has one class (" + std::to_string(counts.begin()->first) +
                               ") among the training tokens; a probe needs at least two");
  int64_t best = -1;
  for (const auto& [value, count] : counts) {
    if (count > best) best = count, t.majority_class = int64_t(t.classes.size());
    t.classes.push_back(value);
  }
  const int32_t unseen = int32_t(t.classes.size());  // a test class never seen in training: never predicted
  t.y.assign(raw.size(), -1);
  for (size_t i = 0; i < raw.size(); ++i) {
    if (t.split.set[i] == int8_t(SplitSet::none)) continue;
    const auto it = std::lower_bound(t.classes.begin(), t.classes.end(), raw[i]);
    t.y[i] = it != t.classes.end() && *it == raw[i] ? int32_t(it - t.classes.begin()) : unseen;
  }
  if (control) t.control_y = control_task_labels(tokens, t.y, t.split, seed);
  return t;
}

namespace {

Standardiser fit_standardiser(const float* X, int64_t d, const std::vector<int64_t>& rows) {
  Standardiser s;
  s.mean.assign(size_t(d), 0.0);
  std::vector<double> sq(size_t(d), 0.0);
  for (int64_t r : rows)
    for (int64_t j = 0; j < d; ++j) s.mean[size_t(j)] += X[r * d + j];
  for (double& m : s.mean) m /= double(rows.size());
  for (int64_t r : rows)
    for (int64_t j = 0; j < d; ++j) {
      const double c = X[r * d + j] - s.mean[size_t(j)];
      sq[size_t(j)] += c * c;
    }
  s.scale.resize(size_t(d));
  for (int64_t j = 0; j < d; ++j) {
    const double sd = std::sqrt(sq[size_t(j)] / double(rows.size()));
    s.scale[size_t(j)] = sd > 1e-12 ? 1.0 / sd : 1.0;
  }
  return s;
}

SetRows gather(const float* X, int64_t d, const std::vector<int64_t>& rows, const Standardiser& s) {
  SetRows out;
  out.index = rows;
  out.X.resize(rows.size() * size_t(d));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < int64_t(rows.size()); ++i)
    for (int64_t j = 0; j < d; ++j)
      out.X[size_t(i * d + j)] = float((X[rows[size_t(i)] * d + j] - s.mean[size_t(j)]) * s.scale[size_t(j)]);
  return out;
}

template <class T>
std::vector<T> pick(const std::vector<T>& all, const std::vector<int64_t>& index) {
  std::vector<T> out(index.size());
  for (size_t i = 0; i < index.size(); ++i) out[i] = all[size_t(index[i])];
  return out;
}

// The fit on the training rows with the best validation score over the grid; its λ.
struct Chosen {
  LinearFit fit;
  double l2 = 0, validation = -INFINITY;
};

Chosen choose_logistic(Backend& be, const SetRows& train, const SetRows& val, const std::vector<int32_t>& ytr,
                       const std::vector<int32_t>& yva, int64_t d, int k, const ProbeOptions& o) {
  Chosen best;
  LinearFit previous;
  bool have_previous = false;
  std::vector<double> grid = o.l2_grid;
  std::sort(grid.rbegin(), grid.rend());  // strongest first: each fit warm-starts the next
  for (double l2 : grid) {
    LinearFit fit =
        fit_logistic(be, train.X.data(), ytr.data(), train.n(), d, k, l2, o.lbfgs, have_previous ? &previous : nullptr);
    const double score = accuracy(predict_classes(be, fit, val.X.data(), val.n()), yva.data(), val.n());
    if (score > best.validation) best = {fit, l2, score};
    previous = std::move(fit);
    have_previous = true;
  }
  return best;
}

Chosen choose_ridge(Backend& be, const SetRows& train, const SetRows& val, const std::vector<float>& ytr,
                    const std::vector<float>& yva, int64_t d, const ProbeOptions& o) {
  Chosen best;
  for (double l2 : o.l2_grid) {
    LinearFit fit = fit_ridge(be, train.X.data(), ytr.data(), train.n(), d, l2);
    const double score = r_squared(be, fit, val.X.data(), yva.data(), val.n());
    if (score > best.validation || best.fit.d == 0) best = {fit, l2, score};
  }
  return best;
}

}  // namespace

LinearFit to_raw_features(const LinearFit& f, const Standardiser& s) {
  LinearFit r = f;
  for (int c = 0; c < f.k; ++c) {
    double b = f.b[size_t(c)];
    for (int64_t j = 0; j < f.d; ++j) {
      const double w = double(f.W[size_t(c * f.d + j)]) * s.scale[size_t(j)];
      r.W[size_t(c * f.d + j)] = float(w);
      b -= w * s.mean[size_t(j)];
    }
    r.b[size_t(c)] = float(b);
  }
  return r;
}

double probe_baseline(const ProbeTask& task) {
  const auto& set = task.split.set;
  if (!task.scalar) {
    int64_t majority = 0, n = 0;
    for (size_t i = 0; i < set.size(); ++i)
      if (set[i] == int8_t(SplitSet::test)) majority += task.y[i] == task.majority_class, ++n;
    return n ? double(majority) / double(n) : NAN;
  }
  double mean_train = 0, mean_test = 0, res = 0, tot = 0;
  int64_t n_train = 0, n_test = 0;
  for (size_t i = 0; i < set.size(); ++i) {
    if (set[i] == int8_t(SplitSet::train)) mean_train += task.yf[i], ++n_train;
    if (set[i] == int8_t(SplitSet::test)) mean_test += task.yf[i], ++n_test;
  }
  mean_train /= double(n_train);
  mean_test /= double(n_test);
  for (size_t i = 0; i < set.size(); ++i)
    if (set[i] == int8_t(SplitSet::test)) {
      const double v = task.yf[i];
      res += (v - mean_train) * (v - mean_train), tot += (v - mean_test) * (v - mean_test);
    }
  return tot > 0 ? 1.0 - res / tot : NAN;
}

std::vector<float> binary_direction(const LinearFit& raw) {
  const int64_t d = raw.d;
  std::vector<float> direction(static_cast<size_t>(d));
  double norm = 0;
  for (int64_t j = 0; j < d; ++j) {
    direction[size_t(j)] = raw.W[size_t(d + j)] - raw.W[size_t(j)];
    norm += double(direction[size_t(j)]) * direction[size_t(j)];
  }
  norm = std::sqrt(norm);
  for (float& v : direction) v = norm > 0 ? float(v / norm) : 0.0f;
  return direction;
}

ProbeResult train_probe(Backend& be, const float* X, int64_t d, const ProbeTask& task, const ProbeOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> rows[kSets];
  for (size_t i = 0; i < task.split.set.size(); ++i)
    if (task.split.set[i] >= 0) rows[task.split.set[i]].push_back(int64_t(i));
  const Standardiser st = fit_standardiser(X, d, rows[0]);
  const SetRows train = gather(X, d, rows[0], st), val = gather(X, d, rows[1], st), test = gather(X, d, rows[2], st);
  ProbeResult r;
  r.features = d;
  if (task.scalar) {
    const std::vector<float> ytr = pick(task.yf, rows[0]), yva = pick(task.yf, rows[1]), yte = pick(task.yf, rows[2]);
    const Chosen c = choose_ridge(be, train, val, ytr, yva, d, o);
    r.l2 = c.l2;
    r.validation_score = c.validation;
    r.train_score = r_squared(be, c.fit, train.X.data(), ytr.data(), train.n());
    r.test_score = r_squared(be, c.fit, test.X.data(), yte.data(), test.n());
    r.baseline = probe_baseline(task);
    if (!task.control_yf.empty()) {
      const std::vector<float> ctr = pick(task.control_yf, rows[0]), cva = pick(task.control_yf, rows[1]),
                               cte = pick(task.control_yf, rows[2]);
      const Chosen cc = choose_ridge(be, train, val, ctr, cva, d, o);
      r.control_l2 = cc.l2;
      r.control_score = r_squared(be, cc.fit, test.X.data(), cte.data(), test.n());
      r.selectivity = r.test_score - r.control_score;
    }
    r.fit = to_raw_features(c.fit, st);
  } else {
    const int k = int(task.classes.size());
    const std::vector<int32_t> ytr = pick(task.y, rows[0]), yva = pick(task.y, rows[1]), yte = pick(task.y, rows[2]);
    const Chosen c = choose_logistic(be, train, val, ytr, yva, d, k, o);
    r.l2 = c.l2;
    r.validation_score = c.validation;
    r.train_score = accuracy(predict_classes(be, c.fit, train.X.data(), train.n()), ytr.data(), train.n());
    r.test_score = accuracy(predict_classes(be, c.fit, test.X.data(), test.n()), yte.data(), test.n());
    r.baseline = probe_baseline(task);
    if (!task.control_y.empty()) {
      const std::vector<int32_t> ctr = pick(task.control_y, rows[0]), cva = pick(task.control_y, rows[1]),
                                 cte = pick(task.control_y, rows[2]);
      const Chosen cc = choose_logistic(be, train, val, ctr, cva, d, k, o);
      r.control_l2 = cc.l2;
      r.control_score = accuracy(predict_classes(be, cc.fit, test.X.data(), test.n()), cte.data(), test.n());
      r.selectivity = r.test_score - r.control_score;
    }
    r.fit = to_raw_features(c.fit, st);
    if (k == 2) {
      r.direction = binary_direction(r.fit);
      double sum = 0, sq = 0;
      for (int64_t i : rows[0]) {
        double p = 0;
        for (int64_t j = 0; j < d; ++j) p += double(X[i * d + j]) * r.direction[size_t(j)];
        sum += p, sq += p * p;
      }
      const double n = double(rows[0].size());
      r.projection_std = std::sqrt(std::max(0.0, sq / n - (sum / n) * (sum / n)));
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace headlab
