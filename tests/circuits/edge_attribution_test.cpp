// The masked-edge primitive and edge attribution on it: exact end points of the mask, EAP scores
// against finite differences of the masked forward, EAP-IG against the exact patching effect it
// integrates, node attribution against the gradient at hook_z, and the circuit helpers.
#include <gtest/gtest.h>

#include <cmath>

#include "circuits/circuit_eval.h"
#include "circuits/edge_attribution.h"
#include "circuits/masked_forward.h"
#include "core/errors.h"
#include "tests/circuits/circuits_test_util.h"

namespace headlab {
namespace {

using testing::max_abs_diff;

ModelConfig variant(bool attn_only, Normalization norm = Normalization::LN) {
  ModelConfig c = testing::small_config();
  c.attn_only = attn_only;
  c.normalization_type = norm;
  return c;
}

struct Fixture {
  ModelConfig cfg;
  std::unique_ptr<Backend> be = make_cpu_backend(1);
  std::unique_ptr<Transformer> model;
  TokenDataset ds;
  TaskData task;
  int B = 3, T = 8;
  explicit Fixture(ModelConfig c, float scale = 4.0f, MetricKind metric = MetricKind::logit_diff) : cfg(c) {
    model = testing::random_model(cfg, *be, 7, scale);
    ds = testing::synthetic_task(B, T, cfg.d_vocab, 11);
    task = testing::task_of(ds, metric);
  }
  std::vector<float> logits(const std::vector<int32_t>& tokens) {
    model->forward(tokens.data(), B, T);
    return model->logits_to_host();
  }
};

TEST(CircuitsEdgeGraphTest, CountsAndNamesFollowTheEapIgGraph) {
  const ModelConfig c = variant(false);  // 2 layers, 3 heads, MLPs
  const EdgeGraph g(c);
  EXPECT_EQ(g.n_src(), 1 + 2 * (3 + 1));
  EXPECT_EQ(g.n_dst(), 2 * (3 * 3 + 1) + 1);
  // input feeds all 21 destinations; layer-0 heads feed M0 and layer 1 and the logits (1 + 10 + 1);
  // M0 feeds layer 1 and the logits (11); layer-1 heads feed M1 and the logits (2); M1 the logits.
  EXPECT_EQ(g.n_edges(), 21 + 3 * 12 + 11 + 3 * 2 + 1);
  EXPECT_EQ(g.src_name(g.src_head(1, 2)), "L1H2");
  EXPECT_EQ(g.dst_name(g.dst_head(1, QKV::k, 0)), "L1H0:k");
  EXPECT_EQ(g.edge_name(g.src_mlp(0), g.dst_logits()), "M0->logits");
  EXPECT_TRUE(g.is_edge(g.src_head(0, 1), g.dst_mlp(0)));
  EXPECT_FALSE(g.is_edge(g.src_head(0, 1), g.dst_head(0, QKV::q, 2)));
  EXPECT_FALSE(g.is_edge(g.src_mlp(0), g.dst_mlp(0)));
  EXPECT_EQ(g.find_dst("L1H0:k"), g.dst_head(1, QKV::k, 0));
  EXPECT_EQ(g.find_src("L9H9"), -1);
  const EdgeGraph a(variant(true));
  EXPECT_EQ(a.n_src(), 1 + 2 * 3);
  EXPECT_EQ(a.n_dst(), 2 * 9 + 1);
}

TEST(CircuitsMaskedForwardTest, AllOnesIsTheCleanRunAndAllZerosTheCorruptedRun) {
  for (bool attn_only : {false, true}) {
    Fixture f(variant(attn_only));
    const std::vector<float> clean = f.logits(f.ds.tokens), corrupted = f.logits(f.ds.corrupted);
    const EdgeGraph g(f.cfg);
    EdgePatcher p(*f.model, g);
    p.cache_corrupted(f.ds.corrupted.data(), f.B, f.T);
    const EdgeMatrix ones = edge_matrix(g, 1.0f), zeros = edge_matrix(g, 0.0f);
    MaskedRunOptions opt;
    opt.mask = &ones;
    p.forward(f.ds.tokens.data(), opt);
    EXPECT_LT(max_abs_diff(f.model->logits_to_host(), clean), 1e-5f) << "attn_only " << attn_only;
    opt.mask = &zeros;
    p.forward(f.ds.tokens.data(), opt);
    EXPECT_LT(max_abs_diff(f.model->logits_to_host(), corrupted), 1e-4f) << "attn_only " << attn_only;
    // Half of every edge: neither end.
    const EdgeMatrix half = edge_matrix(g, 0.5f);
    opt.mask = &half;
    p.forward(f.ds.tokens.data(), opt);
    EXPECT_GT(max_abs_diff(f.model->logits_to_host(), clean), 1e-3f);
  }
}

// Patching only the edges into the logits from every source equals patching the final residual.
TEST(CircuitsMaskedForwardTest, PatchingEveryEdgeIntoTheLogitsGivesTheCorruptedFinalResidual) {
  Fixture f(variant(false));
  const EdgeGraph g(f.cfg);
  EdgePatcher p(*f.model, g);
  p.cache_corrupted(f.ds.corrupted.data(), f.B, f.T);
  const std::vector<float> corrupted = f.model->logits_to_host();
  EdgeMatrix mask = edge_matrix(g, 1.0f);
  for (int s = 0; s < g.n_src(); ++s) mask[size_t(g.cell(s, g.dst_logits()))] = 0.0f;
  MaskedRunOptions opt;
  opt.mask = &mask;
  p.forward(f.ds.tokens.data(), opt);
  EXPECT_LT(max_abs_diff(f.model->logits_to_host(), corrupted), 1e-4f);
}

// −∂ℓ/∂mask_e at all ones, by central differences of the masked forward's metric.
void check_eap_against_finite_differences(const ModelConfig& cfg, MetricKind metric, float scale = 4.0f) {
  Fixture f(cfg, scale, metric);
  EdgeAttributionOptions opt;
  opt.metric = metric;
  opt.batch_size = 2;  // two batches: scores accumulate over them
  const EdgeScores s = attribute_edges(*f.model, f.task, opt);
  const EdgeGraph& g = s.graph;
  std::vector<std::pair<int, int>> edges;
  for (int src = 0; src < g.n_src(); ++src)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(src, d) && (src * 7 + d * 3) % 4 == 0) edges.push_back({src, d});
  ASSERT_GE(edges.size(), 10u);
  int nonzero = 0;
  const double eps = 1e-2;
  for (auto [src, d] : edges) {
    EdgeMatrix up = edge_matrix(g, 1.0f), down = up;
    up[size_t(g.cell(src, d))] = float(1 + eps);
    down[size_t(g.cell(src, d))] = float(1 - eps);
    const std::vector<MaskedMetric> m = masked_metrics(*f.model, f.task, {up, down}, metric, 3);
    const double fd = -(metric_loss(metric, m[0].masked) - metric_loss(metric, m[1].masked)) / (2 * eps);
    const double eap = s.scores[size_t(g.cell(src, d))];
    // Central differences of a float32 metric: rounding of order 1e-7 of the metric over 2 eps.
    const double noise = 1e-5 * std::max(1.0, std::fabs(s.clean_metric));
    EXPECT_NEAR(eap, fd, 0.01 * std::fabs(fd) + noise) << g.edge_name(src, d) << " metric " << to_string(metric);
    nonzero += std::fabs(fd) > 1e-4;
  }
  EXPECT_GE(nonzero, int(edges.size()) / 3) << "scale " << scale;  // the check saw real gradients
}

TEST(CircuitsEdgeAttributionTest, EapScoreIsTheMaskDerivativeWithLayerNormAndMlps) {
  check_eap_against_finite_differences(variant(false), MetricKind::logit_diff);
  check_eap_against_finite_differences(variant(false), MetricKind::prob);
}

TEST(CircuitsEdgeAttributionTest, EapScoreIsTheMaskDerivativeAttentionOnly) {
  check_eap_against_finite_differences(variant(true), MetricKind::logit_diff);
  // Without norms nothing rescales the residual: GPT-2-sized weights give effects near 1e-6.
  check_eap_against_finite_differences(variant(true, Normalization::none), MetricKind::logit_diff, 15.0f);
}

// With no final norm the logit difference is linear in the final residual: EAP's score of an edge
// into the logits is then exactly the effect of patching that edge.
TEST(CircuitsEdgeAttributionTest, EapEqualsExactPatchingForEdgesIntoLinearLogits) {
  Fixture f(variant(true, Normalization::none));
  const EdgeScores s = attribute_edges(*f.model, f.task, EdgeAttributionOptions());
  const EdgeGraph& g = s.graph;
  for (int src = 0; src < g.n_src(); ++src) {
    EdgeMatrix mask = edge_matrix(g, 1.0f);
    mask[size_t(g.cell(src, g.dst_logits()))] = 0.0f;
    const MaskedMetric m = masked_metric(*f.model, f.task, mask, MetricKind::logit_diff, 4);
    EXPECT_NEAR(s.scores[size_t(g.cell(src, g.dst_logits()))], m.clean - m.masked, 1e-4) << g.src_name(src);
  }
}

// Integrated gradients' completeness: along the straight path from the corrupted to the clean
// embedding, the summed scores of the input's edges tend to ℓ(corrupted) − ℓ(clean) as K grows;
// the left Riemann sum's error falls as 1/K.
TEST(CircuitsEdgeAttributionTest, EapIgOfTheInputsEdgesApproachesTheExactEffectOfPatchingTheInput) {
  for (bool attn_only : {false, true}) {
    Fixture f(variant(attn_only));
    auto input_sum = [&](int K) {
      EdgeAttributionOptions opt;
      opt.method = EdgeMethod::ig_inputs;
      opt.ig_steps = K;
      const EdgeScores s = attribute_edges(*f.model, f.task, opt);
      double sum = 0;
      for (int d = 0; d < s.graph.n_dst(); ++d) sum += s.scores[size_t(s.graph.cell(0, d))];
      return std::make_pair(sum, s.clean_metric - s.corrupted_metric);
    };
    const auto [coarse, exact] = input_sum(4);
    const auto [fine, exact2] = input_sum(200);
    EXPECT_DOUBLE_EQ(exact, exact2);
    ASSERT_GT(std::fabs(exact), 1e-2);
    EXPECT_NEAR(fine, exact, 0.02 * std::fabs(exact)) << "attn_only " << attn_only;
    EXPECT_LT(std::fabs(fine - exact), std::fabs(coarse - exact) + 1e-9);
  }
}

// Node attribution patching: (z_corrupted − z_clean) · ∂ℓ/∂z at hook_z, computed here with the
// model's own gradient capture, equals the sum of the head's outgoing edge scores.
TEST(CircuitsEdgeAttributionTest, NodeScoresEqualAttributionPatchingAtHookZ) {
  Fixture f(variant(false));
  const EdgeScores s = attribute_edges(*f.model, f.task, EdgeAttributionOptions());
  const std::vector<double> nodes = node_scores(s);
  const ModelConfig& c = f.cfg;
  std::vector<double> direct(size_t(c.n_layers * c.n_heads), 0.0);
  HookSet corrupted;
  for (int l = 0; l < c.n_layers; ++l) corrupted.cache({l, HookSite::attn_z});
  f.model->forward(f.ds.corrupted.data(), f.B, f.T, &corrupted);
  HookSet clean;
  for (int l = 0; l < c.n_layers; ++l) {
    clean.cache({l, HookSite::attn_z});
    clean.cache_gradient({l, HookSite::attn_z});
  }
  f.model->forward(f.ds.tokens.data(), f.B, f.T, &clean);
  const std::vector<float> logits = f.model->logits_to_host();
  const TaskBatch b = task_batches(f.task, f.B)[0];
  const std::vector<float> ref = answer_logprobs(logits.data(), f.B, f.T, c.d_vocab, b.answer_pos);
  const std::vector<float> dl =
      loss_gradient(MetricKind::logit_diff, logits.data(), b.metric_targets(c.d_vocab, ref.data()));
  f.model->backward_from_logits(dl.data(), &clean);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string name = "blocks." + std::to_string(l) + ".attn.hook_z";
    const auto& zc = corrupted.cached(name).data;
    const auto& z = clean.cached(name).data;
    const auto& gz = clean.cached_gradients().at(name).data;
    for (size_t i = 0; i < z.size(); ++i) {
      const int h = int(i / size_t(c.d_head) % size_t(c.n_heads));
      direct[size_t(l * c.n_heads + h)] += double(zc[i] - z[i]) * double(gz[i]) / double(f.B);
    }
  }
  const EdgeGraph& g = s.graph;
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = 0; h < c.n_heads; ++h)
      EXPECT_NEAR(nodes[size_t(g.src_head(l, h))], direct[size_t(l * c.n_heads + h)], 1e-4) << "L" << l << "H" << h;
}

