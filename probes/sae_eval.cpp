#include "probes/sae_eval.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "core/errors.h"
#include "probes/sae_source.h"

namespace headlab {

SequenceView sequence_view(const TokenDataset& ds, const ModelConfig& cfg, int64_t seq_len, const std::string& what) {
  SequenceView v;
  v.ds = &ds;
  if (ds.kind == DatasetKind::sequences) {
    v.seq_len = ds.seq_len;
    v.n_seq = ds.n_seq;
  } else {
    v.seq_len = seq_len > 0 ? seq_len : cfg.n_ctx;
    v.n_seq = v.seq_len > 0 ? ds.n_tokens() / v.seq_len : 0;
  }
  if (v.seq_len < 2 || v.seq_len > cfg.n_ctx)
    throw InputError(what, "expected sequences of 2 to n_ctx = " + std::to_string(cfg.n_ctx) + " tokens, got " +
                               std::to_string(v.seq_len));
  if (v.n_seq < 1) throw InputError(what, "holds no sequence of " + std::to_string(v.seq_len) + " tokens");
  if (ds.d_vocab > cfg.d_vocab)
    throw InputError(what, "its vocabulary (" + std::to_string(ds.d_vocab) + " tokens) is larger than the model's (" +
                               std::to_string(cfg.d_vocab) + ")");
  return v;
}

HookPoint sae_hook_point(const Sae& sae, const ModelConfig& cfg) {
  if (sae.hook_name.empty()) throw InputError("--sae", "the SAE names no hook point (it was trained on bare rows)");
  const HookPoint p = parse_hook_name(sae.hook_name, cfg);
  const int64_t w = hook_row_width(p, cfg);
  if (w != sae.d_in)
    throw InputError("--sae", "it reads " + std::to_string(sae.d_in) + " values per token at " + sae.hook_name +
                                  ", where this model has " + std::to_string(w));
  return p;
}

SplicedRun run_spliced(Transformer& model, const int32_t* tokens, int B, int T, HookPoint hook,
                       const ActivationRewrite* replace) {
  HookSet hooks;
  if (replace) {
    hooks.add_forward(hook, [replace](HookPoint, ActivationView& v, Backend&) {
      const int64_t rows = v.shape[0] * v.shape[1];
      (*replace)(v.data, rows, v.numel() / rows);
    });
  }
  std::vector<int32_t> targets(size_t(B) * size_t(T), -1);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t + 1 < T; ++t) targets[size_t(b * T + t)] = tokens[b * T + t + 1];
  SplicedRun r;
  const float mean = model.forward_loss(tokens, targets.data(), B, T, replace ? &hooks : nullptr);
  r.ce_count = int64_t(B) * (T - 1);
  r.ce_sum = double(mean) * double(r.ce_count);
  r.logits = model.logits_to_host();
  return r;
}

namespace {

// Σ over positions of KL(p ‖ q) for logits [N, V], in double.
double kl_sum(const std::vector<float>& p_logits, const std::vector<float>& q_logits, int64_t N, int64_t V) {
  std::vector<double> row(static_cast<size_t>(N));
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* p = p_logits.data() + n * V;
    const float* q = q_logits.data() + n * V;
    double pm = p[0], qm = q[0];
    for (int64_t v = 1; v < V; ++v) {
      pm = std::max(pm, double(p[v]));
      qm = std::max(qm, double(q[v]));
    }
    double ps = 0, qs = 0;
    for (int64_t v = 0; v < V; ++v) {
      ps += std::exp(double(p[v]) - pm);
      qs += std::exp(double(q[v]) - qm);
    }
    const double plse = pm + std::log(ps), qlse = qm + std::log(qs);
    double kl = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double lp = double(p[v]) - plse, lq = double(q[v]) - qlse;
      kl += std::exp(lp) * (lp - lq);
    }
    row[size_t(n)] = kl;
  }
  double s = 0;
  for (double k : row) s += k;
  return s;
}

}  // namespace

