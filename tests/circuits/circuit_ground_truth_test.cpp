// Circuits whose edges are known: a hand-built induction model (the circuit by construction) and
// the small induction model the tests train (tests/circuits/toy_induction_model.h), scored by
// EAP-IG on repeated random tokens against rows whose first half is replaced.
#include <gtest/gtest.h>

#include <random>

#include "circuits/acdc.h"
#include "circuits/circuit_eval.h"
#include "circuits/edge_attribution.h"
#include "model/params.h"
#include "tests/circuits/circuits_test_util.h"
#include "tests/circuits/toy_induction_model.h"

namespace headlab {
namespace {

// Rows [r_1..r_n, r_1..r_m] with the answer r_{m+1} at the last position; the corrupted twin's
// first half is other random tokens (nothing to copy); the wrong answer a token in neither.
TokenDataset repeat_pairs(int64_t rows, int n, int m, int vocab, int first_token, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = vocab;
  ds.n_seq = rows;
  ds.seq_len = n + m;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int32_t> pool;
    for (int t = first_token; t < vocab; ++t) pool.push_back(t);
    std::shuffle(pool.begin(), pool.end(), rng);
    std::vector<int32_t> a(pool.begin(), pool.begin() + n), b(pool.begin() + n, pool.begin() + 2 * n);
    for (int i = 0; i < n; ++i) ds.tokens.push_back(a[size_t(i)]);
    for (int i = 0; i < m; ++i) ds.tokens.push_back(a[size_t(i)]);
    for (int i = 0; i < n; ++i) ds.corrupted.push_back(b[size_t(i)]);
    for (int i = 0; i < m; ++i) ds.corrupted.push_back(a[size_t(i)]);
    ds.answer.push_back(a[size_t(m)]);
    ds.wrong_answer.push_back(pool[size_t(2 * n)]);
    ds.answer_pos.push_back(int32_t(n + m - 1));
  }
  return ds;
}

// A 2-layer attention-only model without norms whose induction circuit is written by hand. The
// residual has four blocks of one-hot coordinates: token [0, V), position [V, V + C), previous
// token [V + C, 2V + C) and output [2V + C, 3V + C). L0H0 attends from p to p - 1 (query: position
// p, key: position j + 1) and writes the attended token into "previous token"; L1H0 attends where
// the previous token equals its own token and writes the attended token into "output", which W_U
// reads. L0H1 and L1H1 are small random distractors. The circuit, by construction:
//   input -> L0H0:q, input -> L0H0:k, input -> L0H0:v, L0H0 -> L1H0:k, input -> L1H0:q,
//   input -> L1H0:v, L1H0 -> logits (the last four carry the task's clean/corrupted difference).
constexpr int kHandVocab = 16, kHandCtx = 16;
ModelConfig hand_config() {
  ModelConfig c;
  c.n_layers = 2;
  c.n_heads = 2;
  c.d_model = 3 * kHandVocab + kHandCtx;
  c.d_head = 16;
  c.d_vocab = kHandVocab;
  c.n_ctx = kHandCtx;
  c.attn_only = true;
  c.normalization_type = Normalization::none;
  c.validate();
  return c;
}

std::vector<float> hand_params(const ModelConfig& c, const ParamTable& table) {
  std::vector<float> p(size_t(table.arena_size()), 0.0f);
  const int V = kHandVocab, C = kHandCtx, D = c.d_model, dh = c.d_head;
  const int tok = 0, pos = V, prev = V + C, out = 2 * V + C;
  auto at = [&](const std::string& name, std::vector<int64_t> idx) -> float& {
    const ParamInfo* info = table.find(name);
    int64_t flat = 0;
    for (size_t i = 0; i < idx.size(); ++i) flat = flat * info->shape[i] + idx[i];
    return p[size_t(info->arena_offset(flat))];
  };
  for (int t = 0; t < V; ++t) at("embed.W_E", {t, tok + t}) = 1.0f;
  for (int q = 0; q < C; ++q) at("pos_embed.W_pos", {q, pos + q}) = 1.0f;
  const float sharp = 30.0f;
  // L0H0: query position p -> e_p, key position j -> e_{j+1}; value token t -> e_t -> prev_t.
  for (int q = 0; q < C; ++q) at("blocks.0.attn.W_Q", {0, pos + q, q}) = sharp;
  for (int j = 0; j + 1 < C; ++j) at("blocks.0.attn.W_K", {0, pos + j, j + 1}) = 1.0f;
  for (int t = 0; t < V; ++t) {
    at("blocks.0.attn.W_V", {0, tok + t, t}) = 1.0f;
    at("blocks.0.attn.W_O", {0, t, prev + t}) = 1.0f;
  }
  // L1H0: query token t -> e_t, key previous token t -> e_t; value token t -> output t.
  for (int t = 0; t < V; ++t) {
    at("blocks.1.attn.W_Q", {0, tok + t, t}) = sharp;
    at("blocks.1.attn.W_K", {0, prev + t, t}) = 1.0f;
    at("blocks.1.attn.W_V", {0, tok + t, t}) = 1.0f;
    at("blocks.1.attn.W_O", {0, t, out + t}) = 1.0f;
    at("unembed.W_U", {out + t, t}) = 4.0f;
  }
  std::mt19937_64 rng(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (int l = 0; l < 2; ++l)
    for (const char* w : {"W_Q", "W_K", "W_V"})
      for (int d = 0; d < D; ++d)
        for (int e = 0; e < dh; ++e) at("blocks." + std::to_string(l) + ".attn." + w, {1, d, e}) = 0.3f * n(rng);
  for (int l = 0; l < 2; ++l)
    for (int e = 0; e < dh; ++e)
      for (int d = 0; d < D; ++d) at("blocks." + std::to_string(l) + ".attn.W_O", {1, e, d}) = 0.05f * n(rng);
  return p;
}

TEST(CircuitsGroundTruthTest, EapIgFindsTheHandBuiltInductionCircuit) {
  const ModelConfig c = hand_config();
  auto be = make_cpu_backend(1);
  Transformer model(c, *be);
  model.params_from_host(hand_params(c, model.table()));
  const TokenDataset ds = repeat_pairs(12, 6, 5, c.d_vocab, 0, 3);
  const TaskData task = testing::task_of(ds);
  EdgeAttributionOptions opt;
  opt.method = EdgeMethod::ig_inputs;
  const EdgeScores s = attribute_edges(model, task, opt);
  ASSERT_GT(s.clean_metric - s.corrupted_metric, 1.0) << "the hand-built circuit does not do induction";
  const EdgeGraph& g = s.graph;
  // The corrupted rows differ from the clean ones only in the tokens of the first half, so the
  // edges that carry the difference are those that move first-half token identity: into L0H0's
  // values, from L0H0 into L1H0's keys, into L1H0's values, from L1H0 to the logits. The circuit's
  // other edges read positions (L0H0's q and k) or the current token (L1H0's q), the same in both
  // rows: by construction they carry nothing here, and EAP-IG gives them exactly 0.
  EdgeMatrix truth(size_t(g.n_cells()), 0.0f);
  auto edge = [&](int src, int dst) { truth[size_t(g.cell(src, dst))] = 1.0f; };
  const int in = g.src_input(), prev = g.src_head(0, 0), ind = g.src_head(1, 0);
  edge(in, g.dst_head(0, QKV::v, 0));
  edge(prev, g.dst_head(1, QKV::k, 0));
  edge(in, g.dst_head(1, QKV::v, 0));
  edge(ind, g.dst_logits());
  for (int d : {g.dst_head(0, QKV::q, 0), g.dst_head(0, QKV::k, 0), g.dst_head(1, QKV::q, 0)})
    EXPECT_EQ(s.scores[size_t(g.cell(in, d))], 0.0f) << g.edge_name(in, d);
  const double auc = edge_roc_auc(g, s.scores, truth, Ranking::absolute);
  std::printf("hand-built induction circuit: EAP-IG ROC AUC %.4f over %lld edges\n", auc, (long long)g.n_edges());
  EXPECT_GT(auc, 0.95);
  // The four rank first.
  const EdgeMatrix top = top_edges(g, s.scores, 4, Ranking::absolute);
  EXPECT_EQ(top[size_t(g.cell(ind, g.dst_logits()))], 1.0f);
  EXPECT_EQ(top[size_t(g.cell(prev, g.dst_head(1, QKV::k, 0)))], 1.0f);
}

TEST(CircuitsGroundTruthTest, TrainedInductionModelCircuitHasPreviousTokenToInductionKAndInductionToLogits) {
  const ModelConfig c = testing::toy_induction_config();
  float loss = 0;
  const std::vector<float> params = testing::train_toy_induction_model(c, 800, 1, &loss);
  auto be = make_cpu_backend(1);
  Transformer model(c, *be);
  model.params_from_host(params);
  // Rows start with token 0, as the training rows start with BOS.
  TokenDataset ds = repeat_pairs(16, 8, 5, c.d_vocab, 1, 7);
  TokenDataset with_bos = ds;
  with_bos.seq_len = ds.seq_len + 1;
  with_bos.tokens.clear();
  with_bos.corrupted.clear();
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    with_bos.tokens.push_back(0);
    with_bos.corrupted.push_back(0);
    for (int64_t i = 0; i < ds.seq_len; ++i) {
      with_bos.tokens.push_back(ds.tokens[size_t(r * ds.seq_len + i)]);
      with_bos.corrupted.push_back(ds.corrupted[size_t(r * ds.seq_len + i)]);
    }
    with_bos.answer_pos[size_t(r)] += 1;
  }
  const TaskData task = testing::task_of(with_bos);
  // Which heads are which, from their patterns on the clean rows: the layer-0 head that attends most
  // to p - 1, the layer-1 head that attends most to the token after the earlier copy.
  HookSet hooks;
  hooks.cache({0, HookSite::attn_pattern});
  hooks.cache({1, HookSite::attn_pattern});
  const int B = int(task.n), T = task.T, H = c.n_heads;
  model.forward(task.clean.data(), B, T, &hooks);
  const int n = 8;
  // Each head's mean attention from the second half to a target position.
  auto attention_to = [&](int layer, auto target) {
    const auto& pat = hooks.cached("blocks." + std::to_string(layer) + ".attn.hook_pattern").data;
    std::vector<double> out(size_t(H), 0.0);
    for (int h = 0; h < H; ++h)
      for (int b = 0; b < B; ++b)
        for (int q = n + 1; q < T; ++q)
          out[size_t(h)] += pat[size_t(((b * H + h) * T + q) * T + target(q))] / (B * (T - n - 1));
    return out;
  };
  auto best = [&](int layer, auto target) {
    const std::vector<double> a = attention_to(layer, target);
    return int(std::max_element(a.begin(), a.end()) - a.begin());
  };
  const int prev_head = best(0, [](int q) { return q - 1; });
  EdgeAttributionOptions opt;
  opt.method = EdgeMethod::ig_inputs;
  const EdgeScores s = attribute_edges(model, task, opt);
  ASSERT_GT(s.clean_metric - s.corrupted_metric, 1.0) << "the model did not learn induction (loss " << loss << ")";
  const EdgeGraph& g = s.graph;
  // A fifth of the edges: the model has several induction heads, each with its K and output edges.
  const EdgeMatrix circuit = prune_to_paths(g, top_edges(g, s.scores, g.n_edges() / 5, Ranking::signed_score));
  const std::vector<double> induction = attention_to(1, [&](int q) { return q - n + 1; });
  int checked = 0;
  std::vector<std::pair<int, int>> pairs;
  for (int h = 0; h < H; ++h) {
    if (induction[size_t(h)] < 0.3) continue;
    const int pk = int(g.cell(g.src_head(0, prev_head), g.dst_head(1, QKV::k, h)));
    const int il = int(g.cell(g.src_head(1, h), g.dst_logits()));
    std::printf("induction head L1H%d (attention %.2f) after previous-token head L0H%d: %s %.4f, %s %.4f\n", h,
                induction[size_t(h)], prev_head,
                g.edge_name(g.src_head(0, prev_head), g.dst_head(1, QKV::k, h)).c_str(), s.scores[size_t(pk)],
                g.edge_name(g.src_head(1, h), g.dst_logits()).c_str(), s.scores[size_t(il)]);
    EXPECT_EQ(circuit[size_t(pk)], 1.0f);
    EXPECT_EQ(circuit[size_t(il)], 1.0f);
    pairs.push_back({pk, il});
    ++checked;
  }
  EXPECT_GE(checked, 1) << "no layer-1 head attends to the induction target";
  // ACDC on the same rows keeps both edges too.
  AcdcOptions a;
  a.threshold = 0.05;
  const AcdcResult r = run_acdc(model, task, a);
  // ACDC keeps what it cannot remove: of redundant induction heads at least one, with both edges.
  int kept_pairs = 0;
  for (auto [pk, il] : pairs) kept_pairs += r.keep[size_t(pk)] != 0.0f && r.keep[size_t(il)] != 0.0f;
  EXPECT_GE(kept_pairs, 1);
  // The two methods agree: ACDC's kept set as the truth, EAP-IG's |scores| rank it (Conmy et al.
  // report 0.868 for ACDC against the hand-found IOI circuit).
  const double auc = edge_roc_auc(g, s.scores, r.keep, Ranking::absolute);
  EXPECT_GT(auc, 0.8);
  std::printf("ACDC (KL, tau 0.05): %lld of %lld edges kept, %lld forwards; EAP-IG's ROC AUC against them %.3f\n",
              (long long)count_edges(g, r.keep), (long long)g.n_edges(), (long long)r.forwards, auc);
}

}  // namespace
}  // namespace headlab
