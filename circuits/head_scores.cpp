#include "circuits/head_scores.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "circuits/eigen.h"
#include "circuits/interventions.h"
#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/tokenizer.h"
#include "model/hooks.h"
#include "model/params.h"

namespace headlab {
namespace {
// dst[offset + i] += weight * src[i]: pools per-head scores of one layer into [L * H] sums.
void add_into(std::vector<double>& dst, int64_t offset, const std::vector<double>& src, double weight) {
  for (size_t i = 0; i < src.size(); ++i) dst[size_t(offset) + i] += src[i] * weight;
}
}  // namespace

// ---- TransformerLens' head detector ---------------------------------------------------------------

const char* to_string(HeadPattern kind) {
  switch (kind) {
    case HeadPattern::previous_token:
      return "previous_token";
    case HeadPattern::duplicate_token:
      return "duplicate_token";
    case HeadPattern::induction:
      return "induction";
  }
  return "?";
}

std::vector<float> detection_pattern(HeadPattern kind, const int32_t* tokens, int64_t T) {
  std::vector<float> P(size_t(T * T), 0.0f);  // [T, T]
  for (int64_t q = 0; q < T; ++q) {
    switch (kind) {
      case HeadPattern::previous_token:
        if (q >= 1) P[size_t(q * T + q - 1)] = 1;
        break;
      case HeadPattern::duplicate_token:
        for (int64_t k = 0; k < q; ++k) P[size_t(q * T + k)] = tokens[k] == tokens[q] ? 1.0f : 0.0f;
        break;
      case HeadPattern::induction:  // duplicate[q, k - 1], for 1 <= k <= q
        for (int64_t k = 1; k <= q; ++k) P[size_t(q * T + k)] = tokens[k - 1] == tokens[q] ? 1.0f : 0.0f;
        break;
    }
  }
  return P;
}

double attention_similarity(const float* A, const float* P, int64_t T, const DetectOptions& opt) {
  auto excluded = [&](int64_t q, int64_t k) {
    return (opt.exclude_bos && k == 0) || (opt.exclude_current_token && k == q);
  };
  if (opt.measure == ErrorMeasure::mul) {
    double matched = 0, total = 0;
    for (int64_t q = 0; q < T; ++q)
      for (int64_t k = 0; k < T; ++k) {
        if (excluded(q, k)) continue;
        const double a = A[q * T + k];
        total += a;
        matched += a * P[q * T + k];
      }
    return total != 0 ? matched / total : 0.0;
  }
  double abs_diff = 0;
  for (int64_t q = 0; q < T; ++q)
    for (int64_t k = 0; k < T; ++k)
      if (!excluded(q, k)) abs_diff += std::fabs(double(A[q * T + k]) - P[q * T + k]);
  // TL: 1 - round(mean(|A - P|) * size, 3), the mean over T*T cells.
  return 1.0 - std::round(abs_diff / double(T) * 1000.0) / 1000.0;
}

std::vector<double> detect_head_scores(const float* pattern, const int32_t* tokens, int64_t B, int64_t H, int64_t T,
                                       HeadPattern kind, const DetectOptions& opt) {
  std::vector<double> out(size_t(H), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<float> P = detection_pattern(kind, tokens + b * T, T);
    for (int64_t h = 0; h < H; ++h)
      out[size_t(h)] += attention_similarity(pattern + (b * H + h) * T * T, P.data(), T, opt);
  }
  for (double& x : out) x /= double(B);
  return out;
}

// ---- induction stripe, first token, ICL ---------------------------------------------------------------

std::vector<double> induction_stripe_scores(const float* pattern, int64_t B, int64_t H, int64_t T, int64_t n) {
  if (n < 1 || n >= T)
    throw InternalError("induction_stripe_scores: repeat length " + std::to_string(n) + " outside [1, " +
                        std::to_string(T) + ")");
  std::vector<double> out(size_t(H), 0.0);
  const int64_t entries = T - (n - 1);  // (q, q - n + 1) for q = n - 1 .. T - 1
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const float* A = pattern + (b * H + h) * T * T;
      double s = 0;
      for (int64_t q = n - 1; q < T; ++q) s += A[q * T + q - n + 1];
      out[size_t(h)] += s / double(entries);
    }
  for (double& x : out) x /= double(B);
  return out;
}

