#include "circuits/ablation.h"

#include <map>
#include <memory>
#include <random>

#include "circuits/interventions.h"
#include "core/errors.h"

namespace headlab {
namespace {

// The points an ablation replaces: each layer's hook_z and (with MLPs) hook_mlp_out.
std::vector<HookPoint> ablated_points(const ModelConfig& c) {
  std::vector<HookPoint> p;
  for (int l = 0; l < c.n_layers; ++l) {
    p.push_back({l, HookSite::attn_z});
    if (!c.attn_only) p.push_back({l, HookSite::mlp_out});
  }
  return p;
}

HookFn ablation_fn(AblationKind kind, const ActivationCache& sources, HookPoint p, Selection sel) {
  if (kind == AblationKind::zero) return zero_ablation(std::move(sel));
  return replace_from(sources.shared(p), std::move(sel));
}

// The reference rows a batch's resampled activations come from: B rows drawn with the seed.
std::vector<int32_t> resample_tokens(const TaskData& ref, int B, std::mt19937_64& rng) {
  std::vector<int32_t> out(size_t(B) * size_t(ref.T));
  for (int b = 0; b < B; ++b) {
    const int64_t r = int64_t(rng() % uint64_t(ref.n));
    std::copy_n(ref.clean.begin() + r * ref.T, ref.T, out.begin() + int64_t(b) * ref.T);
  }
  return out;
}

struct Score {
  double metric = 0;
  LossSum loss;
};

// A scored run of the clean rows: the loss and, from the same logits, the metric.
Score score_run(Transformer& model, const TaskBatch& b, MetricKind metric, const float* clean_logprobs,
                HookSet* hooks) {
  Score s;
  s.loss = run_loss_sum(model, b, hooks);
  std::vector<float> buffer;
  s.metric = metric_sum(metric, host_logits(model, buffer), b.metric_targets(model.config().d_vocab, clean_logprobs));
  return s;
}

struct Accum {
  std::vector<double> metric, loss;
  std::vector<int64_t> count;
  explicit Accum(size_t n) : metric(n, 0.0), loss(n, 0.0), count(n, 0) {}
  void add(size_t i, const Score& s) {
    metric[i] += s.metric;
    loss[i] += s.loss.sum;
    count[i] += s.loss.count;
  }
  void finish(int64_t n_rows, std::vector<double>& m, std::vector<double>& l) const {
    for (size_t i = 0; i < metric.size(); ++i) {
      m.push_back(metric[i] / double(n_rows));
      l.push_back(LossSum{loss[i], count[i]}.mean());
    }
  }
};

struct Accums {
  Accum heads, attn, mlp, clean;
};

// One batch: the clean run and every ablation, scored into `acc`. Returns the forwards run.
int64_t ablate_batch(Transformer& model, const TaskBatch& b, const AblationOptions& opt, const ActivationCache& src,
                     Accums& acc) {
  const ModelConfig& c = model.config();
  const size_t H = size_t(c.n_heads);
  int64_t forwards = 0;
  Score clean_score;
  clean_score.loss = run_loss_sum(model, b, nullptr);
  std::vector<float> buffer;
  const float* clean_logits = host_logits(model, buffer);
  const std::vector<float> clean_logprobs = answer_logprobs(clean_logits, b.B, b.T, c.d_vocab, b.answer_pos);
  clean_score.metric = metric_sum(opt.metric, clean_logits, b.metric_targets(c.d_vocab, clean_logprobs.data()));
  acc.clean.add(0, clean_score);
  ++forwards;
  for (int l = 0; l < c.n_layers; ++l) {
    const HookPoint z{l, HookSite::attn_z};
    for (int h = 0; h < c.n_heads; ++h) {
      HookSet hooks;
      hooks.add_forward(z, ablation_fn(opt.kind, src, z, Selection::heads_at({h})));
      acc.heads.add(size_t(l) * H + size_t(h), score_run(model, b, opt.metric, clean_logprobs.data(), &hooks));
    }
    HookSet layer;
    layer.add_forward(z, ablation_fn(opt.kind, src, z, {}));
    acc.attn.add(size_t(l), score_run(model, b, opt.metric, clean_logprobs.data(), &layer));
    forwards += c.n_heads + 1;
    if (!c.attn_only) {
      const HookPoint m{l, HookSite::mlp_out};
      HookSet hooks;
      hooks.add_forward(m, ablation_fn(opt.kind, src, m, {}));
      acc.mlp.add(size_t(l), score_run(model, b, opt.metric, clean_logprobs.data(), &hooks));
      ++forwards;
    }
  }
  return forwards;
}

}  // namespace

AblationKind parse_ablation_kind(const std::string& s, const std::string& what) {
  if (s == "zero") return AblationKind::zero;
  if (s == "mean") return AblationKind::mean;
  if (s == "resample") return AblationKind::resample;
  throw InputError(what, "expected zero, mean or resample, got '" + s + "'");
}

std::string to_string(AblationKind k) {
  switch (k) {
    case AblationKind::zero:
      return "zero";
    case AblationKind::mean:
      return "mean";
    case AblationKind::resample:
      return "resample";
  }
  return "?";
}

AblationReport run_ablation(Transformer& model, const TaskData& task, const AblationOptions& opt) {
  const ModelConfig& c = model.config();
  check_task_fits_model(task, c);
  const TaskData& ref = opt.reference ? *opt.reference : task;
  if (opt.kind != AblationKind::zero) {
    if (ref.T != task.T)
      throw InputError(ref.what, "reference rows have " + std::to_string(ref.T) + " tokens; the task's have " +
                                     std::to_string(task.T) +
                                     " (mean and resample ablation replace position by position)");
    check_task_fits_model(ref, c);
  }
  const std::vector<HookPoint> points = ablated_points(c);
  ActivationCache means;
  if (opt.kind == AblationKind::mean)
    means = mean_activations(model, points, ref.clean.data(), ref.n, ref.T, opt.batch_size);
  std::mt19937_64 rng(opt.seed);

  AblationReport r;
  r.kind = opt.kind;
  r.metric = opt.metric;
  r.n_rows = task.n;
  const size_t L = size_t(c.n_layers), H = size_t(c.n_heads);
  Accums acc{Accum(L * H), Accum(L), Accum(c.attn_only ? 0 : L), Accum(1)};
  const auto batches = task_batches(task, opt.batch_size);
  for (size_t bi = 0; bi < batches.size(); ++bi) {
    const TaskBatch& b = batches[bi];
    ActivationCache resampled;
    if (opt.kind == AblationKind::resample) {
      const std::vector<int32_t> tokens = resample_tokens(ref, b.B, rng);
      resampled = run_with_cache(model, tokens.data(), b.B, b.T, points);
      ++r.forwards;
    }
    const ActivationCache& src = opt.kind == AblationKind::mean ? means : resampled;
    r.forwards += ablate_batch(model, b, opt, src, acc);
    if (opt.progress) opt.progress("batch " + std::to_string(bi + 1) + "/" + std::to_string(batches.size()) + " done");
  }
  std::vector<double> cm, cl;
  acc.clean.finish(task.n, cm, cl);
  r.clean_metric = cm[0];
  r.clean_loss = cl[0];
  acc.heads.finish(task.n, r.head_metric, r.head_loss);
  acc.attn.finish(task.n, r.attn_metric, r.attn_loss);
  acc.mlp.finish(task.n, r.mlp_metric, r.mlp_loss);
  return r;
}

}  // namespace headlab
