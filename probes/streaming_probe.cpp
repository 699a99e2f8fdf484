// The minibatch solver of linear_probe.h: a probe trained from the store chunk by chunk, for hook
// points whose [n_tokens, width] matrix does not fit in memory.
//
// Every λ of the grid, for the task and for its control, is one model; their weights are stacked
// into one matrix [models * classes, d], so a minibatch costs two matrix products (scores, and the
// weight gradient) whatever the grid, and an epoch reads the store once for all of them. Each model
// keeps its own Adam state and early-stopping count, and stops on its own.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "core/seeded_rng.h"
#include "probes/linear_probe.h"

namespace headlab {
namespace {

constexpr int kSets = 3;
constexpr int64_t kScoreRows = 4096;  // rows scored at a time by the evaluation passes
constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEpsilon = 1e-8;
constexpr double kImprovement = 1e-4;  // relative: a validation loss this much lower counts as better
constexpr int64_t kAverageSteps = 500;
// Below this many values a loop runs on one thread: a parallel region costs more than it saves
// (and, on a loaded machine, far more).
constexpr int64_t kParallelWork = 32768;

// Consecutive store rows of one hook point, or of one head's slice of it, a chunk at a time.
class ChunkReader {
 public:
  ChunkReader(const ActivationStore& store, const std::string& hook, int head, int64_t chunk_rows)
      : store_(store), hook_(hook), head_(head), chunk_rows_(std::max<int64_t>(1, chunk_rows)) {
    width_ = store.row_width(hook);
    d_ = width_;
    if (head >= 0) {
      const h5::Shape s = store.shape(hook);
      if (s.size() != 3 || head >= s[1]) throw InternalError("train_probe_streaming: no head " + std::to_string(head));
      d_ = s[2];
    }
  }
  int64_t d() const { return d_; }
  int64_t chunks() const { return (store_.n_tokens() + chunk_rows_ - 1) / chunk_rows_; }
  int64_t first(int64_t c) const { return c * chunk_rows_; }
  int64_t chunk_of(int64_t row) const { return row / chunk_rows_; }
  int64_t count(int64_t c) const { return std::min(chunk_rows_, store_.n_tokens() - first(c)); }
  // Chunk c's rows, [count(c), d].
  const float* read(int64_t c) {
    const int64_t n = count(c);
    buffer_.resize(size_t(n * width_));
    store_.read_rows(hook_, first(c), n, buffer_.data());
    if (head_ >= 0)  // compacted in place: row t's slice never lies below where it goes
      for (int64_t t = 0; t < n; ++t)
        std::memmove(buffer_.data() + t * d_, buffer_.data() + t * width_ + head_ * d_, size_t(d_) * sizeof(float));
    return buffer_.data();
  }

 private:
  const ActivationStore& store_;
  std::string hook_;
  int head_;
  int64_t chunk_rows_, width_ = 0, d_ = 0;
  std::vector<float> buffer_;
};

// Per-thread partial sums added in thread order afterwards, so that a run repeats bit for bit.
class ThreadSums {
 public:
  explicit ThreadSums(size_t size) : parts_(size_t(std::max(1, omp_get_max_threads())), std::vector<double>(size)) {}
  double* mine() { return parts_[size_t(omp_get_thread_num()) % parts_.size()].data(); }
  std::vector<double> total() const {
    std::vector<double> t(parts_[0].size(), 0.0);
    for (const auto& p : parts_)
      for (size_t i = 0; i < t.size(); ++i) t[i] += p[i];
    return t;
  }