std::vector<double> first_token_scores(const float* pattern, int64_t B, int64_t H, int64_t T) {
  if (T < 1) throw InternalError("first_token_scores: needs at least 1 position");
  std::vector<double> out(size_t(H), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const float* A = pattern + (b * H + h) * T * T;
      double s = 0;
      for (int64_t q = 0; q < T; ++q) s += A[q * T];
      out[size_t(h)] += s / double(T);
    }
  for (double& x : out) x /= double(B);
  return out;
}

double icl_score(const float* losses, int64_t B, int64_t T, int64_t early, int64_t late) {
  if (early < 0 || early >= T || late < 0 || late >= T)
    throw InternalError("icl_score: positions " + std::to_string(early) + ", " + std::to_string(late) +
                        " outside [0, " + std::to_string(T) + ")");
  double diff = 0;
  for (int64_t b = 0; b < B; ++b) diff += double(losses[b * T + late]) - losses[b * T + early];
  return diff / double(B);
}

// ---- retrieval ----------------------------------------------------------------------------------------

std::vector<int32_t> top_keys(const float* pattern, int64_t B, int64_t H, int64_t T) {
  std::vector<int32_t> out(size_t(B * H * T));  // [B, H, T]
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t q = 0; q < T; ++q) {
      const float* row = pattern + (bh * T + q) * T;
      int64_t best = 0;
      for (int64_t k = 1; k <= q; ++k)
        if (row[k] > row[best]) best = k;
      out[size_t(bh * T + q)] = int32_t(best);
    }
  return out;
}

std::vector<double> retrieval_score_sums(const int32_t* top_key, const RetrievalInput& in, int64_t B, int64_t H,
                                         int64_t T, int64_t& n_counted) {
  std::vector<double> sums(size_t(H), 0.0);
  n_counted = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* tok = in.tokens + b * T;
    const uint8_t* needle = in.needle + b * T;
    std::set<int32_t> needle_tokens;  // k
    for (int64_t p = 0; p < T; ++p)
      if (needle[p]) needle_tokens.insert(tok[p]);
    if (needle_tokens.empty()) continue;
    ++n_counted;
    for (int64_t h = 0; h < H; ++h) {
      std::set<int32_t> pasted;  // g_h
      for (int64_t q = 0; q < T; ++q) {
        if (!in.decode[b * T + q]) continue;
        const int32_t w = in.predicted[b * T + q];
        if (!needle_tokens.count(w)) continue;
        const int32_t j = top_key[(b * H + h) * T + q];
        if (needle[j] && tok[j] == w) pasted.insert(w);
      }
      sums[size_t(h)] += double(pasted.size()) / double(needle_tokens.size());
    }
  }
  return sums;
}

