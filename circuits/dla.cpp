#include "circuits/dla.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "circuits/interventions.h"
#include "core/errors.h"
#include "model/params.h"

namespace headlab {
namespace {

// A TransformerLens parameter as a dense row-major array; empty when the model has none (no norm,
// no bias).
std::vector<float> tl_param(const ParamTable& table, const std::vector<float>& arena, const std::string& name) {
  return table.find(name) ? table.gather(arena, name) : std::vector<float>();
}

struct LensReadout {
  float prob = 0;
  int32_t rank = 0;  // logits above the answer's
  double logit_diff = 0;
};

// One position's logits [V]: the answer's probability and rank, and logit(a) - logit(w) (NaN when
// w < 0).
LensReadout read_out(const float* logits, int64_t V, int32_t a, int32_t w) {
  double mx = logits[0], s = 0;
  for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(logits[v]));
  for (int64_t v = 0; v < V; ++v) s += std::exp(double(logits[v]) - mx);
  LensReadout o;
  for (int64_t v = 0; v < V; ++v) o.rank += logits[v] > logits[a];
  o.prob = float(std::exp(double(logits[a]) - mx) / s);
  o.logit_diff = w >= 0 ? double(logits[a]) - double(logits[w]) : std::nan("");
  return o;
}

// The unembedding side of the model on the host, for projecting residual pieces onto a readout
// direction: the final norm's weights and W_U, b_U.
struct Unembed {
  Normalization norm;
  int64_t D, V;
  std::vector<float> ln_w, ln_b;  // [D] (ln_b empty unless LayerNorm)
  std::vector<float> W_U;         // [D, V]
  std::vector<float> b_U;         // [V]
  Unembed(const Transformer& model, const std::vector<float>& arena) {
    const ModelConfig& c = model.config();
    norm = c.normalization_type;
    D = c.d_model;
    V = c.d_vocab;
    ln_w = tl_param(model.table(), arena, "ln_final.w");
    ln_b = tl_param(model.table(), arena, "ln_final.b");
    W_U = tl_param(model.table(), arena, "unembed.W_U");
    b_U = tl_param(model.table(), arena, "unembed.b_U");
    if (W_U.size() != size_t(D * V)) throw InternalError("unembed.W_U missing from the parameter table");
    if (b_U.empty()) b_U.assign(size_t(V), 0.0f);
  }
  // The readout direction W_U[:, a] - W_U[:, w] (w < 0: W_U[:, a]) and its bias b_U[a] - b_U[w].
  std::vector<double> direction(int32_t a, int32_t w, double& bias) const {
    std::vector<double> d(static_cast<size_t>(D));
    for (int64_t i = 0; i < D; ++i) d[size_t(i)] = W_U[size_t(i * V + a)] - (w >= 0 ? W_U[size_t(i * V + w)] : 0.0f);
    bias = double(b_U[size_t(a)]) - (w >= 0 ? double(b_U[size_t(w)]) : 0.0);
    return d;
  }
};

// Projects residual pieces onto a readout direction through the final norm frozen at `scale`:
// LN: Σ (c - mean c) w d / scale; RMS: Σ c w d / scale; none: Σ c d.
struct FrozenReadout {
  std::vector<double> g;  // [D] effective direction
  double g_sum = 0;
  bool centre = false;
  FrozenReadout(const Unembed& u, const std::vector<double>& dir, double scale) : g(dir) {
    if (u.norm == Normalization::none) return;
    centre = u.norm == Normalization::LN;
    for (size_t i = 0; i < g.size(); ++i) g[i] = double(u.ln_w[i]) * dir[i] / scale;
    for (double x : g) g_sum += x;
  }
  double operator()(const float* c) const {
    double dot = 0, sum = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      dot += double(c[i]) * g[i];
      sum += double(c[i]);
    }
    return centre ? dot - sum / double(g.size()) * g_sum : dot;
  }
};

}  // namespace

double DlaReport::remainder() const {
  double r = final_bias;
  for (double b : attn_bias) r += b;
  return r;
}

double DlaReport::sum_of_parts() const {
  double s = embed + pos_embed;
  for (double h : heads) s += h;
  for (double m : mlps) s += m;
  return s;
}

