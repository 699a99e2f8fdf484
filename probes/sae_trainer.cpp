#include "probes/sae_trainer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/errors.h"

namespace headlab {

double warmed_up(double final_value, int64_t warmup, int64_t step) {
  if (warmup <= 0 || step >= warmup) return final_value;
  return final_value * double(step) / double(warmup);
}

double estimate_input_scale(RowSource& source, int64_t rows) {
  const std::vector<uint64_t> where = source.state();
  const int64_t w = source.width();
  rows = std::max<int64_t>(rows, 1);
  std::vector<float> buf(size_t(std::min<int64_t>(rows, 4096) * w));
  double total = 0;
  for (int64_t done = 0; done < rows;) {
    const int64_t n = std::min<int64_t>(rows - done, 4096);
    source.next(buf.data(), n);
    for (int64_t r = 0; r < n; ++r) {
      double ss = 0;
      for (int64_t j = 0; j < w; ++j) ss += double(buf[size_t(r * w + j)]) * buf[size_t(r * w + j)];
      total += std::sqrt(ss);
    }
    done += n;
  }
  source.restore(where, "row source");
  const double mean_norm = total / double(rows);
  if (!(mean_norm > 0) || !std::isfinite(mean_norm))
    throw InputError(source.describe(), "the rows have no size (mean norm " + std::to_string(mean_norm) +
                                            "): nothing for an SAE to reconstruct");
  return std::sqrt(double(w)) / mean_norm;
}

SaeTrainState new_sae_state(const SaeConfig& cfg, RowSource& source, int64_t norm_rows) {
  cfg.validate();
  if (source.width() != cfg.d_in)
    throw InputError(source.describe(), "rows of " + std::to_string(source.width()) + " values, the SAE expects " +
                                            std::to_string(cfg.d_in));
  SaeTrainState s;
  s.cfg = cfg;
  s.scale = estimate_input_scale(source, norm_rows);
  s.params = init_sae_params(cfg);
  s.m.assign(s.params.size(), 0.0f);
  s.v.assign(s.params.size(), 0.0f);
  s.since_fired.assign(size_t(cfg.d_sae), 0);
  s.fire_count.assign(size_t(cfg.d_sae), 0);
  s.source_state = source.state();
  return s;
}

SaeProgress SaeTrainer::step(RowSource& source) {
  const SaeConfig& cfg = s_.cfg;
  const int64_t B = cfg.batch_size;
  x_.resize(size_t(B * cfg.d_in));
  grads_.resize(s_.params.size());
  source.next(x_.data(), B);
  const float scale = float(s_.scale);
  for (float& v : x_) v *= scale;

  dead_.resize(size_t(cfg.d_sae));
  for (int64_t i = 0; i < cfg.d_sae; ++i) dead_[size_t(i)] = s_.since_fired[size_t(i)] > cfg.dead_feature_window;

  SaeProgress p;
  p.step = s_.step + 1;
  const bool relu = cfg.arch == SaeArch::relu;
  p.sparsity_coefficient = relu ? warmed_up(cfg.l1_coefficient, cfg.l1_warmup_steps, s_.step)
                                : warmed_up(cfg.l0_coefficient, cfg.l0_warmup_steps, s_.step);
  SaeStepInput in;
  in.x = x_.data();
  in.B = B;
  in.dead = dead_.data();
  in.sparsity_coefficient = p.sparsity_coefficient;
  p.result = sae_step_loss_and_grad(cfg, be_, s_.params.data(), grads_.data(), in, ws_);
  if (!std::isfinite(p.result.loss))
    throw InputError("training", "the loss is not finite at step " + std::to_string(p.step) +
                                     "; try a lower --lr or a smaller --l1");

  for (int64_t i = 0; i < cfg.d_sae; ++i) {
    s_.since_fired[size_t(i)] = ws_.fired[size_t(i)] ? 0 : s_.since_fired[size_t(i)] + 1;
  }
  for (int64_t b = 0; b < ws_.active.rows && (cfg.arch == SaeArch::topk || cfg.arch == SaeArch::batchtopk); ++b)
    for (int64_t e = ws_.active.row_start[size_t(b)]; e < ws_.active.row_start[size_t(b + 1)]; ++e)
      ++s_.fire_count[size_t(ws_.active.col[size_t(e)])];
  if (!(cfg.arch == SaeArch::topk || cfg.arch == SaeArch::batchtopk))
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < cfg.d_sae; ++i) s_.fire_count[size_t(i)] += ws_.acts[size_t(b * cfg.d_sae + i)] > 0;
  if (cfg.arch == SaeArch::batchtopk && p.result.min_selected > 0)
    s_.topk_threshold =
        (1.0 - cfg.topk_threshold_lr) * s_.topk_threshold + cfg.topk_threshold_lr * double(p.result.min_selected);

  const int64_t n = int64_t(s_.params.size());
  p.grad_norm = std::sqrt(be_.sum_squares(grads_.data(), n));
  const float clip = cfg.grad_clip > 0 ? float(std::min(1.0, cfg.grad_clip / (p.grad_norm + 1e-6))) : 1.0f;
  p.lr = cfg.schedule.at(s_.step, cfg.steps, cfg.lr);
  be_.adamw_update(s_.params.data(), grads_.data(), s_.m.data(), s_.v.data(), n, float(p.lr), float(cfg.beta1),
                   float(cfg.beta2), float(cfg.eps), 0.0f, s_.step + 1, clip);
  ++s_.step;
  s_.tokens_seen += B;
  s_.source_state = source.state();
  int64_t dead = 0;
  for (int64_t v : s_.since_fired) dead += v > cfg.dead_feature_window;
  p.dead_fraction = double(dead) / double(cfg.d_sae);
  return p;
}

void SaeTrainer::run(RowSource& source, const std::function<bool(const SaeProgress&)>& on_step) {
  while (s_.step < s_.cfg.steps) {
    const SaeProgress p = step(source);
    if (on_step && !on_step(p)) return;
  }
}

}  // namespace headlab
