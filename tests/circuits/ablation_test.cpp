// Ablation: what an ablated head removes, and run_ablation against hand-run forwards.
#include <gtest/gtest.h>

#include <cmath>

#include "circuits/ablation.h"
#include "circuits/interventions.h"
#include "core/errors.h"
#include "tests/circuits/circuits_test_util.h"

namespace headlab {
namespace {

TEST(CircuitsAblationTest, ZeroAblatingAHeadRemovesExactlyItsResultFromAttnOut) {
  for (bool attn_only : {false, true}) {
    ModelConfig c = testing::small_config();
    c.attn_only = attn_only;
    auto be = make_cpu_backend(1);
    auto model = testing::random_model(c, *be, 3);
    const int B = 2, T = 7;
    const TokenDataset ds = testing::synthetic_task(B, T, c.d_vocab, 5);
    for (int l = 0; l < c.n_layers; ++l) {
      const HookPoint result{l, HookSite::attn_result}, out{l, HookSite::attn_out}, z{l, HookSite::attn_z};
      const auto clean = run_with_cache(*model, ds.tokens.data(), B, T, {result, out});
      for (int h = 0; h < c.n_heads; ++h) {
        HookSet hooks;
        hooks.add_forward(z, zero_ablation(Selection::heads_at({h})));
        std::vector<float> ablated;
        hooks.add_forward(out,
                          [&](HookPoint, ActivationView& v, Backend&) { ablated.assign(v.data, v.data + v.numel()); });
        model->forward(ds.tokens.data(), B, T, &hooks);
        const HostTensor& r = clean.at(hook_name(result));  // [B, T, H, D]
        const HostTensor& o = clean.at(hook_name(out));     // [B, T, D]
        const int64_t D = c.d_model;
        float worst = 0, removed = 0;
        for (int64_t bt = 0; bt < int64_t(B) * T; ++bt)
          for (int64_t d = 0; d < D; ++d) {
            const float head_part = r.data[size_t((bt * c.n_heads + h) * D + d)];
            const float expected = o.data[size_t(bt * D + d)] - head_part;
            worst = std::max(worst, std::fabs(ablated[size_t(bt * D + d)] - expected));
            removed = std::max(removed, std::fabs(head_part));
          }
        EXPECT_LT(worst, 1e-5f) << "L" << l << "H" << h;
        EXPECT_GT(removed, 1e-3f) << "the head must contribute something for the test to mean anything";
      }
    }
  }
}

TEST(CircuitsAblationTest, ReportMatchesHandRunForwards) {
  ModelConfig c = testing::small_config();
  auto be = make_cpu_backend(1);
  auto model = testing::random_model(c, *be, 4);
  const TokenDataset ds = testing::synthetic_task(5, 8, c.d_vocab, 6);
  const TaskData task = testing::task_of(ds);
  AblationOptions opt;
  opt.batch_size = 2;
  const AblationReport r = run_ablation(*model, task, opt);
  ASSERT_EQ(r.head_metric.size(), size_t(c.n_layers * c.n_heads));
  ASSERT_EQ(r.mlp_metric.size(), size_t(c.n_layers));

  auto scored = [&](HookSet* hooks, double& loss) {
    const float mean_loss = model->forward_loss(task.clean.data(), task.targets.data(), 5, 8, hooks);
    loss = mean_loss;
    MetricTargets t{5, 8, c.d_vocab, task.answer.data(), task.wrong_answer.data(), task.answer_pos.data(), nullptr};
    return metric_sum(MetricKind::logit_diff, model->logits_to_host().data(), t) / 5.0;
  };
  double loss = 0;
  EXPECT_NEAR(r.clean_metric, scored(nullptr, loss), 1e-9);
  EXPECT_NEAR(r.clean_loss, loss, 1e-5);
  HookSet head;
  head.add_forward({1, HookSite::attn_z}, zero_ablation(Selection::heads_at({2})));
  EXPECT_NEAR(r.head_metric[size_t(1 * c.n_heads + 2)], scored(&head, loss), 1e-9);
  EXPECT_NEAR(r.head_loss[size_t(1 * c.n_heads + 2)], loss, 1e-5);
  HookSet mlp;
  mlp.add_forward({0, HookSite::mlp_out}, zero_ablation());
  EXPECT_NEAR(r.mlp_metric[0], scored(&mlp, loss), 1e-9);
  HookSet layer;
  layer.add_forward({0, HookSite::attn_z}, zero_ablation());
  EXPECT_NEAR(r.attn_metric[0], scored(&layer, loss), 1e-9);
  EXPECT_NE(r.attn_metric[0], r.clean_metric);
}

// Mean and resample ablation over a reference that holds only the task's own row replace every
// activation with itself: nothing may change.
TEST(CircuitsAblationTest, MeanAndResampleOverTheRowItselfChangeNothing) {
  ModelConfig c = testing::small_config();
  auto be = make_cpu_backend(1);
  auto model = testing::random_model(c, *be, 8);
  const TaskData task = testing::task_of(testing::synthetic_task(1, 6, c.d_vocab, 9));
  for (AblationKind kind : {AblationKind::mean, AblationKind::resample}) {
    AblationOptions opt;
    opt.kind = kind;
    opt.reference = &task;
    const AblationReport r = run_ablation(*model, task, opt);
    for (double m : r.head_metric) EXPECT_NEAR(m, r.clean_metric, 1e-5) << to_string(kind);
    for (double m : r.mlp_metric) EXPECT_NEAR(m, r.clean_metric, 1e-5) << to_string(kind);
    for (double l : r.attn_loss) EXPECT_NEAR(l, r.clean_loss, 1e-5) << to_string(kind);
  }
}

TEST(CircuitsAblationTest, MeanActivationsArePositionwiseMeansOverRows) {
  ModelConfig c = testing::small_config();
  auto be = make_cpu_backend(1);
  auto model = testing::random_model(c, *be, 10);
  const int n = 5, T = 6;
  const TokenDataset ds = testing::synthetic_task(n, T, c.d_vocab, 2);
  const HookPoint z{1, HookSite::attn_z};
  const auto means = mean_activations(*model, {z}, ds.tokens.data(), n, T, 2);
  const auto all = run_with_cache(*model, ds.tokens.data(), n, T, {z});
  const HostTensor& t = all.at(hook_name(z));
  const HostTensor& m = means.at(z);
  ASSERT_EQ(m.shape, (std::vector<int64_t>{1, T, c.n_heads, c.d_head}));
  const size_t per = m.data.size();
  for (size_t i = 0; i < per; ++i) {
    double s = 0;
    for (int b = 0; b < n; ++b) s += t.data[size_t(b) * per + i];
    EXPECT_NEAR(m.data[i], s / n, 1e-5);
  }
  // Mean ablation really broadcasts the mean into every row.
  HookSet hooks;
  hooks.add_forward(z, mean_ablation(means.shared(z), Selection::heads_at({0})));
  std::vector<float> seen;
  hooks.add_forward(z, [&](HookPoint, ActivationView& v, Backend&) { seen.assign(v.data, v.data + v.numel()); });
  model->forward(ds.tokens.data(), n, T, &hooks);
  for (int b = 0; b < n; ++b)
    for (int p = 0; p < T; ++p)
      for (int d = 0; d < c.d_head; ++d) {
        const size_t off = size_t(((p * c.n_heads) + 0) * c.d_head + d);
        EXPECT_EQ(seen[size_t(b) * per + off], m.data[off]);
      }
}

TEST(CircuitsAblationTest, ReferenceOfAnotherLengthIsAnInputError) {
  ModelConfig c = testing::small_config();
  auto be = make_cpu_backend(1);
  auto model = testing::random_model(c, *be, 8);
  const TaskData task = testing::task_of(testing::synthetic_task(2, 6, c.d_vocab, 9));
  const TaskData other = testing::task_of(testing::synthetic_task(2, 7, c.d_vocab, 9));
  AblationOptions opt;
  opt.kind = AblationKind::mean;
  opt.reference = &other;
  EXPECT_THROW(run_ablation(*model, task, opt), InputError);
  EXPECT_THROW(parse_ablation_kind("half", "--ablation"), InputError);
}

}  // namespace
}  // namespace headlab