DlaReport direct_logit_attribution(Transformer& model, const TaskData& task, int batch_size) {
  const ModelConfig& c = model.config();
  check_task_fits_model(task, c);
  if (task.answer.empty()) throw InputError(task.what + ": /answer", "direct logit attribution needs answer tokens");
  const std::vector<float> arena = model.params_to_host();
  const Unembed u(model, arena);
  const int64_t L = c.n_layers, H = c.n_heads, D = c.d_model;
  std::vector<std::vector<float>> b_O(static_cast<size_t>(L));
  for (int64_t l = 0; l < L; ++l)
    b_O[size_t(l)] = tl_param(model.table(), arena, "blocks." + std::to_string(l) + ".attn.b_O");
  const bool has_pos = c.positional_embedding_type == PositionalEmbedding::standard;
  const bool has_norm = c.normalization_type != Normalization::none;
  std::vector<HookPoint> points = {{-1, HookSite::embed}};
  if (has_pos) points.push_back({-1, HookSite::pos_embed});
  if (has_norm) points.push_back({-1, HookSite::lnf_scale});
  for (int l = 0; l < L; ++l) {
    points.push_back({l, HookSite::attn_result});
    if (!c.attn_only) points.push_back({l, HookSite::mlp_out});
  }

  DlaReport r;
  r.n_rows = task.n;
  r.has_wrong_answer = !task.wrong_answer.empty();
  r.heads.assign(size_t(L * H), 0.0);
  r.attn_bias.assign(size_t(L), 0.0);
  if (!c.attn_only) r.mlps.assign(size_t(L), 0.0);
  for (const TaskBatch& b : task_batches(task, batch_size)) {
    auto cache = run_with_cache(model, b.clean, b.B, b.T, points);
    std::vector<float> buffer;
    const float* logits = host_logits(model, buffer);
    auto at = [&](HookPoint p, int64_t row, int64_t width) { return cache.at(p).data.data() + row * width; };
    for (int i = 0; i < b.B; ++i) {
      const int32_t a = b.answer[i], w = r.has_wrong_answer ? b.wrong_answer[i] : -1;
      const int64_t row = int64_t(i) * b.T + b.answer_pos[i];  // (batch, position) row
      const float* lg = logits + row * c.d_vocab;
      r.logit_diff += double(lg[a]) - (w >= 0 ? double(lg[w]) : 0.0);
      double bias_U = 0;
      const std::vector<double> dir = u.direction(a, w, bias_U);
      const FrozenReadout read(u, dir, has_norm ? double(*at({-1, HookSite::lnf_scale}, row, 1)) : 1.0);
      r.embed += read(at({-1, HookSite::embed}, row, D));
      if (has_pos) r.pos_embed += read(at({-1, HookSite::pos_embed}, row, D));
      for (int64_t l = 0; l < L; ++l) {
        const float* result = at({int(l), HookSite::attn_result}, row * H, D);  // [H, D] of this row
        for (int64_t h = 0; h < H; ++h) r.heads[size_t(l * H + h)] += read(result + h * D);
        r.attn_bias[size_t(l)] += read(b_O[size_t(l)].data());
        if (!c.attn_only) r.mlps[size_t(l)] += read(at({int(l), HookSite::mlp_out}, row, D));
      }
      double ln_bias = 0;
      for (size_t d = 0; d < u.ln_b.size(); ++d) ln_bias += double(u.ln_b[d]) * dir[d];
      r.final_bias += ln_bias + bias_U;
    }
  }
  const double n = double(task.n);
  r.logit_diff /= n;
  r.embed /= n;
  r.pos_embed /= n;
  r.final_bias /= n;
  for (double& x : r.heads) x /= n;
  for (double& x : r.mlps) x /= n;
  for (double& x : r.attn_bias) x /= n;
  return r;
}

LogitLensReport logit_lens(Transformer& model, const TaskData& task, int batch_size) {
  const ModelConfig& c = model.config();
  check_task_fits_model(task, c);
  if (task.answer.empty()) throw InputError(task.what + ": /answer", "the logit lens needs answer tokens");
  const int L = c.n_layers;
  const int64_t V = c.d_vocab, n = task.n;
  std::vector<HookPoint> points;
  for (int l = 0; l < L; ++l) points.push_back({l, HookSite::resid_pre});

  LogitLensReport r;
  r.n_rows = n;
  r.labels.push_back("embed");
  for (int l = 0; l < L; ++l) r.labels.push_back("L" + std::to_string(l));
  r.prob.assign(size_t((L + 1) * n), 0.0f);
  r.rank.assign(size_t((L + 1) * n), 0);
  std::vector<double> diff(size_t((L + 1) * n), std::nan(""));
  for (const TaskBatch& b : task_batches(task, batch_size)) {
    const ActivationCache cache = run_with_cache(model, b.clean, b.B, b.T, points);
    std::vector<float> buffer;
    // The model's own unembedding (ln_final with each residual's own statistics, then W_U): point
    // L is this forward's logits, point k < L the residual before block k fed straight to it.
    for (int k = L; k >= 0; --k) {
      if (k < L) model.forward_from_layer(L, cache.at(points[size_t(k)]).data.data());
      const float* logits = host_logits(model, buffer);
#pragma omp parallel for schedule(dynamic)
      for (int i = 0; i < b.B; ++i) {
        const float* row = logits + (int64_t(i) * b.T + b.answer_pos[i]) * V;
        const LensReadout o = read_out(row, V, b.answer[i], task.wrong_answer.empty() ? -1 : b.wrong_answer[i]);
        const size_t at = size_t(k * n + b.first + i);
        r.prob[at] = o.prob;
        r.rank[at] = o.rank;
        diff[at] = o.logit_diff;
      }
    }
  }
  for (int k = 0; k <= L; ++k) {
    double p = 0, rk = 0, top = 0, d = 0;
    for (int64_t i = 0; i < n; ++i) {
      const size_t at = size_t(k * n + i);
      p += r.prob[at];
      rk += r.rank[at];
      top += r.rank[at] == 0;
      d += diff[at];
    }
    r.mean_prob.push_back(p / double(n));
    r.mean_rank.push_back(rk / double(n));
    r.top1.push_back(top / double(n));
    r.mean_logit_diff.push_back(task.wrong_answer.empty() ? std::nan("") : d / double(n));
  }
  return r;
}

}  // namespace headlab