std::vector<double> retrieval_scores_on_rows(Transformer& model, const int32_t* tokens, int64_t n, int64_t T,
                                             const int32_t* answer, const int32_t* answer_pos, int batch_size) {
  const ModelConfig& c = model.config();
  const int64_t L = c.n_layers, H = c.n_heads, V = c.d_vocab;
  std::vector<double> sums(size_t(L * H), 0.0);
  int64_t counted_total = 0;
  for (int64_t first = 0; first < n; first += batch_size) {
    const int64_t B = std::min<int64_t>(batch_size, n - first);
    const int32_t* rows = tokens + first * T;                       // [B, T]
    std::vector<std::vector<int32_t>> top(static_cast<size_t>(L));  // per layer [B, H, T]
    std::vector<float> pattern(size_t(B * H * T * T));
    HookSet hooks;
    for (int l = 0; l < L; ++l)
      hooks.add_forward({l, HookSite::attn_pattern}, [&, l](HookPoint, ActivationView& v, Backend& be) {
        be.copy_to_host(pattern.data(), v.data, pattern.size() * sizeof(float));
        top[size_t(l)] = top_keys(pattern.data(), B, H, T);
      });
    model.forward(rows, int(B), int(T), &hooks);
    const std::vector<float> logits = model.logits_to_host();  // [B, T, V]
    std::vector<int32_t> predicted(size_t(B * T), -1);
    std::vector<uint8_t> needle(size_t(B * T), 0), decode(size_t(B * T), 0);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t q = answer_pos[first + b];
      if (q < 0 || q >= T)
        throw InputError("answer_pos", "row " + std::to_string(first + b) + ": position outside the row");
      const float* row = logits.data() + (b * T + q) * V;
      predicted[size_t(b * T + q)] = int32_t(std::max_element(row, row + V) - row);
      decode[size_t(b * T + q)] = 1;
      for (int64_t p = 0; p < q; ++p) needle[size_t(b * T + p)] = rows[b * T + p] == answer[first + b];
    }
    const RetrievalInput in{rows, predicted.data(), needle.data(), decode.data()};
    for (int l = 0; l < L; ++l) {
      int64_t counted = 0;
      add_into(sums, l * H, retrieval_score_sums(top[size_t(l)].data(), in, B, H, T, counted), 1.0);
      if (l == 0) counted_total += counted;
    }
  }
  for (double& x : sums) x = counted_total > 0 ? x / double(counted_total) : 0.0;
  return sums;
}

// ---- copying ------------------------------------------------------------------------------------------

namespace {
// One layer's factors side by side: [D, H*dh] from the per-head [D, dh] blocks of `all`.
std::vector<float> layer_columns(const std::vector<float>& all, const ModelConfig& c, int l) {
  const int64_t D = c.d_model, dh = c.d_head, Hd = int64_t(c.n_heads) * dh;
  std::vector<float> out(size_t(D * Hd));
  for (int64_t h = 0; h < c.n_heads; ++h) {
    const float* src = all.data() + (int64_t(l) * c.n_heads + h) * D * dh;
    for (int64_t d = 0; d < D; ++d) std::copy(src + d * dh, src + (d + 1) * dh, out.data() + d * Hd + h * dh);
  }
  return out;
}
}  // namespace

std::vector<double> copying_scores(const HeadCircuits& w, Backend& cpu) {
  if (cpu.device() != Device::cpu) throw InternalError("copying_scores: needs a CPU backend (host memory)");
  const ModelConfig& c = w.cfg;
  const int64_t H = c.n_heads, D = c.d_model, dh = c.d_head, V = c.d_vocab, Hd = H * dh;
  std::vector<double> out(size_t(c.n_layers * H));
  std::vector<float> ev(size_t(V * Hd)), uev(size_t(D * Hd)), m(size_t(Hd * Hd));
  for (int l = 0; l < c.n_layers; ++l) {
    const std::vector<float> wv = layer_columns(w.W_V, c, l);  // [D, H*dh]
    // W_E W_V [V, H*dh], then W_U (W_E W_V) [D, H*dh], then W_O (...) [H*dh, H*dh]: the diagonal
    // blocks are each head's W_O W_U W_E W_V.
    cpu.matmul(ev.data(), w.W_E.data(), wv.data(), nullptr, V, Hd, D, Transpose::no, Transpose::no,
               Accumulate::overwrite);
    cpu.matmul(uev.data(), w.W_U.data(), ev.data(), nullptr, D, Hd, V, Transpose::no, Transpose::no,
               Accumulate::overwrite);
    cpu.matmul(m.data(), w.o(l, 0), uev.data(), nullptr, Hd, Hd, D, Transpose::no, Transpose::no,
               Accumulate::overwrite);
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> block(size_t(dh * dh));
      for (int64_t i = 0; i < dh; ++i)
        for (int64_t j = 0; j < dh; ++j) block[size_t(i * dh + j)] = m[size_t((h * dh + i) * Hd + h * dh + j)];
      out[size_t(l * H + h)] = eigenvalue_positivity(eigenvalues(std::move(block), dh));
    }
  }
  return out;
}

// ---- successor ----------------------------------------------------------------------------------------