TEST(CircuitsCircuitTest, PruningKeepsOnlyEdgesOnInputToLogitsPaths) {
  const EdgeGraph g(variant(false));
  EdgeMatrix keep(size_t(g.n_cells()), 0.0f);
  auto set = [&](int s, int d) { keep[size_t(g.cell(s, d))] = 1.0f; };
  set(g.src_input(), g.dst_head(0, QKV::v, 1));     // input -> L0H1:v
  set(g.src_head(0, 1), g.dst_head(1, QKV::k, 2));  // L0H1 -> L1H2:k
  set(g.src_head(1, 2), g.dst_logits());            // L1H2 -> logits: a full path
  set(g.src_head(0, 2), g.dst_logits());            // L0H2 is never fed: dropped
  set(g.src_input(), g.dst_head(1, QKV::q, 0));     // L1H0 never reaches the logits: dropped
  const EdgeMatrix pruned = prune_to_paths(g, keep);
  EXPECT_EQ(count_edges(g, pruned), 3);
  EXPECT_EQ(pruned[size_t(g.cell(g.src_head(0, 2), g.dst_logits()))], 0.0f);
  EXPECT_EQ(pruned[size_t(g.cell(g.src_head(1, 2), g.dst_logits()))], 1.0f);
}

TEST(CircuitsCircuitTest, MibAreasAreTrapezoidsOverTheEdgeFraction) {
  const std::vector<double>& p = mib_percentages();
  const std::vector<double> ones(p.size(), 1.0);
  EXPECT_NEAR(mib_area(p, ones, Ranking::signed_score), 0.999, 1e-12);
  EXPECT_NEAR(mib_area(p, ones, Ranking::absolute), 0.0, 1e-12);
  std::vector<double> f(p.size(), 0.0);
  f.back() = 1.0;  // only the whole model is faithful: one trapezoid from 50% to 100%
  EXPECT_NEAR(mib_area(p, f, Ranking::signed_score), 0.5 * 0.5, 1e-12);
  EXPECT_NEAR(mib_area(p, f, Ranking::absolute), 0.999 - 0.25, 1e-12);
}