 private:
  std::vector<std::vector<double>> parts_;
};

struct Model {
  int task = 0;  // 0: the label, 1: its control
  double l2 = 0, step = 0;
  int64_t adam_steps = 0;
  int epochs = 0, bad_epochs = 0;
  bool active = true;
  double best_loss = INFINITY, best_score = -INFINITY;
  std::vector<float> best_W, best_b;  // [k, d], [k]: at the best validation loss
};

struct SetTotals {
  std::vector<double> loss, score;  // per model: mean loss, accuracy or R²
  double projection_sum = 0, projection_sq = 0;
};

class StreamingFit {
 public:
  StreamingFit(Backend& be, ChunkReader& in, const ProbeTask& task, const ProbeOptions& o)
      : be_(be), in_(in), task_(task), o_(o), d_(in.d()), rng_(o.minibatch.seed ^ 0x6d696e6962617463ULL) {
    k_ = task.scalar ? 1 : int(task.classes.size());
    for (size_t i = 0; i < task.split.set.size(); ++i)
      if (task.split.set[i] >= 0) {
        const int64_t c = in.chunk_of(int64_t(i));
        std::vector<int64_t>& list = chunks_[task.split.set[i]];
        if (list.empty() || list.back() != c) list.push_back(c);
        ++n_[task.split.set[i]];
      }
    labels_[0] = task.scalar ? &task.yf : nullptr;
    int_labels_[0] = task.scalar ? nullptr : &task.y;
    const bool control = task.scalar ? !task.control_yf.empty() : !task.control_y.empty();
    n_tasks_ = control ? 2 : 1;
    if (control) {
      labels_[1] = task.scalar ? &task.control_yf : nullptr;
      int_labels_[1] = task.scalar ? nullptr : &task.control_y;
    }
    if (task.scalar)  // scalar labels standardised on the training tokens: one step size fits every scale
      for (int t = 0; t < n_tasks_; ++t) {
        double sum = 0, sq = 0;
        for (size_t i = 0; i < task.split.set.size(); ++i)
          if (task.split.set[i] == int8_t(SplitSet::train))
            sum += (*labels_[t])[i], sq += double((*labels_[t])[i]) * (*labels_[t])[i];
        const double n = double(n_[0]);
        y_mean_[t] = sum / n;
        const double sd = std::sqrt(std::max(0.0, sq / n - y_mean_[t] * y_mean_[t]));
        y_sd_[t] = sd > 1e-12 ? sd : 1.0;
      }
  }