namespace {

// Each token's effective embedding MLP0(W_E t), normalised as ln1 normalises it before W_V (centred
// and scaled, no weight or bias: TransformerLens folds those into W_V), computed by the model's own
// forward: every token a sequence of one, with the positional embedding and block 0's attention
// output zeroed, so that block 0 leaves W_E t plus its MLP's output on it (attention-only models:
// W_E t); that residual then goes to the final norm (forward_from_layer), whose hook_normalized is
// the normalisation. -> [tokens, D].
std::vector<std::vector<double>> normalised_effective_embeddings(const ModelConfig& c, const std::vector<float>& params,
                                                                 const std::vector<int32_t>& tokens) {
  auto be = make_cpu_backend(omp_get_max_threads());  // the caller's thread count stays as it is
  Transformer model(c, *be);
  model.params_from_host(params);
  HookSet hooks;
  const HookFn zero = [](HookPoint, ActivationView& v, Backend&) { std::fill(v.data, v.data + v.numel(), 0.0f); };
  if (c.positional_embedding_type == PositionalEmbedding::standard) hooks.add_forward({-1, HookSite::pos_embed}, zero);
  hooks.add_forward({0, HookSite::attn_out}, zero);
  const HookPoint block0 = {0, HookSite::resid_post}, normalized = {-1, HookSite::lnf_normalized};
  hooks.cache(block0);
  const int n = int(tokens.size());
  model.forward(tokens.data(), n, 1, &hooks);
  const HostTensor* x = &hooks.cached().at(block0);
  HookSet norm_hooks;
  if (c.normalization_type != Normalization::none) {
    norm_hooks.cache(normalized);
    model.forward_from_layer(c.n_layers, x->data.data(), &norm_hooks);
    x = &norm_hooks.cached().at(normalized);
  }
  const int64_t D = c.d_model;
  std::vector<std::vector<double>> out(tokens.size());
  for (int i = 0; i < n; ++i) out[size_t(i)].assign(x->data.begin() + i * D, x->data.begin() + (i + 1) * D);
  return out;
}

}  // namespace

std::vector<double> successor_scores(const ModelConfig& c, const std::vector<float>& params,
                                     const SuccessionPairs& pairs) {
  const ParamTable table(c);
  if (int64_t(params.size()) != table.arena_size()) throw InternalError("successor_scores: wrong parameter count");
  const HeadCircuits w = head_circuits(c, params, WeightProcessing::transformer_lens);
  const int64_t D = c.d_model, dh = c.d_head, V = c.d_vocab, H = c.n_heads;
  if (pairs.token.size() != pairs.successor.size() || pairs.token.empty())
    throw InputError("successor pairs", "expected as many successors as tokens, and at least one pair");
  const std::set<int32_t> candidates(pairs.candidates.begin(), pairs.candidates.end());
  for (int32_t t : pairs.candidates)
    if (t < 0 || t >= V) throw InputError("successor pairs", "token " + std::to_string(t) + " outside [0, d_vocab)");
  for (size_t i = 0; i < pairs.token.size(); ++i)
    if (!candidates.count(pairs.token[i]) || !candidates.count(pairs.successor[i]))
      throw InputError("successor pairs", "pair " + std::to_string(i) + " has a token that is not a candidate");

  std::vector<double> out(size_t(c.n_layers * H), 0.0);
  if (c.n_layers == 0) return out;
  // Normalised effective embeddings of the tokens, computed once.
  const std::vector<std::vector<double>> x = normalised_effective_embeddings(c, params, pairs.token);

  std::vector<double> v(static_cast<size_t>(dh)), o(static_cast<size_t>(D));
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = 0; h < H; ++h) {
      const float* WV = w.v(l, h);  // [D, dh]
      const float* WO = w.o(l, h);  // [dh, D]
      int64_t hits = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        std::fill(v.begin(), v.end(), 0.0);
        for (int64_t d = 0; d < D; ++d)
          for (int64_t e = 0; e < dh; ++e) v[size_t(e)] += x[i][size_t(d)] * WV[d * dh + e];
        std::fill(o.begin(), o.end(), 0.0);
        for (int64_t e = 0; e < dh; ++e)
          for (int64_t d = 0; d < D; ++d) o[size_t(d)] += v[size_t(e)] * WO[e * D + d];
        int32_t best = -1;
        double best_logit = -INFINITY;
        for (int32_t cand : candidates) {  // ascending ids: ties go to the smallest
          double logit = 0;
          for (int64_t d = 0; d < D; ++d) logit += o[size_t(d)] * w.W_U[size_t(d * V + cand)];
          if (logit > best_logit) best_logit = logit, best = cand;
        }
        hits += best == pairs.successor[i];
      }
      out[size_t(l * H + h)] = double(hits) / double(x.size());
    }
  return out;
}

