#include "probes/sae_model.h"

#include <cmath>
#include <string>

#include "core/errors.h"
#include "core/seeded_rng.h"

namespace headlab {

std::string to_string(SaeArch a) {
  switch (a) {
    case SaeArch::relu:
      return "relu";
    case SaeArch::topk:
      return "topk";
    case SaeArch::batchtopk:
      return "batchtopk";
    case SaeArch::jumprelu:
      return "jumprelu";
  }
  return "?";
}

SaeArch parse_sae_arch(const std::string& s) {
  if (s == "relu" || s == "standard") return SaeArch::relu;
  if (s == "topk") return SaeArch::topk;
  if (s == "batchtopk") return SaeArch::batchtopk;
  if (s == "jumprelu") return SaeArch::jumprelu;
  throw InputError("--arch", "expected relu, topk, batchtopk or jumprelu, got '" + s + "'");
}

std::string saelens_architecture(SaeArch a) { return a == SaeArch::relu ? "standard" : to_string(a); }

double SaeLrSchedule::at(int64_t step, int64_t total, double lr) const {
  double factor = 1.0;
  if (warmup_steps > 0 && step < warmup_steps) {
    // torch LinearLR(start_factor 1/W, end_factor 1, total_iters W - 1), as SAELens builds it.
    const double w = double(warmup_steps);
    factor = warmup_steps == 1 ? 1.0 : 1.0 / w + (1.0 - 1.0 / w) * double(step) / (w - 1.0);
  }
  const int64_t decay_start = total - decay_steps;
  if (decay_steps > 0 && step >= decay_start) factor = 1.0 - double(step - decay_start) / double(decay_steps);
  return lr * factor;
}

namespace {
void require(bool ok, const std::string& what, const std::string& why) {
  if (!ok) throw InputError(what, why);
}
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

void SaeConfig::validate() const {
  require(d_in > 0 && d_in <= (int64_t(1) << 20), "input width",
          "expected 1 to 2^20 values per row, got " + num(double(d_in)));
  require(d_sae > 0, "--expansion", "expected a dictionary of at least one latent (expansion > 0)");
  require(d_sae <= (int64_t(1) << 24), "--expansion", "expected at most 2^24 latents, got " + num(double(d_sae)));
  require(d_in * d_sae <= (int64_t(1) << 31), "--expansion",
          "expected d_in x d_sae <= 2^31 weights, got " + num(double(d_in)) + " x " + num(double(d_sae)));
  if (arch == SaeArch::topk || arch == SaeArch::batchtopk) {
    require(k >= 1, "--k", "expected k >= 1, got " + num(double(k)));
    require(k <= d_sae, "--k",
            "expected k <= the dictionary size " + std::to_string(d_sae) + ", got " + std::to_string(k));
  }
  require(std::isfinite(l1_coefficient) && l1_coefficient >= 0, "--l1", "expected a number >= 0");
  require(std::isfinite(l0_coefficient) && l0_coefficient >= 0, "--l0", "expected a number >= 0");
  require(std::isfinite(jumprelu_bandwidth) && jumprelu_bandwidth > 0, "--bandwidth", "expected a number > 0");
  require(std::isfinite(jumprelu_init_threshold) && jumprelu_init_threshold > 0, "--init-threshold",
          "expected a number > 0");
  require(std::isfinite(aux_coefficient) && aux_coefficient >= 0, "--aux-coefficient", "expected a number >= 0");
  require(std::isfinite(decoder_init_norm) && decoder_init_norm > 0, "--decoder-init-norm", "expected a number > 0");
  require(std::isfinite(lr) && lr > 0, "--lr", "expected a number > 0, got " + num(lr));
  require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "--beta1/--beta2", "expected numbers in [0, 1)");
  require(std::isfinite(eps) && eps > 0, "--adam-eps", "expected a number > 0");
  require(std::isfinite(grad_clip) && grad_clip >= 0, "--grad-clip", "expected a number >= 0 (0 = off)");
  require(batch_size >= 1 && batch_size <= (int64_t(1) << 20), "--batch-size", "expected 1 to 2^20 rows");
  require(int64_t(double(batch_size) * double(d_sae)) <= (int64_t(1) << 32), "--batch-size",
          "expected batch x d_sae <= 2^32 activations");
  require(steps >= 0, "--steps", "expected a number >= 0");
  require(schedule.warmup_steps >= 0 && schedule.decay_steps >= 0, "--lr-warmup/--lr-decay", "expected numbers >= 0");
  require(schedule.warmup_steps + schedule.decay_steps <= steps || steps == 0, "--lr-warmup/--lr-decay",
          "expected warm-up + decay <= --steps");
  require(dead_feature_window >= 1, "--dead-window", "expected a number >= 1");
  require(topk_threshold_lr > 0 && topk_threshold_lr <= 1, "--threshold-lr", "expected a number in (0, 1]");
  if (n_heads > 0) {
    require(d_head > 0 && n_heads * d_head == d_in, "hook_z",
            "expected d_in = n_heads x d_head for an attention-output SAE");
  }
}

SaeLayout::SaeLayout(const SaeConfig& cfg) {
  W_enc = 0;
  b_enc = W_enc + cfg.d_in * cfg.d_sae;
  W_dec = b_enc + cfg.d_sae;
  b_dec = W_dec + cfg.d_sae * cfg.d_in;
  log_threshold = b_dec + cfg.d_in;
  size = log_threshold + (cfg.uses_threshold() ? cfg.d_sae : 0);
}

std::vector<float> init_sae_params(const SaeConfig& cfg) {
  const SaeLayout L(cfg);
  std::vector<float> p(size_t(L.size), 0.0f);
  SeededRng rng(cfg.seed ^ 0x5ae5ae5ae5ae5aeULL);
  const double bound = std::sqrt(6.0 / double(cfg.d_in));
  float* W_dec = p.data() + L.W_dec;
  for (int64_t i = 0; i < cfg.d_sae; ++i) {
    double ss = 0;
    float* row = W_dec + i * cfg.d_in;
    for (int64_t j = 0; j < cfg.d_in; ++j) {
      // 53 random bits: a uniform double in [0, 1), platform-independent.
      const double u = double(rng.below(uint64_t(1) << 53)) / double(uint64_t(1) << 53);
      row[j] = float((2.0 * u - 1.0) * bound);
      ss += double(row[j]) * row[j];
    }
    const double s = ss > 0 ? cfg.decoder_init_norm / std::sqrt(ss) : 0.0;
    for (int64_t j = 0; j < cfg.d_in; ++j) row[j] = float(row[j] * s);
  }
  float* W_enc = p.data() + L.W_enc;
  for (int64_t i = 0; i < cfg.d_sae; ++i)
    for (int64_t j = 0; j < cfg.d_in; ++j) W_enc[j * cfg.d_sae + i] = W_dec[i * cfg.d_in + j];
  if (cfg.uses_threshold())
    for (int64_t i = 0; i < cfg.d_sae; ++i)
      p[size_t(L.log_threshold + i)] = float(std::log(cfg.jumprelu_init_threshold));
  return p;
}

std::vector<float> decoder_row_norms(const float* W_dec, int64_t d_sae, int64_t d_in) {
  std::vector<float> n(static_cast<size_t>(d_sae));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < d_sae; ++i) {
    double ss = 0;
    const float* row = W_dec + i * d_in;
    for (int64_t j = 0; j < d_in; ++j) ss += double(row[j]) * row[j];
    n[size_t(i)] = float(std::sqrt(ss));
  }
  return n;
}

}  // namespace headlab
