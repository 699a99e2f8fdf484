// Head scores: TransformerLens' detection patterns and scores on hand-made patterns, and every
// score on models whose weights are built by hand to be a previous-token head, an induction head,
// a copying head, a copy-suppression head and a successor head. Composition scores against the
// d_model x d_model products they avoid forming.
#include "circuits/head_scores.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "circuits/composition.h"
#include "core/errors.h"
#include "model/backend.h"
#include "model/params.h"
#include "model/transformer.h"

namespace headlab {
namespace {

// ---- TL detector semantics on small hand-made inputs ---------------------------------------------

TEST(CircuitsHeadScoresTest, DetectionPatternsFollowTransformerLens) {
  const int32_t tok[5] = {7, 3, 7, 3, 9};
  const auto prev = detection_pattern(HeadPattern::previous_token, tok, 5);
  const auto dup = detection_pattern(HeadPattern::duplicate_token, tok, 5);
  const auto ind = detection_pattern(HeadPattern::induction, tok, 5);
  for (int q = 0; q < 5; ++q)
    for (int k = 0; k < 5; ++k) {
      EXPECT_EQ(prev[size_t(q * 5 + k)], (q >= 1 && k == q - 1) ? 1.0f : 0.0f) << q << "," << k;
      EXPECT_EQ(dup[size_t(q * 5 + k)], (k < q && tok[k] == tok[q]) ? 1.0f : 0.0f) << q << "," << k;
    }
  // Induction: 1 at (q, k) where the token before k equals t_q: (2, 1) and (3, 2).
  std::vector<float> want(25, 0.0f);
  want[2 * 5 + 1] = 1;
  want[3 * 5 + 2] = 1;
  EXPECT_EQ(ind, want);
}

TEST(CircuitsHeadScoresTest, MulScoreExcludesCellsWithoutChangingThePattern) {
  // T = 3; rows sum to 1.
  const std::vector<float> A = {1, 0, 0, 0.5f, 0.5f, 0, 0.2f, 0.3f, 0.5f};
  const std::vector<float> P = {0, 0, 0, 1, 0, 0, 0, 1, 0};  // previous-token
  const std::vector<float> A_before = A;
  DetectOptions o;
  EXPECT_NEAR(attention_similarity(A.data(), P.data(), 3, o), (0.5 + 0.3) / 3.0, 1e-7);
  o.exclude_bos = true;  // column 0 out: matched 0.3, total 0.5 + 0.3 + 0.5
  EXPECT_NEAR(attention_similarity(A.data(), P.data(), 3, o), 0.3 / 1.3, 1e-7);
  o.exclude_current_token = true;  // and the diagonal: total 0.3
  EXPECT_NEAR(attention_similarity(A.data(), P.data(), 3, o), 1.0, 1e-7);
  EXPECT_EQ(A, A_before);
  o = {};
  o.measure = ErrorMeasure::abs;  // Σ|A - P| = 1 + 1 + (0.2 + 0.7 + 0.5) = 3.4; 1 - round(3.4 / 3, 3)
  EXPECT_NEAR(attention_similarity(A.data(), P.data(), 3, o), 1.0 - 1.133, 1e-6);
}

TEST(CircuitsHeadScoresTest, StripeScoreKeepsTheFirstHalfEntries) {
  // B = 1, H = 1, T = 5 = BOS + 2 x 2: diagonal offset 1 - n = -1, entries (1,0) (2,1) (3,2) (4,3).
  std::vector<float> A(25, 0.0f);
  A[0] = 1;
  A[1 * 5 + 0] = 1;  // first half: counts, as in the TL demo and ARENA
  A[2 * 5 + 0] = 1;  // first half, attention elsewhere
  A[3 * 5 + 2] = 1;  // induction target
  A[4 * 5 + 3] = 0.5f, A[4 * 5 + 0] = 0.5f;
  EXPECT_NEAR(induction_stripe_scores(A.data(), 1, 1, 5, 2)[0], (1 + 0 + 1 + 0.5) / 4.0, 1e-12);
  // ARENA: pattern[:, 0].mean() over every row, row 0 (always 1) included.
  EXPECT_NEAR(first_token_scores(A.data(), 1, 1, 5)[0], (1 + 1 + 1 + 0 + 0.5) / 5.0, 1e-12);
  EXPECT_THROW(induction_stripe_scores(A.data(), 1, 1, 5, 5), InternalError);
}

TEST(CircuitsHeadScoresTest, IclScoreIsLateMinusEarlyLoss) {
  const std::vector<float> losses = {4, 3, 1, 5, 3, 2};  // [2, 3]
  EXPECT_NEAR(icl_score(losses.data(), 2, 3, 0, 2), ((1 - 4) + (2 - 5)) / 2.0, 1e-12);
}

TEST(CircuitsHeadScoresTest, RetrievalCountsCopiedNeedleTokens) {
  // One sequence, T = 6: needle positions 1, 2 (tokens 10, 11); decoding at 4 and 5.
  const int32_t tokens[6] = {0, 10, 11, 5, 10, 6};
  const int32_t predicted[6] = {0, 0, 0, 0, 11, 10};
  const uint8_t needle[6] = {0, 1, 1, 0, 0, 0};
  const uint8_t decode[6] = {0, 0, 0, 0, 1, 1};
  // H = 3: head 0 attends to the needle token it emits both times; head 1 only once; head 2 to a
  // position outside the needle that holds the same token (position 4 holds 10): no credit.
  const int32_t top[3 * 6] = {0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 2, 3, 0, 0, 0, 0, 3, 4};
  int64_t counted = 0;
  const auto s = retrieval_score_sums(top, {tokens, predicted, needle, decode}, 1, 3, 6, counted);
  EXPECT_EQ(counted, 1);
  EXPECT_NEAR(s[0], 1.0, 1e-12);
  EXPECT_NEAR(s[1], 0.5, 1e-12);
  EXPECT_NEAR(s[2], 0.0, 1e-12);
}

// ---- hand-built models ----------------------------------------------------------------------------

// Sets TL parameter `name` (row-major flat index i) in an arena.
void set_param(std::vector<float>& params, const ParamTable& table, const std::string& name, std::vector<int64_t> index,
               float value) {
  const ParamInfo* p = table.find(name);
  ASSERT_NE(p, nullptr) << name;
  ASSERT_EQ(index.size(), p->shape.size()) << name;
  int64_t flat = 0;
  for (size_t d = 0; d < index.size(); ++d) flat = flat * p->shape[d] + index[d];
  params[size_t(p->arena_offset(flat))] = value;
}

// A 2-layer, 1-head-per-layer attention-only model without norms whose residual stream has three
// one-hot subspaces: the token [0, V), the position [V, V + n_ctx) and the previous token
// [V + n_ctx, 2V + n_ctx).
//  - L0H0 attends from position p to p - 1 (query e_p, key e_{j+1}) and writes the token there into
//    the previous-token subspace: a previous-token head.
//  - L1H0 attends from a token to positions whose previous token is the same (query: token, key:
//    previous-token subspace; K-composition with L0H0) and otherwise to BOS (a query bias against a
//    key on position 0, half as strong as a match); it copies the token it attends to into the
//    token subspace, twice as strong as the current token: an induction head, and a copying head.
//  - The unembedding reads the token subspace.
struct HandBuilt {
  static constexpr int V = 16, n_ctx = 24;
  ModelConfig cfg;
  std::vector<float> params;
};

HandBuilt hand_built_induction_model() {
  HandBuilt m;
  const int V = HandBuilt::V, N = HandBuilt::n_ctx;
  ModelConfig& c = m.cfg;
  c.n_layers = 2;
  c.n_heads = 1;
  c.d_model = 2 * V + N;
  c.d_head = N;
  c.d_mlp = 4;
  c.n_ctx = N;
  c.d_vocab = V;
  c.attn_only = true;
  c.normalization_type = Normalization::none;
  c.validate();
  const ParamTable table(c);
  m.params.assign(size_t(table.arena_size()), 0.0f);
  auto set = [&](const std::string& name, std::vector<int64_t> index, float value) {
    set_param(m.params, table, name, std::move(index), value);
  };
  const float big = 10.0f;  // score big² / sqrt(24) ≈ 20 for a match
  const int tok0 = 0, pos0 = V, prev0 = V + N;
  for (int t = 0; t < V; ++t) {
    set("embed.W_E", {t, tok0 + t}, 1);
    set("unembed.W_U", {tok0 + t, t}, 1);
  }
  for (int p = 0; p < N; ++p) set("pos_embed.W_pos", {p, pos0 + p}, 1);
  // L0H0: previous-token head.
  for (int p = 0; p < N; ++p) set("blocks.0.attn.W_Q", {0, pos0 + p, p}, big);
  for (int j = 0; j + 1 < N; ++j) set("blocks.0.attn.W_K", {0, pos0 + j, j + 1}, big);
  for (int t = 0; t < V; ++t) {
    set("blocks.0.attn.W_V", {0, tok0 + t, t}, 1);
    set("blocks.0.attn.W_O", {0, t, prev0 + t}, 1);
  }
  // L1H0: induction head, parking on BOS (head dimension V) when nothing matches.
  for (int t = 0; t < V; ++t) {
    set("blocks.1.attn.W_Q", {0, tok0 + t, t}, big);
    set("blocks.1.attn.W_K", {0, prev0 + t, t}, big);
    set("blocks.1.attn.W_V", {0, tok0 + t, t}, 1);
    set("blocks.1.attn.W_O", {0, t, tok0 + t}, 2);
  }
  set("blocks.1.attn.b_Q", {0, V}, big);
  set("blocks.1.attn.W_K", {0, pos0 + 0, V}, big / 2);
  return m;
}

// BOS = 0, then 11 distinct tokens from [1, V) twice: 11 sequences of 23 <= n_ctx tokens. Distinct,
// so that each second-half token has exactly one earlier copy and the head one place to attend.
RepeatProbe distinct_token_probe() {
  RepeatProbe probe = make_repeat_probe(11, 11, 1, HandBuilt::V, 0, 5);
  std::mt19937_64 rng(5);
  for (int64_t s = 0; s < probe.n_seq; ++s) {
    std::vector<int32_t> pool;
    for (int32_t t = 1; t < HandBuilt::V; ++t) pool.push_back(t);
    std::shuffle(pool.begin(), pool.end(), rng);
    for (int64_t i = 1; i <= 11; ++i)
      probe.tokens[size_t(s * 23 + i)] = probe.tokens[size_t(s * 23 + i + 11)] = pool[size_t(i - 1)];
  }
  return probe;
}

TEST(CircuitsHeadScoresTest, HandBuiltPreviousTokenAndInductionHeadsScoreAsDesigned) {
  const HandBuilt m = hand_built_induction_model();
  auto be = make_cpu_backend(1);
  Transformer model(m.cfg, *be);
  model.params_from_host(m.params);
  const RepeatProbe probe = distinct_token_probe();
  ProbeOptions opt;
  opt.batch_size = 4;  // several batches, pooled
  const ProbeScores s = score_repeat_probe(model, probe, opt);
  // [layer * n_heads + head]: index 0 = L0H0, 1 = L1H0.
  EXPECT_GT(s.previous_token[0], 0.95);  // (T - 1) / T: position 0 can only attend to itself
  EXPECT_LT(s.induction[0], 0.05);
  EXPECT_LT(s.induction_stripe[0], 0.1);
  EXPECT_LT(s.previous_token[1], 0.1);
  EXPECT_NEAR(s.induction_stripe[1], 12.0 / 13.0, 0.02);  // (n + 1) / (n + 2): BOS at (n - 1, 0) counts
  // Without exclusions, the BOS parking of first-half rows counts against the head: TL's score is
  // about (second-half rows) / (all rows) = 11 / 23; excluding BOS gives about 1.
  EXPECT_NEAR(s.induction[1], 11.0 / 23.0, 0.05);
  EXPECT_NEAR(s.first_token[1], 12.0 / 23.0, 0.02);  // rows 0..n of 2n + 1 park on BOS
  opt.detect.exclude_bos = true;
  const ProbeScores sx = score_repeat_probe(model, probe, opt);
  EXPECT_GT(sx.induction[1], 0.95);
  EXPECT_LT(sx.previous_token[1], 0.05);
  // The induction head copies the token after the earlier copy; the model predicts the second half.
  EXPECT_GT(s.retrieval_repeat[1], 0.9);
  EXPECT_LT(s.retrieval_repeat[0], 0.2);
  EXPECT_LT(s.loss_repeated_half, 0.5 * s.loss_first_half);
  EXPECT_LT(s.icl_score, -0.5);
}

// Every per-head probe score and loss of a and b agree to float rounding.
void expect_same_probe_scores(const ProbeScores& a, const ProbeScores& b) {
  const std::vector<std::pair<const std::vector<double>*, const std::vector<double>*>> pairs = {
      {&a.previous_token, &b.previous_token}, {&a.duplicate_token, &b.duplicate_token},
      {&a.induction, &b.induction},           {&a.induction_stripe, &b.induction_stripe},
      {&a.first_token, &b.first_token},       {&a.retrieval_repeat, &b.retrieval_repeat}};
  for (const auto& [x, y] : pairs) {
    ASSERT_EQ(x->size(), y->size());
    for (size_t i = 0; i < x->size(); ++i) EXPECT_NEAR((*x)[i], (*y)[i], 1e-5) << i;
  }
  EXPECT_NEAR(a.loss_first_half, b.loss_first_half, 1e-4);
  EXPECT_NEAR(a.loss_repeated_half, b.loss_repeated_half, 1e-4);
  EXPECT_NEAR(a.icl_score, b.icl_score, 1e-4);
}

// The probe with heads ablated (headlab-circuits heads --ablate): zero-ablating the previous-token
// head's hook_z equals the model built without it (its W_O zeroed, b_O kept), and without it the
// induction head loses its induction score and the model its in-context learning; mean ablation
// (each position's mean over the probe) takes it away too. Ablating the induction head itself leaves
// its pattern (the ablation acts after it) but not the repeated half's loss.
TEST(CircuitsHeadScoresTest, AblatedPreviousTokenHeadTakesTheInductionScoreAway) {
  const HandBuilt m = hand_built_induction_model();
  auto be = make_cpu_backend(1);
  Transformer model(m.cfg, *be);
  model.params_from_host(m.params);
  const RepeatProbe probe = distinct_token_probe();
  ProbeOptions opt;
  opt.batch_size = 4;
  const ProbeScores clean = score_repeat_probe(model, probe, opt);
  ASSERT_GT(clean.induction_stripe[1], 0.9);
  ASSERT_LT(clean.icl_score, -0.5);

  opt.ablate = {{0, 0}};
  const ProbeScores zero = score_repeat_probe(model, probe, opt);
  HandBuilt cut = m;
  const ParamTable table(cut.cfg);
  for (int64_t i = 0; i < cut.cfg.d_head; ++i)
    for (int64_t d = 0; d < cut.cfg.d_model; ++d) set_param(cut.params, table, "blocks.0.attn.W_O", {0, i, d}, 0.0f);
  Transformer without(cut.cfg, *be);
  without.params_from_host(cut.params);
  ProbeOptions plain;
  plain.batch_size = 4;
  expect_same_probe_scores(zero, score_repeat_probe(without, probe, plain));
  EXPECT_LT(zero.induction_stripe[1], 0.2);
  EXPECT_GT(zero.icl_score, -0.1);
  EXPECT_GT(zero.loss_repeated_half, 0.8 * zero.loss_first_half);
  // Layer 0's own pattern is computed before its output is ablated.
  EXPECT_NEAR(zero.previous_token[0], clean.previous_token[0], 1e-6);

  opt.ablation = ProbeAblation::mean;
  const ProbeScores mean = score_repeat_probe(model, probe, opt);
  EXPECT_LT(mean.induction_stripe[1], 0.3);
  EXPECT_GT(mean.icl_score, -0.2);

  opt.ablate = {{1, 0}};
  opt.ablation = ProbeAblation::zero;
  const ProbeScores no_induction = score_repeat_probe(model, probe, opt);
  EXPECT_NEAR(no_induction.induction_stripe[1], clean.induction_stripe[1], 1e-6);
  EXPECT_GT(no_induction.loss_repeated_half, clean.loss_repeated_half + 0.5);

  opt.ablate = {{2, 0}};
  EXPECT_THROW(score_repeat_probe(model, probe, opt), InputError);
}

TEST(CircuitsHeadScoresTest, HandBuiltWeightScores) {
  const HandBuilt m = hand_built_induction_model();
  const HeadCircuits w = head_circuits(m.cfg, m.params);
  auto be = make_cpu_backend(1);
  const auto copying = copying_scores(w, *be);
  EXPECT_NEAR(copying[1], 1.0, 1e-6);  // L1H0 maps each token onto itself (x2)
  EXPECT_NEAR(copying[0], 0.0, 1e-6);  // L0H0 writes where the unembedding does not read
  // L1H0's key reads what L0H0 writes: K-composition only. W_OV = Σ tok_t prev_tᵀ and W_QKᵀ =
  // c² Σ prev_t tok_tᵀ give ‖L R‖ / (‖L‖ ‖R‖) = 1 / sqrt(V).
  const auto k = composition_scores(w, CompositionKind::k, *be);
  const auto q = composition_scores(w, CompositionKind::q, *be);
  const auto v = composition_scores(w, CompositionKind::v, *be);
  // [L, H, L, H] with H = 1: entry (0, 0, 1, 0) is index 1.
  EXPECT_NEAR(k[1], 1.0 / std::sqrt(double(HandBuilt::V)), 1e-6);
  EXPECT_NEAR(q[1], 0.0, 1e-6);
  EXPECT_NEAR(v[1], 0.0, 1e-6);
  EXPECT_EQ(k[2], 0.0);  // (1, 0, 0, 0): not a later layer
}

// One layer, three heads, D = V, one-hot embeddings and unembeddings, d_head = V, W_V = I:
// head 0's W_O maps t to t + 1 (mod V, a successor head), head 1's is I (copying), head 2's -I.
TEST(CircuitsHeadScoresTest, HandBuiltSuccessorCopyingAndSuppressionHeads) {
  const int V = 8;
  ModelConfig c;
  c.n_layers = 1;
  c.n_heads = 3;
  c.d_model = V;
  c.d_head = V;
  c.d_vocab = V;
  c.n_ctx = 8;
  c.attn_only = true;
  c.normalization_type = Normalization::none;
  c.validate();
  const ParamTable table(c);
  std::vector<float> params(size_t(table.arena_size()), 0.0f);
  for (int t = 0; t < V; ++t) {
    set_param(params, table, "embed.W_E", {t, t}, 1);
    set_param(params, table, "unembed.W_U", {t, t}, 1);
    for (int h = 0; h < 3; ++h) set_param(params, table, "blocks.0.attn.W_V", {h, t, t}, 1);
    set_param(params, table, "blocks.0.attn.W_O", {0, t, (t + 1) % V}, 1);
    set_param(params, table, "blocks.0.attn.W_O", {1, t, t}, 1);
    set_param(params, table, "blocks.0.attn.W_O", {2, t, t}, -1);
  }
  const HeadCircuits w = head_circuits(c, params);
  auto be = make_cpu_backend(1);
  const auto copying = copying_scores(w, *be);
  EXPECT_NEAR(copying[0], 0.0, 1e-6);  // a cyclic permutation: the V-th roots of unity sum to 0
  EXPECT_NEAR(copying[1], 1.0, 1e-6);
  EXPECT_NEAR(copying[2], -1.0, 1e-6);
  SuccessionPairs pairs;
  for (int t = 0; t + 1 < V; ++t) pairs.token.push_back(t), pairs.successor.push_back(t + 1);
  for (int t = 0; t < V; ++t) pairs.candidates.push_back(t);
  const auto succ = successor_scores(c, params, pairs);
  EXPECT_NEAR(succ[0], 1.0, 1e-12);
  EXPECT_NEAR(succ[1], 0.0, 1e-12);
  EXPECT_LT(succ[2], 0.2);  // -I ties every other candidate at 0; the smallest id wins the tie
  pairs.candidates = {0, 1};
  EXPECT_THROW(successor_scores(c, params, pairs), InputError);
}

// ---- composition against the dense products -------------------------------------------------------

TEST(CircuitsHeadScoresTest, FactoredCompositionEqualsDenseProducts) {
  ModelConfig c;
  c.n_layers = 3;
  c.n_heads = 2;
  c.d_model = 12;
  c.d_head = 4;
  c.d_vocab = 10;
  c.n_ctx = 8;
  c.attn_only = true;
  c.normalization_type = Normalization::none;
  c.validate();
  const ParamTable table(c);
  std::vector<float> params(size_t(table.arena_size()));
  std::mt19937_64 rng(1);
  std::normal_distribution<float> gauss;
  for (float& x : params) x = gauss(rng);
  const HeadCircuits w = head_circuits(c, params);
  auto be = make_cpu_backend(1);
  const int D = c.d_model, dh = c.d_head, H = c.n_heads, L = c.n_layers;
  // Dense [D, D] products in double.
  auto product = [&](const float* a, bool a_t, const float* b, bool b_t) {  // a [D,dh] (or [dh,D] if a_t) ...
    std::vector<double> out(size_t(D * D), 0.0);
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < D; ++j)
        for (int e = 0; e < dh; ++e) {
          const double x = a_t ? a[e * D + i] : a[i * dh + e];
          const double y = b_t ? b[j * dh + e] : b[e * D + j];
          out[size_t(i * D + j)] += x * y;
        }
    return out;
  };
  auto matmul = [&](const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> out(size_t(D * D), 0.0);
    for (int i = 0; i < D; ++i)
      for (int k = 0; k < D; ++k)
        for (int j = 0; j < D; ++j) out[size_t(i * D + j)] += a[size_t(i * D + k)] * b[size_t(k * D + j)];
    return out;
  };
  auto fro = [](const std::vector<double>& a) {
    double s = 0;
    for (double x : a) s += x * x;
    return std::sqrt(s);
  };
  auto transpose = [&](const std::vector<double>& a) {
    std::vector<double> t(a.size());
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < D; ++j) t[size_t(j * D + i)] = a[size_t(i * D + j)];
    return t;
  };
  for (CompositionKind kind : {CompositionKind::q, CompositionKind::k, CompositionKind::v}) {
    const auto got = composition_scores(w, kind, *be);
    for (int l1 = 0; l1 < L; ++l1)
      for (int h1 = 0; h1 < H; ++h1)
        for (int l2 = 0; l2 < L; ++l2)
          for (int h2 = 0; h2 < H; ++h2) {
            const double g = got[size_t(((l1 * H + h1) * L + l2) * H + h2)];
            if (l2 <= l1) {
              EXPECT_EQ(g, 0.0);
              continue;
            }
            const auto ov1 = product(w.v(l1, h1), false, w.o(l1, h1), false);  // W_V W_O
            const auto qk2 = product(w.q(l2, h2), false, w.k(l2, h2), true);   // W_Q W_Kᵀ
            const auto ov2 = product(w.v(l2, h2), false, w.o(l2, h2), false);
            const auto R = kind == CompositionKind::q ? qk2 : kind == CompositionKind::k ? transpose(qk2) : ov2;
            const double want = fro(matmul(ov1, R)) / (fro(ov1) * fro(R));
            EXPECT_NEAR(g, want, 1e-5) << to_string(kind) << " L" << l1 << "H" << h1 << " -> L" << l2 << "H" << h2;
          }
  }
}