  ProbeResult run() {
    const auto t0 = std::chrono::steady_clock::now();
    fit_standardiser();
    std::vector<double> grid = o_.l2_grid;
    if (!task_.scalar) std::sort(grid.rbegin(), grid.rend());  // the full path's order: ties go to the strongest
    for (int t = 0; t < n_tasks_; ++t)
      for (double l2 : grid) {
        Model m;
        m.task = t, m.l2 = l2, m.step = o_.minibatch.learning_rate;
        models_.push_back(m);
      }
    const int64_t rows = int64_t(models_.size()) * k_;
    W_.assign(size_t(rows * d_), 0.0f), b_.assign(size_t(rows), 0.0f);
    mW_ = vW_ = avgW_ = W_, mb_ = vb_ = avgb_ = b_;
    // The averaging horizon: an epoch's steps, and at least kAverageSteps when epochs are short.
    average_steps_ = std::max<int64_t>(kAverageSteps, (n_[0] + o_.minibatch.batch_rows - 1) / o_.minibatch.batch_rows);
    for (int epoch = 1; epoch <= o_.minibatch.max_epochs && any_active(); ++epoch) {
      train_epoch();
      const SetTotals val = evaluate(SplitSet::validation, avgW_, avgb_, models_.size(), nullptr, nullptr);
      for (size_t m = 0; m < models_.size(); ++m) {
        Model& mo = models_[m];
        if (!mo.active) continue;
        mo.epochs = epoch;
        const double loss = val.loss[m];
        // A diverged epoch (a step size far too large) never counts as better than a finite one.
        const bool better =
            mo.best_W.empty() || (std::isfinite(loss) && (!std::isfinite(mo.best_loss) ||
                                                          loss < mo.best_loss - kImprovement * std::abs(mo.best_loss)));
        if (better) {
          mo.best_loss = loss, mo.best_score = val.score[m], mo.bad_epochs = 0;
          mo.best_W.assign(avgW_.begin() + int64_t(m) * k_ * d_, avgW_.begin() + int64_t(m + 1) * k_ * d_);
          mo.best_b.assign(avgb_.begin() + int64_t(m) * k_, avgb_.begin() + int64_t(m + 1) * k_);
        } else {
          if (++mo.bad_epochs >= o_.minibatch.patience) mo.active = false;
        }
      }
    }

    // λ on validation, as the full path chooses it: the first best in the grid's order.
    size_t chosen[2] = {0, 0};
    for (int t = 0; t < n_tasks_; ++t) {
      double best = -INFINITY;
      bool any = false;
      for (size_t m = 0; m < models_.size(); ++m)
        if (models_[m].task == t && (models_[m].best_score > best || !any))
          best = models_[m].best_score, chosen[t] = m, any = true;
    }
    const Model& main = models_[chosen[0]];
    ProbeResult r;
    r.features = d_;
    r.l2 = main.l2;
    r.validation_score = main.best_score;
    LinearFit fit = standardised_fit(main);
    r.fit = to_raw_features(fit, st_);
    if (!task_.scalar && k_ == 2) r.direction = binary_direction(r.fit);

    // Train and test scores by streaming passes with the chosen weights.
    std::vector<float> W = main.best_W, b = main.best_b;
    std::vector<float> u;  // the direction for standardised rows: the projection's spread, up to a constant
    if (!r.direction.empty()) {
      u.resize(size_t(d_));
      for (int64_t j = 0; j < d_; ++j) u[size_t(j)] = float(double(r.direction[size_t(j)]) / st_.scale[size_t(j)]);
    }
    const int task_of_first[1] = {0};
    const SetTotals train = evaluate(SplitSet::train, W, b, 1, task_of_first, u.empty() ? nullptr : &u);
    r.train_score = train.score[0];
    double penalty = 0;
    for (float w : main.best_W) penalty += double(w) * w;
    // The training objective in the full path's units (raw labels for scalars).
    r.fit.objective = task_.scalar ? (train.loss[0] + main.l2 * penalty) * y_sd_[0] * y_sd_[0]
                                   : train.loss[0] + 0.5 * main.l2 * penalty;
    r.fit.iterations = main.epochs;
    r.fit.converged = main.bad_epochs >= o_.minibatch.patience;
    if (!u.empty()) {
      const double n = double(n_[0]), mean = train.projection_sum / n;
      r.projection_std = std::sqrt(std::max(0.0, train.projection_sq / n - mean * mean));
    }
    int tasks_of[2] = {0, 1};
    if (n_tasks_ == 2) {
      W.insert(W.end(), models_[chosen[1]].best_W.begin(), models_[chosen[1]].best_W.end());
      b.insert(b.end(), models_[chosen[1]].best_b.begin(), models_[chosen[1]].best_b.end());
    }
    const SetTotals test = evaluate(SplitSet::test, W, b, size_t(n_tasks_), tasks_of, nullptr);
    r.test_score = test.score[0];
    r.baseline = probe_baseline(task_);
    if (n_tasks_ == 2) {
      r.control_l2 = models_[chosen[1]].l2;
      r.control_score = test.score[1];
      r.selectivity = r.test_score - r.control_score;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }

 private:
  bool any_active() const {
    for (const Model& m : models_)
      if (m.active) return true;
    return false;
  }

  // Mean and spread of the training rows in one pass, the sums taken about the first training row
  // (close to the mean, so the squares do not cancel).
  void fit_standardiser() {
    std::vector<double> shift(size_t(d_), 0.0);
    bool have_shift = false;
    std::vector<double> s1(size_t(d_), 0.0), s2(size_t(d_), 0.0);
    for (int64_t c : chunks_[0]) {
      const float* X = in_.read(c);
      const std::vector<int64_t> rows = rows_of(c, SplitSet::train);
      if (!have_shift && !rows.empty()) {
        for (int64_t j = 0; j < d_; ++j) shift[size_t(j)] = X[rows[0] * d_ + j];
        have_shift = true;
      }
      ThreadSums sums(size_t(2 * d_));
#pragma omp parallel if (int64_t(rows.size()) * d_ >= kParallelWork)
      {
        double* s = sums.mine();
#pragma omp for schedule(static)
        for (int64_t i = 0; i < int64_t(rows.size()); ++i) {
          const float* x = X + rows[size_t(i)] * d_;
          for (int64_t j = 0; j < d_; ++j) {
            const double v = double(x[j]) - shift[size_t(j)];
            s[j] += v, s[d_ + j] += v * v;
          }
        }
      }
      const std::vector<double> t = sums.total();
      for (int64_t j = 0; j < d_; ++j) s1[size_t(j)] += t[size_t(j)], s2[size_t(j)] += t[size_t(d_ + j)];
    }
    const double n = double(n_[0]);
    st_.mean.resize(size_t(d_)), st_.scale.resize(size_t(d_));
    for (int64_t j = 0; j < d_; ++j) {
      const double m = s1[size_t(j)] / n;
      st_.mean[size_t(j)] = shift[size_t(j)] + m;
      const double sd = std::sqrt(std::max(0.0, s2[size_t(j)] / n - m * m));
      st_.scale[size_t(j)] = sd > 1e-12 ? 1.0 / sd : 1.0;
    }
  }

  std::vector<int64_t> rows_of(int64_t c, SplitSet set) const {
    std::vector<int64_t> rows;
    const int64_t first = in_.first(c), n = in_.count(c);
    for (int64_t r = 0; r < n; ++r)
      if (task_.split.set[size_t(first + r)] == int8_t(set)) rows.push_back(r);
    return rows;
  }

  // The chunk's rows `rows`, standardised, into xs_ [rows, d].
  void standardise(const float* X, const std::vector<int64_t>& rows) {
    xs_.resize(rows.size() * size_t(d_));
#pragma omp parallel for schedule(static) if (int64_t(rows.size()) * d_ >= kParallelWork)
    for (int64_t i = 0; i < int64_t(rows.size()); ++i) {
      const float* x = X + rows[size_t(i)] * d_;
      float* out = xs_.data() + i * d_;
      for (int64_t j = 0; j < d_; ++j) out[j] = float((x[j] - st_.mean[size_t(j)]) * st_.scale[size_t(j)]);
    }
  }

  // Label of token i for task t: class index, or the standardised scalar.
  int32_t class_of(int t, int64_t i) const { return (*int_labels_[t])[size_t(i)]; }
  float scalar_of(int t, int64_t i) const { return float(((*labels_[t])[size_t(i)] - y_mean_[t]) / y_sd_[t]); }

  void train_epoch() {
    std::vector<int64_t> order = chunks_[0];
    rng_.shuffle(order);
    const int64_t M = int64_t(models_.size()), MK = M * k_;
    for (int64_t c : order) {
      const float* X = in_.read(c);
      std::vector<int64_t> rows = rows_of(c, SplitSet::train);
      rng_.shuffle(rows);
      standardise(X, rows);
      const int64_t first = in_.first(c);
      for (int64_t start = 0; start < int64_t(rows.size()); start += o_.minibatch.batch_rows) {
        const int64_t nb = std::min<int64_t>(o_.minibatch.batch_rows, int64_t(rows.size()) - start);
        const float* Xb = xs_.data() + start * d_;
        G_.resize(size_t(nb * MK));
        be_.matmul(G_.data(), Xb, W_.data(), b_.data(), nb, MK, d_, Transpose::no, Transpose::yes,
                   Accumulate::overwrite);
        // G = d(mean loss)/d(scores), in place of the scores.
#pragma omp parallel for schedule(static) if (nb * MK >= kParallelWork)
        for (int64_t i = 0; i < nb; ++i) {
          const int64_t token = first + rows[size_t(start + i)];
          for (int64_t m = 0; m < M; ++m) {
            float* z = G_.data() + i * MK + m * k_;
            const Model& mo = models_[size_t(m)];
            if (!mo.active) {
              std::fill(z, z + k_, 0.0f);
            } else if (task_.scalar) {
              z[0] = float(2.0 * (double(z[0]) - scalar_of(mo.task, token)) / double(nb));
            } else {
              float mx = z[0];
              for (int c2 = 1; c2 < k_; ++c2) mx = std::max(mx, z[c2]);
              double sum = 0;
              for (int c2 = 0; c2 < k_; ++c2) sum += std::exp(double(z[c2] - mx));
              const double lse = double(mx) + std::log(sum);
              for (int c2 = 0; c2 < k_; ++c2) z[c2] = float(std::exp(double(z[c2]) - lse) / double(nb));
              const int32_t y = class_of(mo.task, token);
              if (y < k_) z[y] -= float(1.0 / double(nb));
            }
          }
        }
        gW_.resize(size_t(MK * d_));
        be_.matmul(gW_.data(), G_.data(), Xb, nullptr, MK, d_, nb, Transpose::yes, Transpose::no,
                   Accumulate::overwrite);
        gb_.assign(size_t(MK), 0.0f);
        for (int64_t i = 0; i < nb; ++i)
          for (int64_t j = 0; j < MK; ++j) gb_[size_t(j)] += G_[size_t(i * MK + j)];
        for (int64_t m = 0; m < M; ++m) {
          Model& mo = models_[size_t(m)];
          if (!mo.active) continue;
          ++mo.adam_steps;
          const double c1 = 1.0 - std::pow(kBeta1, double(mo.adam_steps)),
                       c2 = 1.0 - std::pow(kBeta2, double(mo.adam_steps));
          // (λ/2)|W|² for classes, λ|w|² for scalars: the full path's objectives.
          const double pen = task_.scalar ? 2.0 * mo.l2 : mo.l2;
          const float step = float(mo.step);
          const int64_t lo = m * k_ * d_, hi = (m + 1) * k_ * d_;
#pragma omp parallel for schedule(static) if (hi - lo >= kParallelWork)
          for (int64_t p = lo; p < hi; ++p)
            adam(W_[size_t(p)], mW_[size_t(p)], vW_[size_t(p)], double(gW_[size_t(p)]) + pen * W_[size_t(p)], c1, c2,
                 step);
          for (int64_t p = m * k_; p < (m + 1) * k_; ++p)
            adam(b_[size_t(p)], mb_[size_t(p)], vb_[size_t(p)], double(gb_[size_t(p)]), c1, c2, step);
          // The running average of the iterates: the mean of all so far, then an exponential
          // average over the horizon (the weight 1/t becomes 1/horizon).
          const float rate = float(1.0 / double(std::min(mo.adam_steps, average_steps_)));
#pragma omp parallel for schedule(static) if (hi - lo >= kParallelWork)
          for (int64_t p = lo; p < hi; ++p) avgW_[size_t(p)] += (W_[size_t(p)] - avgW_[size_t(p)]) * rate;
          for (int64_t p = m * k_; p < (m + 1) * k_; ++p) avgb_[size_t(p)] += (b_[size_t(p)] - avgb_[size_t(p)]) * rate;
        }
      }
    }
  }

  static void adam(float& w, float& m, float& v, double g, double c1, double c2, float step) {
    m = float(kBeta1 * m + (1.0 - kBeta1) * g);
    v = float(kBeta2 * v + (1.0 - kBeta2) * g * g);
    w -= float(double(step) * (double(m) / c1) / (std::sqrt(double(v) / c2) + kEpsilon));
  }

  // Mean loss (cross-entropy, or squared error of standardised scalars) and score of `n_models`
  // stacked models over one set; model m reads the labels of task tasks[m] (models_[m].task when
  // null). With `u`, the sums of the rows' projections on it (training-set spread of a direction).
  SetTotals evaluate(SplitSet set, const std::vector<float>& W, const std::vector<float>& b, size_t n_models,
                     const int* tasks, const std::vector<float>* u) {
    const int64_t M = int64_t(n_models), MK = M * k_;
    // per model: loss, correct or squared error; per task: Σy, Σy² (R² about the set's own mean)
    std::vector<double> totals(size_t(2 * M + 4), 0.0);
    double proj_sum = 0, proj_sq = 0;
    for (int64_t c : chunks_[int(set)]) {
      const float* X = in_.read(c);
      const std::vector<int64_t> rows = rows_of(c, set);
      standardise(X, rows);
      const int64_t first = in_.first(c);
      for (int64_t start = 0; start < int64_t(rows.size()); start += kScoreRows) {
        const int64_t nb = std::min<int64_t>(kScoreRows, int64_t(rows.size()) - start);
        const float* Xb = xs_.data() + start * d_;
        G_.resize(size_t(nb * MK));
        be_.matmul(G_.data(), Xb, W.data(), b.data(), nb, MK, d_, Transpose::no, Transpose::yes, Accumulate::overwrite);
        ThreadSums sums(totals.size() + 2);
#pragma omp parallel if (nb * (MK + d_) >= kParallelWork)
        {
          double* s = sums.mine();
#pragma omp for schedule(static)
          for (int64_t i = 0; i < nb; ++i) {
            const int64_t token = first + rows[size_t(start + i)];
            for (int64_t m = 0; m < M; ++m) {
              const float* z = G_.data() + i * MK + m * k_;
              const int t = tasks ? tasks[m] : models_[size_t(m)].task;
              if (task_.scalar) {
                const double y = scalar_of(t, token), e = double(z[0]) - y;
                s[2 * m] += e * e;
                s[2 * m + 1] += e * e;
              } else {
                const int32_t y = class_of(t, token);
                float mx = z[0];
                int arg = 0;
                for (int c2 = 1; c2 < k_; ++c2)
                  if (z[c2] > mx) mx = z[c2], arg = c2;
                double sum = 0;
                for (int c2 = 0; c2 < k_; ++c2) sum += std::exp(double(z[c2] - mx));
                // a class never seen in training (y == k) has no score: its loss is the log of the sum
                s[2 * m] += double(mx) + std::log(sum) - (y < k_ ? double(z[y]) : double(mx));
                s[2 * m + 1] += arg == y;
              }
            }
            if (task_.scalar)
              for (int t = 0; t < n_tasks_; ++t) {
                const double y = scalar_of(t, token);
                s[2 * M + 2 * t] += y, s[2 * M + 2 * t + 1] += y * y;
              }
            if (u) {
              double p = 0;
              for (int64_t j = 0; j < d_; ++j) p += double(Xb[i * d_ + j]) * (*u)[size_t(j)];
              s[totals.size()] += p, s[totals.size() + 1] += p * p;
            }
          }
        }
        const std::vector<double> t = sums.total();
        for (size_t j = 0; j < totals.size(); ++j) totals[j] += t[j];
        proj_sum += t[totals.size()], proj_sq += t[totals.size() + 1];
      }
    }
    SetTotals out;
    const double n = double(n_[int(set)]);
    out.loss.resize(size_t(M)), out.score.resize(size_t(M));
    for (int64_t m = 0; m < M; ++m) {
      out.loss[size_t(m)] = totals[size_t(2 * m)] / n;
      if (task_.scalar) {
        const int t = tasks ? tasks[m] : models_[size_t(m)].task;
        const double mean = totals[size_t(2 * M + 2 * t)] / n;
        const double ss = totals[size_t(2 * M + 2 * t + 1)] - n * mean * mean;
        out.score[size_t(m)] = ss > 0 ? 1.0 - totals[size_t(2 * m + 1)] / ss : NAN;
      } else {
        out.score[size_t(m)] = totals[size_t(2 * m + 1)] / n;
      }
    }
    out.projection_sum = proj_sum, out.projection_sq = proj_sq;
    return out;
  }

  // A model's kept weights, for standardised features and (scalars) raw labels.
  LinearFit standardised_fit(const Model& m) const {
    LinearFit f;
    f.d = d_, f.k = k_;
    f.W = m.best_W, f.b = m.best_b;
    if (task_.scalar) {
      const double sd = y_sd_[m.task];
      for (float& w : f.W) w = float(w * sd);
      f.b[0] = float(f.b[0] * sd + y_mean_[m.task]);
    }
    return f;
  }

  Backend& be_;
  ChunkReader& in_;
  const ProbeTask& task_;
  const ProbeOptions& o_;
  int64_t d_;
  int k_ = 1, n_tasks_ = 1;
  SeededRng rng_;
  std::vector<int64_t> chunks_[kSets];  // the chunks holding rows of each set, in store order
  int64_t n_[kSets] = {0, 0, 0};
  const std::vector<float>* labels_[2] = {nullptr, nullptr};
  const std::vector<int32_t>* int_labels_[2] = {nullptr, nullptr};
  double y_mean_[2] = {0, 0}, y_sd_[2] = {1, 1};
  Standardiser st_;
  std::vector<Model> models_;
  std::vector<float> W_, b_, mW_, vW_, mb_, vb_, G_, gW_, gb_, xs_, avgW_, avgb_;
  int64_t average_steps_ = 1;
};

}  // namespace

ProbeResult train_probe_streaming(Backend& be, const ActivationStore& store, const std::string& hook, int head,
                                  const ProbeTask& task, const ProbeOptions& o) {
  const MinibatchOptions& mb = o.minibatch;
  if (mb.chunk_rows < 1 || mb.batch_rows < 1 || !(mb.learning_rate > 0) || mb.max_epochs < 1 || mb.patience < 1)
    throw InternalError(
        "train_probe_streaming: chunk_rows, batch_rows, learning_rate, max_epochs, patience must be positive");
  if (int64_t(task.split.set.size()) != store.n_tokens())
    throw InternalError("train_probe_streaming: the task is of another store");
  ChunkReader in(store, hook, head, mb.chunk_rows);
  return StreamingFit(be, in, task, o).run();
}

}  // namespace headlab
