#include "probes/sae_features.h"

#include <algorithm>
#include <numeric>

#include "core/errors.h"
#include "model/params.h"
#include "probes/sae_source.h"

namespace headlab {

namespace {

// Keeps the `cap` strongest contexts of one feature (ties: the earlier token).
struct TopContexts {
  std::vector<FeatureContext> items;  // unordered while collecting
  void offer(FeatureContext&& c, int64_t cap) {
    if (int64_t(items.size()) < cap) {
      items.push_back(std::move(c));
      return;
    }
    auto weakest = std::min_element(items.begin(), items.end(), [](const FeatureContext& a, const FeatureContext& b) {
      return a.activation < b.activation;
    });
    if (c.activation > weakest->activation) *weakest = std::move(c);
  }
  bool admits(float v, int64_t cap) const {
    if (int64_t(items.size()) < cap) return true;
    float weakest = items[0].activation;
    for (const auto& c : items) weakest = std::min(weakest, c.activation);
    return v > weakest;
  }
};

float activation_at(const SparseRows& acts, int64_t row, int32_t feature) {
  const auto b = acts.col.begin() + acts.row_start[size_t(row)], e = acts.col.begin() + acts.row_start[size_t(row + 1)];
  const auto it = std::lower_bound(b, e, feature);
  return it != e && *it == feature ? acts.val[size_t(it - acts.col.begin())] : 0.0f;
}

}  // namespace

std::vector<float> feature_logit_effect(const Sae& sae, const Transformer& model, const std::vector<float>& params,
                                        int64_t feature) {
  const ModelConfig& cfg = model.config();
  const HookPoint p = parse_hook_name(sae.hook_name, cfg);
  const int64_t D = cfg.d_model;
  std::vector<float> dir(static_cast<size_t>(D), 0.0f);
  const float* row = sae.W_dec.data() + feature * sae.d_in;
  switch (p.site) {
    case HookSite::resid_pre:
    case HookSite::resid_mid:
    case HookSite::resid_post:
    case HookSite::attn_out:
    case HookSite::mlp_out:
      std::copy(row, row + D, dir.begin());
      break;
    case HookSite::attn_z: {
      const ParamInfo* W_O = model.table().find("blocks." + std::to_string(p.layer) + ".attn.W_O");
      if (!W_O) return {};
      const int64_t H = cfg.n_heads, dh = cfg.d_head;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t j = 0; j < dh; ++j)
          for (int64_t m = 0; m < D; ++m)
            dir[size_t(m)] += row[h * dh + j] * params[size_t(W_O->arena_offset((h * dh + j) * D + m))];
      break;
    }
    default:
      return {};
  }
  const ParamInfo* W_U = model.table().find("unembed.W_U");
  if (!W_U) return {};
  const int64_t V = cfg.d_vocab;
  std::vector<float> logit(static_cast<size_t>(V), 0.0f);
  for (int64_t m = 0; m < D; ++m) {
    const float d = dir[size_t(m)];
    if (d == 0) continue;
    for (int64_t v = 0; v < V; ++v) logit[size_t(v)] += d * params[size_t(W_U->arena_offset(m * V + v))];
  }
  return logit;
}

