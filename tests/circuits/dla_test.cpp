// Direct logit attribution and the logit lens.
#include <gtest/gtest.h>

#include <cmath>

#include "circuits/dla.h"
#include "circuits/interventions.h"
#include "core/errors.h"
#include "tests/circuits/circuits_test_util.h"

namespace headlab {
namespace {

std::vector<std::pair<std::string, ModelConfig>> variants() {
  std::vector<std::pair<std::string, ModelConfig>> v;
  auto add = [&](const std::string& name, auto edit) {
    ModelConfig c = testing::small_config();
    edit(c);
    v.push_back({name, c});
  };
  add("gpt2", [](ModelConfig&) {});
  add("rms", [](ModelConfig& c) { c.normalization_type = Normalization::RMS; });
  add("no_norm", [](ModelConfig& c) { c.normalization_type = Normalization::none; });
  add("attn_only", [](ModelConfig& c) { c.attn_only = true; });
  add("rotary", [](ModelConfig& c) { c.positional_embedding_type = PositionalEmbedding::rotary; });
  add("tied", [](ModelConfig& c) { c.tie_embeddings = true; });
  return v;
}

// Biases are 0 after init_gpt2; give them values so the remainder is not trivially 0.
void randomise_biases(Transformer& m, uint64_t seed) {
  std::vector<float> p = m.params_to_host();
  std::mt19937_64 rng(seed);
  for (const ParamInfo& info : m.table().params()) {
    const std::string& n = info.name;
    const bool bias = n.size() > 2 && (n.substr(n.size() - 2) == ".b" || n.find(".b_") != std::string::npos);
    if (!bias || info.alias) continue;
    for (int64_t i = 0; i < info.numel(); ++i)
      p[size_t(info.arena_offset(i))] = float(int64_t(rng() % 2001) - 1000) / 2000.0f;
  }
  m.params_from_host(p);
}

TEST(CircuitsDlaTest, PartsPlusRemainderEqualTheLogitDifference) {
  for (const auto& [name, cfg] : variants()) {
    auto be = make_cpu_backend(1);
    auto model = testing::random_model(cfg, *be, 21);
    randomise_biases(*model, 5);
    const TaskData task = testing::task_of(testing::synthetic_task(5, 7, cfg.d_vocab, 4));
    const DlaReport r = direct_logit_attribution(*model, task, 2);
    EXPECT_GT(std::fabs(r.logit_diff), 1e-2) << name;
    EXPECT_GT(std::fabs(r.remainder()), 1e-3) << name;
    EXPECT_NEAR(r.sum_of_parts() + r.remainder(), r.logit_diff, 1e-4 * std::max(1.0, std::fabs(r.logit_diff))) << name;
    // The logit difference itself is the model's.
    model->forward(task.clean.data(), 5, 7);
    const std::vector<float> logits = model->logits_to_host();
    double mean = 0;
    for (int b = 0; b < 5; ++b) {
      const float* row = logits.data() + (b * 7 + task.answer_pos[size_t(b)]) * cfg.d_vocab;
      mean += double(row[task.answer[size_t(b)]]) - row[task.wrong_answer[size_t(b)]];
    }
    EXPECT_NEAR(r.logit_diff, mean / 5, 1e-5) << name;
  }
}

// Without a final norm the logits are linear in each last-layer head's output, so removing the
// head (zero-ablating its z) lowers the logit difference by exactly its attribution.
TEST(CircuitsDlaTest, LastLayerHeadAttributionEqualsItsAblationEffectWithoutNorms) {
  ModelConfig c = testing::small_config();
  c.normalization_type = Normalization::none;
  auto be = make_cpu_backend(1);
  auto model = testing::random_model(c, *be, 22);
  const TaskData task = testing::task_of(testing::synthetic_task(4, 7, c.d_vocab, 6));
  const DlaReport r = direct_logit_attribution(*model, task, 4);
  MetricTargets t{4, 7, c.d_vocab, task.answer.data(), task.wrong_answer.data(), task.answer_pos.data(), nullptr};
  model->forward(task.clean.data(), 4, 7);
  const double clean = metric_sum(MetricKind::logit_diff, model->logits_to_host().data(), t) / 4;
  const int l = c.n_layers - 1;
  for (int h = 0; h < c.n_heads; ++h) {
    HookSet hooks;
    hooks.add_forward({l, HookSite::attn_z}, zero_ablation(Selection::heads_at({h})));
    model->forward(task.clean.data(), 4, 7, &hooks);
    const double ablated = metric_sum(MetricKind::logit_diff, model->logits_to_host().data(), t) / 4;
    EXPECT_NEAR(clean - ablated, r.heads[size_t(l * c.n_heads + h)], 1e-4) << "L" << l << "H" << h;
  }
}

TEST(CircuitsDlaTest, WithoutWrongAnswersTheAnswerLogitIsAttributed) {
  ModelConfig c = testing::small_config();
  auto be = make_cpu_backend(1);
  auto model = testing::random_model(c, *be, 23);
  randomise_biases(*model, 6);
  TokenDataset ds = testing::synthetic_task(3, 6, c.d_vocab, 7);
  ds.wrong_answer.clear();
  const TaskData task = task_data_from(ds, "t", MetricKind::prob, PairsNeeded::no);
  const DlaReport r = direct_logit_attribution(*model, task, 3);
  EXPECT_FALSE(r.has_wrong_answer);
  model->forward(task.clean.data(), 3, 6);
  const std::vector<float> logits = model->logits_to_host();
  double mean = 0;
  for (int b = 0; b < 3; ++b) mean += logits[size_t((b * 6 + 5) * c.d_vocab + task.answer[size_t(b)])];
  EXPECT_NEAR(r.logit_diff, mean / 3, 1e-5);
  EXPECT_NEAR(r.sum_of_parts() + r.remainder(), r.logit_diff, 1e-4 * std::max(1.0, std::fabs(r.logit_diff)));
}

TEST(CircuitsLogitLensTest, LastPointIsTheModelsOwnOutput) {
  for (const auto& [name, cfg] : variants()) {
    auto be = make_cpu_backend(1);
    auto model = testing::random_model(cfg, *be, 24);
    randomise_biases(*model, 8);
    const int n = 4, T = 6;
    const TaskData task = testing::task_of(testing::synthetic_task(n, T, cfg.d_vocab, 8));
    const LogitLensReport r = logit_lens(*model, task, 3);
    ASSERT_EQ(r.labels.size(), size_t(cfg.n_layers + 1)) << name;
    model->forward(task.clean.data(), n, T);
    const std::vector<float> logits = model->logits_to_host();
    for (int b = 0; b < n; ++b) {
      const float* row = logits.data() + (b * T + T - 1) * cfg.d_vocab;
      const int32_t a = task.answer[size_t(b)];
      double mx = row[0], s = 0;
      for (int v = 0; v < cfg.d_vocab; ++v) mx = std::max(mx, double(row[v]));
      for (int v = 0; v < cfg.d_vocab; ++v) s += std::exp(row[v] - mx);
      int rank = 0;
      for (int v = 0; v < cfg.d_vocab; ++v) rank += row[v] > row[a];
      const size_t at = size_t(cfg.n_layers * n + b);
      EXPECT_NEAR(r.prob[at], std::exp(row[a] - mx) / s, 1e-5) << name;
      EXPECT_EQ(r.rank[at], rank) << name;
    }
    for (double p : r.mean_prob) EXPECT_TRUE(p > 0 && p < 1) << name;
  }
}

}  // namespace
}  // namespace headlab