TEST(CircuitsHeadScoresTest, LayerNormWeightsAreFoldedIntoReadingWeights) {
  // For a centred, unit-variance x (what LayerNorm's normalisation produces), x W_Q' = (x ⊙ w) W_Q.
  ModelConfig c;
  c.n_layers = 1;
  c.n_heads = 2;
  c.d_model = 8;
  c.d_head = 3;
  c.d_vocab = 6;
  c.n_ctx = 4;
  c.attn_only = true;
  c.normalization_type = Normalization::LN;
  c.validate();
  const ParamTable table(c);
  std::vector<float> params(size_t(table.arena_size()));
  std::mt19937_64 rng(2);
  std::normal_distribution<float> gauss;
  for (float& x : params) x = gauss(rng);
  const HeadCircuits w = head_circuits(c, params, WeightProcessing::transformer_lens);
  std::vector<double> x(8);
  double mean = 0;
  for (double& v : x) v = gauss(rng), mean += v;
  for (double& v : x) v -= mean / 8;
  const ParamInfo* wq = table.find("blocks.0.attn.W_Q");
  const ParamInfo* lnw = table.find("blocks.0.ln1.w");
  for (int h = 0; h < 2; ++h)
    for (int e = 0; e < 3; ++e) {
      double folded = 0, raw = 0;
      for (int d = 0; d < 8; ++d) {
        folded += x[size_t(d)] * w.q(0, h)[d * 3 + e];
        raw +=
            x[size_t(d)] * params[size_t(lnw->arena_offset(d))] * params[size_t(wq->arena_offset((h * 8 + d) * 3 + e))];
      }
      EXPECT_NEAR(folded, raw, 1e-4);
    }
  // W_O and W_E are centred over d_model; W_U over d_model and over the vocabulary.
  for (int e = 0; e < 3; ++e) {
    double s = 0;
    for (int d = 0; d < 8; ++d) s += w.o(0, 1)[e * 8 + d];
    EXPECT_NEAR(s, 0.0, 1e-5);
  }
  double col = 0, row = 0;
  for (int d = 0; d < 8; ++d) col += w.W_U[size_t(d * 6 + 2)];
  for (int v = 0; v < 6; ++v) row += w.W_U[size_t(3 * 6 + v)];
  EXPECT_NEAR(col, 0.0, 1e-5);
  EXPECT_NEAR(row, 0.0, 1e-5);
}

TEST(CircuitsHeadScoresTest, ProbeRejectsSequencesLongerThanTheContext) {
  const HandBuilt m = hand_built_induction_model();
  auto be = make_cpu_backend(1);
  Transformer model(m.cfg, *be);
  model.params_from_host(m.params);
  const RepeatProbe probe = make_repeat_probe(2, 13, 1, HandBuilt::V, 0, 5);  // 2n = 26 > n_ctx = 24
  EXPECT_THROW(score_repeat_probe(model, probe, {}), InputError);
  EXPECT_THROW(make_repeat_probe(2, 1, 1, 10, 0, 0), InputError);
  EXPECT_THROW(make_repeat_probe(0, 4, 1, 10, 0, 0), InputError);
}

}  // namespace
}  // namespace headlab