SaeMetrics evaluate_sae(const Sae& sae, Transformer& model, const SequenceView& seqs, int64_t max_sequences,
                        int64_t batch) {
  const ModelConfig& cfg = model.config();
  const HookPoint hook = sae_hook_point(sae, cfg);
  const int64_t n_seq = max_sequences > 0 ? std::min(max_sequences, seqs.n_seq) : seqs.n_seq;
  const int64_t T = seqs.seq_len, d = sae.d_in, V = cfg.d_vocab;
  batch = std::max<int64_t>(1, batch);
  SaeMetrics m;
  std::vector<int64_t> active(size_t(sae.d_sae), 0);
  std::vector<double> sum_x(size_t(d), 0.0);
  double sum_sq = 0, resid = 0, l0 = 0, ce_clean = 0, ce_sae = 0, ce_zero = 0, kl_sae = 0, kl_zero = 0;
  int64_t ce_n = 0;
  SparseRows acts;
  std::vector<int32_t> tokens;
  for (int64_t s0 = 0; s0 < n_seq; s0 += batch) {
    const int B = int(std::min(batch, n_seq - s0));
    tokens.resize(size_t(B) * size_t(T));
    for (int b = 0; b < B; ++b) std::copy_n(seqs.sequence(s0 + b), T, tokens.data() + int64_t(b) * T);
    const int64_t N = int64_t(B) * T;
    // The clean run, keeping the hook's activation.
    std::vector<float> x;
    const ActivationRewrite keep = [&x](float* a, int64_t rows, int64_t width) { x.assign(a, a + rows * width); };
    const SplicedRun clean = run_spliced(model, tokens.data(), B, int(T), hook, &keep);
    sae_encode(sae, model.backend(), x.data(), N, acts);
    std::vector<float> x_hat(size_t(N * d));
    sae_decode(sae, acts, x_hat.data());
    l0 += double(acts.nnz());
    for (int32_t i : acts.col) ++active[size_t(i)];
    for (int64_t r = 0; r < N; ++r)
      for (int64_t j = 0; j < d; ++j) {
        const double xv = x[size_t(r * d + j)], e = xv - x_hat[size_t(r * d + j)];
        sum_x[size_t(j)] += xv;
        sum_sq += xv * xv;
        resid += e * e;
      }
    const ActivationRewrite splice = [&x_hat](float* a, int64_t rows, int64_t width) {
      std::copy(x_hat.begin(), x_hat.begin() + rows * width, a);
    };
    const ActivationRewrite zero = [](float* a, int64_t rows, int64_t width) { std::fill(a, a + rows * width, 0.0f); };
    const SplicedRun spliced = run_spliced(model, tokens.data(), B, int(T), hook, &splice);
    const SplicedRun zeroed = run_spliced(model, tokens.data(), B, int(T), hook, &zero);
    ce_clean += clean.ce_sum;
    ce_sae += spliced.ce_sum;
    ce_zero += zeroed.ce_sum;
    ce_n += clean.ce_count;
    kl_sae += kl_sum(clean.logits, spliced.logits, N, V);
    kl_zero += kl_sum(clean.logits, zeroed.logits, N, V);
    m.tokens += N;
  }
  m.sequences = n_seq;
  const double Nt = double(m.tokens);
  double mean_sq = 0;
  for (double s : sum_x) mean_sq += (s / Nt) * (s / Nt);
  const double total_var = sum_sq - Nt * mean_sq;
  m.l0 = l0 / Nt;
  m.mse = resid / Nt;
  m.explained_variance = total_var > 0 ? 1.0 - resid / total_var : 0.0;
  m.ce_clean = ce_clean / double(ce_n);
  m.ce_sae = ce_sae / double(ce_n);
  m.ce_zero = ce_zero / double(ce_n);
  m.ce_loss_score = (m.ce_zero - m.ce_sae) / (m.ce_zero - m.ce_clean);
  m.kl_sae = kl_sae / Nt;
  m.kl_zero = kl_zero / Nt;
  m.kl_div_score = (m.kl_zero - m.kl_sae) / m.kl_zero;
  m.feature_density.resize(size_t(sae.d_sae));
  m.density_histogram.assign(17, 0);
  for (int64_t i = 0; i < sae.d_sae; ++i) {
    const double dens = double(active[size_t(i)]) / Nt;
    m.feature_density[size_t(i)] = dens;
    if (active[size_t(i)] == 0) {
      ++m.dead;
      ++m.density_histogram[16];
    } else {
      const int bin = std::min(15, int(std::floor(-std::log10(dens) * 2.0)));
      ++m.density_histogram[size_t(std::max(0, bin))];
    }
  }
  return m;
}

nlohmann::json SaeMetrics::to_json() const {
  return {{"tokens", tokens},
          {"sequences", sequences},
          {"l0", l0},
          {"explained_variance", explained_variance},
          {"mse", mse},
          {"ce_loss_without_sae", ce_clean},
          {"ce_loss_with_sae", ce_sae},
          {"ce_loss_with_ablation", ce_zero},
          {"ce_loss_score", ce_loss_score},
          {"kl_div_with_sae", kl_sae},
          {"kl_div_with_ablation", kl_zero},
          {"kl_div_score", kl_div_score},
          {"dead_features", dead},
          {"dead_fraction", feature_density.empty() ? 0.0 : double(dead) / double(feature_density.size())},
          {"density_histogram_log10", density_histogram},
          {"feature_density", feature_density}};
}

}  // namespace headlab