TEST(CircuitsCircuitTest, FullCircuitIsFaithfulAndRocAucCountsOrder) {
  Fixture f(variant(false));
  const EdgeScores s = attribute_edges(*f.model, f.task, EdgeAttributionOptions());
  const MibCurve curve = mib_curve(*f.model, f.task, s.graph, s.scores, Ranking::absolute, MetricKind::logit_diff, 4);
  EXPECT_NEAR(curve.faithfulness.back(), 1.0, 1e-5);
  EXPECT_EQ(curve.requested.back(), s.graph.n_edges());
  const EdgeGraph& g = s.graph;
  EdgeMatrix truth(size_t(g.n_cells()), 0.0f), ranked = edge_matrix(g, 0.0f);
  truth[size_t(g.cell(0, g.dst_logits()))] = 1.0f;
  ranked[size_t(g.cell(0, g.dst_logits()))] = 5.0f;
  EXPECT_DOUBLE_EQ(edge_roc_auc(g, ranked, truth, Ranking::signed_score), 1.0);
  ranked[size_t(g.cell(0, g.dst_logits()))] = -5.0f;
  EXPECT_DOUBLE_EQ(edge_roc_auc(g, ranked, truth, Ranking::signed_score), 0.0);
  EXPECT_DOUBLE_EQ(edge_roc_auc(g, ranked, truth, Ranking::absolute), 1.0);
}

TEST(CircuitsEdgeAttributionTest, RefusesTasksWithoutPairsAndStepsOutOfRange) {
  Fixture f(variant(false));
  EdgeAttributionOptions opt;
  opt.method = EdgeMethod::ig_inputs;
  opt.ig_steps = 0;
  EXPECT_THROW(attribute_edges(*f.model, f.task, opt), InputError);
  const TokenDataset no_pairs = testing::synthetic_task(2, 6, f.cfg.d_vocab, 3, false, false);
  EXPECT_THROW(attribute_edges(*f.model, testing::task_of(no_pairs), EdgeAttributionOptions()), InputError);
}

}  // namespace
}  // namespace headlab