// ---- the repeat probe ---------------------------------------------------------------------------------

RepeatProbe make_repeat_probe(int64_t n_seq, int64_t half_len, int32_t token_lo, int32_t token_hi, int32_t bos,
                              uint64_t seed) {
  if (n_seq < 1) throw InputError("--n-seq", "expected at least 1 probe sequence, got " + std::to_string(n_seq));
  if (half_len < 2)
    throw InputError("--seq-len", "expected a repeated length of at least 2, got " + std::to_string(half_len));
  if (token_hi - token_lo < 2)
    throw InputError("probe tokens", "the model's vocabulary leaves fewer than 2 ordinary tokens to draw from");
  RepeatProbe p;
  p.n_seq = n_seq;
  p.half_len = half_len;
  p.bos = bos;
  const int64_t T = p.seq_len();
  p.tokens.resize(size_t(n_seq * T));
  SeededRng rng(seed);
  for (int64_t s = 0; s < n_seq; ++s) {
    int32_t* row = p.tokens.data() + s * T;
    row[0] = bos;
    for (int64_t i = 1; i <= half_len; ++i)
      row[i] = row[i + half_len] = token_lo + int32_t(rng.below(uint64_t(token_hi - token_lo)));
  }
  return p;
}

ProbeTokens probe_tokens(const ModelConfig& cfg, const std::string& tokenizer_json, const std::string& what) {
  ProbeTokens t;
  t.hi = cfg.d_vocab;
  if (tokenizer_json.empty()) return t;
  const std::unique_ptr<Tokenizer> tok = tokenizer_from_json(tokenizer_json, what);
  t.bos = tok->special().bos;
  t.lo = 0;
  t.hi = std::min(cfg.d_vocab, tok->ordinary_vocab_size());
  if (t.bos >= cfg.d_vocab) throw InputError(what, "its BOS id is outside the model's vocabulary");
  return t;
}

namespace {

// Per-head sums over the probe, pooled over its batches.
struct ProbeSums {
  std::vector<double> prev, dup, ind, stripe, first, retrieval;
  int64_t retrieval_count = 0;
  double icl = 0, loss_first = 0, loss_rep = 0, loss_all = 0;
  int64_t n_first = 0, n_rep = 0, n_all = 0;
};

}  // namespace

const char* probe_ablation_name(ProbeAblation a) {
  switch (a) {
    case ProbeAblation::mean:
      return "mean";
    case ProbeAblation::first_token:
      return "first_token";
    case ProbeAblation::zero:
      break;
  }
  return "zero";
}