FeatureReport build_feature_report(const Sae& sae, Transformer& model, const SequenceView& seqs,
                                   const FeatureReportOptions& opt) {
  const ModelConfig& cfg = model.config();
  const HookPoint hook = sae_hook_point(sae, cfg);
  const int64_t n_seq = opt.max_sequences > 0 ? std::min(opt.max_sequences, seqs.n_seq) : seqs.n_seq;
  const int64_t T = seqs.seq_len, batch = std::max<int64_t>(1, opt.batch);
  FeatureReport rep;
  std::vector<int64_t> count(static_cast<size_t>(sae.d_sae), 0);
  std::vector<float> max_act(static_cast<size_t>(sae.d_sae), 0.0f);
  std::vector<TopContexts> top(static_cast<size_t>(sae.d_sae));
  SparseRows acts;
  std::vector<int32_t> tokens;
  for (int64_t s0 = 0; s0 < n_seq; s0 += batch) {
    const int B = int(std::min(batch, n_seq - s0));
    tokens.resize(size_t(B) * size_t(T));
    for (int b = 0; b < B; ++b) std::copy_n(seqs.sequence(s0 + b), T, tokens.data() + int64_t(b) * T);
    const std::vector<float> x = hook_rows(model, tokens.data(), B, int(T), hook);
    sae_encode(sae, model.backend(), x.data(), int64_t(B) * T, acts);
    for (int64_t r = 0; r < int64_t(B) * T; ++r) {
      const int64_t b = r / T, pos = r % T;
      for (int64_t e = acts.row_start[size_t(r)]; e < acts.row_start[size_t(r + 1)]; ++e) {
        const int32_t i = acts.col[size_t(e)];
        const float v = acts.val[size_t(e)];
        ++count[size_t(i)];
        max_act[size_t(i)] = std::max(max_act[size_t(i)], v);
        if (!top[size_t(i)].admits(v, opt.contexts)) continue;
        FeatureContext c;
        c.sequence = s0 + b;
        c.position = pos;
        c.activation = v;
        c.first = std::max<int64_t>(0, pos - opt.before);
        const int64_t last = std::min<int64_t>(T - 1, pos + opt.after);
        for (int64_t q = c.first; q <= last; ++q) {
          c.tokens.push_back(tokens[size_t(b * T + q)]);
          c.activations.push_back(activation_at(acts, b * T + q, i));
        }
        top[size_t(i)].offer(std::move(c), opt.contexts);
      }
    }
    rep.tokens += int64_t(B) * T;
  }
  rep.sequences = n_seq;
  std::vector<int64_t> order;
  for (int64_t i = 0; i < sae.d_sae; ++i)
    if (count[size_t(i)] > 0) order.push_back(i);
  rep.live = int64_t(order.size());
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return count[size_t(a)] > count[size_t(b)]; });
  if (opt.max_features > 0 && int64_t(order.size()) > opt.max_features) order.resize(size_t(opt.max_features));

  rep.has_heads = sae.n_heads > 0;
  if (rep.has_heads) {
    std::vector<bool> live(size_t(sae.d_sae));
    for (int64_t i = 0; i < sae.d_sae; ++i) live[size_t(i)] = count[size_t(i)] > 0;
    rep.heads = attribute_heads(sae, 0.8, live);
  }
  const std::vector<float> params = model.params_to_host();
  for (int64_t i : order) {
    FeaturePage pg;
    pg.feature = i;
    pg.active_tokens = count[size_t(i)];
    pg.density = double(count[size_t(i)]) / double(rep.tokens);
    pg.max_activation = max_act[size_t(i)];
    pg.contexts = std::move(top[size_t(i)].items);
    std::stable_sort(pg.contexts.begin(), pg.contexts.end(),
                     [](const FeatureContext& a, const FeatureContext& b) { return a.activation > b.activation; });
    const std::vector<float> logit = feature_logit_effect(sae, model, params, i);
    if (!logit.empty()) {
      rep.has_logits = true;
      std::vector<int32_t> ids(logit.size());
      std::iota(ids.begin(), ids.end(), 0);
      std::stable_sort(ids.begin(), ids.end(),
                       [&](int32_t a, int32_t b) { return logit[size_t(a)] > logit[size_t(b)]; });
      const int64_t n = std::min<int64_t>(opt.logits, int64_t(ids.size()));
      for (int64_t j = 0; j < n; ++j) pg.promoted.push_back({ids[size_t(j)], logit[size_t(ids[size_t(j)])]});
      for (int64_t j = 0; j < n; ++j) {
        const int32_t id = ids[ids.size() - 1 - size_t(j)];
        pg.suppressed.push_back({id, logit[size_t(id)]});
      }
    }
    if (rep.has_heads)
      pg.head_share.assign(rep.heads.share.begin() + i * rep.heads.n_heads,
                           rep.heads.share.begin() + (i + 1) * rep.heads.n_heads);
    rep.pages.push_back(std::move(pg));
  }
  return rep;
}

}  // namespace headlab