ProbeScores score_repeat_probe(Transformer& model, const RepeatProbe& probe, const ProbeOptions& options) {
  const ModelConfig& c = model.config();
  const int64_t L = c.n_layers, H = c.n_heads, V = c.d_vocab, n = probe.half_len;
  // Rows of R = 1 + 2n tokens; the model reads T = min(R, n_ctx) of them, so a model trained on
  // (BOS, r, r) rows with n_ctx = 2n (inputs without the last token) is probed at its own length.
  const int64_t R = probe.seq_len(), T = std::min<int64_t>(R, c.n_ctx);
  if (R > c.n_ctx + 1)
    throw InputError("--seq-len", "probe sequences of 1 + 2 * " + std::to_string(n) + " tokens need n_ctx >= " +
                                      std::to_string(R - 1) + "; the model has n_ctx = " + std::to_string(c.n_ctx) +
                                      " (use --seq-len <= " + std::to_string(c.n_ctx / 2) + ")");
  if (options.batch_size < 1) throw InputError("--batch-size", "expected a positive count");
  ProbeScores out;
  out.n_layers = int(L);
  out.n_heads = int(H);
  out.icl_early = options.icl_early >= 0 ? options.icl_early : std::max<int64_t>(1, n / 2);
  out.icl_late = options.icl_late >= 0 ? options.icl_late : out.icl_early + n;
  for (auto [name, pos] : {std::pair<const char*, int64_t>{"--icl-early", out.icl_early}, {"--icl-late", out.icl_late}})
    if (pos > 2 * n - 1)
      throw InputError(std::string(name) + " " + std::to_string(pos), "has no next token in probe sequences of " +
                                                                          std::to_string(R) + " tokens (expected 0.." +
                                                                          std::to_string(2 * n - 1) + ")");
  if (out.icl_early >= out.icl_late)
    throw InputError("--icl-early " + std::to_string(out.icl_early),
                     "expected a position before --icl-late (" + std::to_string(out.icl_late) +
                         "): the ICL score is the loss at the late position minus the loss at the early one");

  ProbeSums s;
  for (auto* v : {&s.prev, &s.dup, &s.ind, &s.stripe, &s.first, &s.retrieval}) v->assign(size_t(L * H), 0.0);
  // Needle: r_2..r_n of the first half (positions 2..n); decoding: the second half's r_1..r_{n-1}
  // (positions n+1..2n-1), whose next tokens are those needle tokens again.
  std::vector<uint8_t> needle_row(size_t(T), 0), decode_row(size_t(T), 0);
  for (int64_t p = 2; p <= n; ++p) needle_row[size_t(p)] = 1;
  for (int64_t p = n + 1; p <= 2 * n - 1; ++p) decode_row[size_t(p)] = 1;

  // Ablated heads, grouped by layer; for mean ablation the mean of hook_z over every probe sequence.
  std::map<int, std::vector<int>> ablated;
  for (const HeadRef& h : options.ablate) {
    if (h.layer < 0 || h.layer >= L || h.head < 0 || h.head >= H)
      throw InputError("--ablate", head_label(h) + ": the model has layers 0.." + std::to_string(L - 1) +
                                       " and heads 0.." + std::to_string(H - 1));
    ablated[h.layer].push_back(h.head);
  }
  ActivationCache means;
  if (options.ablation == ProbeAblation::mean && !ablated.empty()) {
    std::vector<int32_t> all(size_t(probe.n_seq * T));
    for (int64_t b = 0; b < probe.n_seq; ++b) std::copy_n(probe.tokens.data() + b * R, T, all.begin() + b * T);
    std::vector<HookPoint> points;
    for (const auto& [layer, heads] : ablated) points.push_back({layer, HookSite::attn_z});
    means = mean_activations(model, points, all.data(), probe.n_seq, int(T), options.batch_size);
  }

  for (int64_t first = 0; first < probe.n_seq; first += options.batch_size) {
    const int64_t B = std::min<int64_t>(options.batch_size, probe.n_seq - first);
    std::vector<int32_t> input(size_t(B * T)), targets(size_t(B * T), -1);  // [B, T]
    for (int64_t b = 0; b < B; ++b) {
      const int32_t* row = probe.tokens.data() + (first + b) * R;
      for (int64_t q = 0; q < T; ++q) {
        input[size_t(b * T + q)] = row[q];
        if (q + 1 < R) targets[size_t(b * T + q)] = row[q + 1];
      }
    }
    const int32_t* tokens = input.data();

    std::vector<std::vector<int32_t>> top(static_cast<size_t>(L));  // per layer [B, H, T]
    std::vector<float> pattern(size_t(B * H * T * T));              // [B, H, T, T], one layer at a time
    HookSet hooks;
    for (int l = 0; l < L; ++l)
      hooks.add_forward({l, HookSite::attn_pattern}, [&, l](HookPoint, ActivationView& v, Backend& be) {
        be.copy_to_host(pattern.data(), v.data, pattern.size() * sizeof(float));
        const float* A = pattern.data();
        const double wgt = double(B);
        add_into(s.prev, l * H, detect_head_scores(A, tokens, B, H, T, HeadPattern::previous_token, options.detect),
                 wgt);
        add_into(s.dup, l * H, detect_head_scores(A, tokens, B, H, T, HeadPattern::duplicate_token, options.detect),
                 wgt);
        add_into(s.ind, l * H, detect_head_scores(A, tokens, B, H, T, HeadPattern::induction, options.detect), wgt);
        add_into(s.stripe, l * H, induction_stripe_scores(A, B, H, T, n), wgt);
        add_into(s.first, l * H, first_token_scores(A, B, H, T), wgt);
        top[size_t(l)] = top_keys(A, B, H, T);
      });
    // Added after the scoring hooks: a pattern is scored as the head computes it, then changed.
    for (const auto& [layer, heads] : ablated) {
      const HookPoint z{layer, HookSite::attn_z};
      const Selection sel{{}, heads};
      if (options.ablation == ProbeAblation::first_token)
        hooks.add_forward({layer, HookSite::attn_pattern}, remove_first_token_attention(sel));
      else
        hooks.add_forward(
            z, options.ablation == ProbeAblation::mean ? mean_ablation(means.shared(z), sel) : zero_ablation(sel));
    }
    model.forward_loss(tokens, targets.data(), int(B), int(T), &hooks);
    const std::vector<float> losses = model.losses_to_host();  // [B, T]
    const std::vector<float> logits = model.logits_to_host();  // [B, T, V]

    s.icl += icl_score(losses.data(), B, T, out.icl_early, out.icl_late) * double(B);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t q = 0; q <= 2 * n - 1; ++q) {
        const double x = losses[size_t(b * T + q)];
        s.loss_all += x, ++s.n_all;
        if (q <= n - 1) s.loss_first += x, ++s.n_first;
        if (q >= n + 1) s.loss_rep += x, ++s.n_rep;
      }

    std::vector<int32_t> predicted(size_t(B * T));  // [B, T] the model's top next token
    for (int64_t i = 0; i < B * T; ++i) {
      const float* row = logits.data() + i * V;
      predicted[size_t(i)] = int32_t(std::max_element(row, row + V) - row);
    }
    std::vector<uint8_t> needle(size_t(B * T)), decode(size_t(B * T));
    for (int64_t b = 0; b < B; ++b) {
      std::copy(needle_row.begin(), needle_row.end(), needle.begin() + b * T);
      std::copy(decode_row.begin(), decode_row.end(), decode.begin() + b * T);
    }
    const RetrievalInput rin{tokens, predicted.data(), needle.data(), decode.data()};
    for (int l = 0; l < L; ++l) {
      int64_t counted = 0;
      add_into(s.retrieval, l * H, retrieval_score_sums(top[size_t(l)].data(), rin, B, H, T, counted), 1.0);
      if (l == 0) s.retrieval_count += counted;
    }
  }

  const double N = double(probe.n_seq);
  auto mean = [&](const std::vector<double>& sum, double count) {
    std::vector<double> m(sum.size());
    for (size_t i = 0; i < sum.size(); ++i) m[i] = count > 0 ? sum[i] / count : 0.0;
    return m;
  };
  out.previous_token = mean(s.prev, N);
  out.duplicate_token = mean(s.dup, N);
  out.induction = mean(s.ind, N);
  out.induction_stripe = mean(s.stripe, N);
  out.first_token = mean(s.first, N);
  out.retrieval_repeat = mean(s.retrieval, double(s.retrieval_count));
  out.icl_score = s.icl / N;
  out.loss_first_half = s.loss_first / double(std::max<int64_t>(1, s.n_first));
  out.loss_repeated_half = s.loss_rep / double(std::max<int64_t>(1, s.n_rep));
  out.loss_all = s.loss_all / double(std::max<int64_t>(1, s.n_all));
  return out;
}

}  // namespace headlab
