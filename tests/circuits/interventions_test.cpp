// Interventions (HookFn builders), metrics, steering and path patching.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "circuits/heads_arg.h"
#include "circuits/interventions.h"
#include "circuits/metrics.h"
#include "circuits/patching.h"
#include "circuits/path_patching.h"
#include "circuits/steering.h"
#include "core/errors.h"
#include "tests/circuits/circuits_test_util.h"

namespace headlab {
namespace {

struct HookedRun {
  ModelConfig cfg = testing::small_config();
  std::unique_ptr<Backend> be = make_cpu_backend(1);
  std::unique_ptr<Transformer> model = testing::random_model(cfg, *be, 31);
  int B = 2, T = 6;
  TokenDataset ds = testing::synthetic_task(B, T, cfg.d_vocab, 32);
  // The activation at p after the given hook ran (a second hook on the same point sees it).
  std::vector<float> after(HookPoint p, HookFn fn) {
    HookSet hooks;
    hooks.add_forward(p, std::move(fn));
    std::vector<float> seen;
    hooks.add_forward(p, [&](HookPoint, ActivationView& v, Backend&) { seen.assign(v.data, v.data + v.numel()); });
    model->forward(ds.tokens.data(), B, T, &hooks);
    return seen;
  }
  HostTensor clean(HookPoint p) { return run_with_cache(*model, ds.tokens.data(), B, T, {p}).at(hook_name(p)); }
};

TEST(CircuitsInterventionsTest, ReplaceTouchesOnlyTheSelectedPositionsAndHeads) {
  HookedRun r;
  for (HookSite site : {HookSite::attn_z, HookSite::attn_pattern, HookSite::resid_pre}) {
    const HookPoint p{1, site};
    const HostTensor clean = r.clean(p);
    auto source = std::make_shared<HostTensor>(clean);
    for (float& x : source->data) x = x * 2 + 100;  // unmistakable values
    const bool heads = site_has_heads(site);
    const Selection sel = heads ? Selection{{1, 4}, {2}} : Selection::at_positions({1, 4});
    const std::vector<float> seen = r.after(p, replace_from(source, sel));
    const ActivationLayout L = activation_layout(site, clean.shape);
    for (int64_t b = 0; b < L.batch; ++b)
      for (int64_t t = 0; t < L.positions; ++t)
        for (int64_t h = 0; h < L.heads; ++h) {
          const bool selected = (t == 1 || t == 4) && (!heads || h == 2);
          for (int64_t i = 0; i < L.width; ++i) {
            const size_t at = size_t(L.offset(b, t, h) + i);
            ASSERT_EQ(seen[at], selected ? source->data[at] : clean.data[at])
                << hook_name(p) << " t=" << t << " h=" << h;
          }
        }
  }
}

TEST(CircuitsInterventionsTest, ZeroAndBroadcastReplaceAndAddDirection) {
  HookedRun r;
  const HookPoint z{0, HookSite::attn_z};
  const HostTensor clean = r.clean(z);
  const ActivationLayout L = activation_layout(z.site, clean.shape);
  const std::vector<float> zeroed = r.after(z, zero_ablation(Selection{{3}, {0}}));
  auto one = std::make_shared<HostTensor>();
  one->shape = clean.shape;
  one->shape[0] = 1;
  for (int64_t i = 0; i < clean.numel() / r.B; ++i) one->data.push_back(float(i));
  const std::vector<float> broadcast = r.after(z, replace_from(one, Selection::heads_at({1})));
  std::vector<float> dir(size_t(L.heads * L.width));
  for (size_t i = 0; i < dir.size(); ++i) dir[i] = float(i) * 0.5f - 3;
  const std::vector<float> added = r.after(z, add_direction(dir, -2.0f, Selection::at_positions({2})));
  for (int64_t b = 0; b < L.batch; ++b)
    for (int64_t t = 0; t < L.positions; ++t)
      for (int64_t h = 0; h < L.heads; ++h)
        for (int64_t i = 0; i < L.width; ++i) {
          const size_t at = size_t(L.offset(b, t, h) + i);
          EXPECT_EQ(zeroed[at], t == 3 && h == 0 ? 0.0f : clean.data[at]);
          EXPECT_EQ(broadcast[at], h == 1 ? one->data[size_t(L.offset(0, t, h) + i)] : clean.data[at]);
          EXPECT_EQ(added[at], t == 2 ? clean.data[at] + -2.0f * dir[size_t(h * L.width + i)] : clean.data[at]);
        }
}

// The attention sink taken away: the selected head's rows lose their weight on position 0 and the
// rest is scaled back to a sum of 1, proportions kept; row 0 and the other heads are untouched; the
// next layer sees the changed pattern's output.
TEST(CircuitsInterventionsTest, RemovingFirstTokenAttentionRenormalisesTheRest) {
  HookedRun r;
  const HookPoint p{0, HookSite::attn_pattern};
  const HostTensor clean = r.clean(p);
  const std::vector<float> seen = r.after(p, remove_first_token_attention(Selection::heads_at({1})));
  const int64_t H = clean.shape[1], T = clean.shape[2];
  for (int64_t b = 0; b < r.B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t q = 0; q < T; ++q) {
        const size_t row = size_t(((b * H + h) * T + q) * T);
        const double rest = 1.0 - double(clean.data[row]);
        for (int64_t k = 0; k < T; ++k) {
          const float before = clean.data[row + size_t(k)], after = seen[row + size_t(k)];
          if (h != 1 || q == 0)
            EXPECT_EQ(after, before) << "h=" << h << " q=" << q << " k=" << k;
          else if (k == 0)
            EXPECT_EQ(after, 0.0f);
          else
            EXPECT_NEAR(after, double(before) / rest, 1e-6) << "h=" << h << " q=" << q << " k=" << k;
        }
      }
  const HookPoint next{1, HookSite::resid_pre};
  HookSet hooks;
  hooks.add_forward(p, remove_first_token_attention(Selection::heads_at({1})));
  hooks.cache(next);
  r.model->forward(r.ds.tokens.data(), r.B, r.T, &hooks);
  const HostTensor unchanged = r.clean(next);
  double diff = 0;
  for (size_t i = 0; i < unchanged.data.size(); ++i)
    diff = std::max(diff, double(std::fabs(hooks.cached().at(next).data[i] - unchanged.data[i])));
  EXPECT_GT(diff, 1e-4);
  EXPECT_THROW(r.after({0, HookSite::attn_z}, remove_first_token_attention()), InputError);
}

TEST(CircuitsInterventionsTest, BadSelectionsAndShapesAreInputErrors) {
  HookedRun r;
  const HookPoint resid{0, HookSite::resid_pre}, z{0, HookSite::attn_z};
  EXPECT_THROW(r.after(resid, zero_ablation(Selection::heads_at({0}))), InputError);
  EXPECT_THROW(r.after(z, zero_ablation(Selection::at_positions({r.T}))), InputError);
  EXPECT_THROW(r.after(z, zero_ablation(Selection::heads_at({r.cfg.n_heads}))), InputError);
  auto wrong = std::make_shared<HostTensor>(r.clean(z));
  wrong->shape[1] += 1;
  EXPECT_THROW(r.after(z, replace_from(wrong)), InputError);
  EXPECT_THROW(r.after(resid, add_direction(std::vector<float>(3, 1.0f), 1.0f)), InputError);
  EXPECT_THROW(
      r.after({0, HookSite::attn_pattern}, add_direction(std::vector<float>(size_t(r.T * r.cfg.n_heads)), 1.0f)),
      InputError);
}

TEST(CircuitsMetricsTest, HandComputedValues) {
  // B = 2, T = 2, V = 3; answer positions 1 and 0.
  const std::vector<float> logits = {0, 0, 0, 1, 2, 3,   // row 0: positions 0, 1
                                     5, 1, 1, 0, 0, 9};  // row 1
  const std::vector<int32_t> answer = {2, 0}, wrong = {0, 1}, pos = {1, 0};
  MetricTargets t{2, 2, 3, answer.data(), wrong.data(), pos.data(), nullptr};
  const auto diff = metric_per_sequence(MetricKind::logit_diff, logits.data(), t);
  EXPECT_DOUBLE_EQ(diff[0], 2.0);
  EXPECT_DOUBLE_EQ(diff[1], 4.0);
  const auto prob = metric_per_sequence(MetricKind::prob, logits.data(), t);
  EXPECT_NEAR(prob[0], std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)), 1e-12);
  EXPECT_NEAR(prob[1], std::exp(5.0) / (std::exp(5.0) + 2 * std::exp(1.0)), 1e-12);
  const std::vector<float> ref = answer_logprobs(logits.data(), 2, 2, 3, pos.data());
  t.reference_logprobs = ref.data();
  const auto self = metric_per_sequence(MetricKind::kl, logits.data(), t);
  EXPECT_NEAR(self[0], 0.0, 1e-7);
  const std::vector<float> uniform = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const auto kl = metric_per_sequence(MetricKind::kl, uniform.data(), t);
  double expect = 0;
  for (int v = 0; v < 3; ++v) expect += std::exp(ref[size_t(v)]) * (ref[size_t(v)] - std::log(1.0 / 3));
  EXPECT_NEAR(kl[0], expect, 1e-6);
  EXPECT_THROW(parse_metric("accuracy"), InputError);
  EXPECT_THROW(metric_per_sequence(MetricKind::kl, logits.data(),
                                   MetricTargets{2, 2, 3, answer.data(), wrong.data(), pos.data(), nullptr}),
               InternalError);
}

TEST(CircuitsMetricsTest, GreaterThanProbabilityDifferenceAndEveryMetricsGradient) {
  // V = 6; years 0..3 on tokens 4, -, 1, 5 (year 1 has no token); row 0 starts at year 1, row 1 at 2.
  const int B = 2, T = 2, V = 6;
  const std::vector<float> logits = {0.3f,  -1.0f, 2.0f, 0.5f, 1.5f, -0.2f, 1.0f, 0.0f,  0.7f, -0.4f, 0.2f,  1.1f,
                                     -0.6f, 0.9f,  0.1f, 1.3f, 0.4f, 2.2f,  0.8f, -1.2f, 0.3f, 0.6f,  -0.1f, 0.5f};
  const std::vector<int32_t> answer = {5, 2}, wrong = {4, 4}, pos = {1, 0}, years = {4, -1, 1, 5}, start = {1, 2};
  MetricTargets t{B, T, V, answer.data(), wrong.data(), pos.data(), nullptr};
  EXPECT_THROW(metric_per_sequence(MetricKind::prob_diff, logits.data(), t), InternalError);
  t.year_tokens = years.data();
  t.n_years = 4;
  t.start_year = start.data();
  const std::vector<float> ref = answer_logprobs(logits.data(), B, T, V, pos.data());
  t.reference_logprobs = ref.data();
  auto softmax_at = [&](int b, int v) {
    const float* row = logits.data() + (b * T + pos[size_t(b)]) * V;
    double z = 0;
    for (int u = 0; u < V; ++u) z += std::exp(double(row[u]));
    return std::exp(double(row[v])) / z;
  };
  const auto pd = metric_per_sequence(MetricKind::prob_diff, logits.data(), t);
  // Row 0 (start 1): above = years 2, 3 (tokens 1, 5); at or below = year 0 (token 4).
  EXPECT_NEAR(pd[0], softmax_at(0, 1) + softmax_at(0, 5) - softmax_at(0, 4), 1e-12);
  // Row 1 (start 2): above = year 3 (token 5); at or below = years 0, 2 (tokens 4, 1).
  EXPECT_NEAR(pd[1], softmax_at(1, 5) - softmax_at(1, 4) - softmax_at(1, 1), 1e-12);
  EXPECT_EQ(parse_metric("prob_diff"), MetricKind::prob_diff);
  // Every metric's gradient against central differences of its sum (in double: the logits as
  // floats move by h exactly representable).
  for (MetricKind m : {MetricKind::logit_diff, MetricKind::prob, MetricKind::kl, MetricKind::prob_diff}) {
    std::vector<float> x = logits;
    for (float& v : x) v *= 1.3f;  // away from the reference, where KL's gradient vanishes
    const std::vector<float> g = metric_gradient(m, x.data(), t);
    const float h = 1.0f / 256;
    for (size_t i = 0; i < x.size(); ++i) {
      std::vector<float> up = x, down = x;
      up[i] += h;
      down[i] -= h;
      const double fd = (metric_sum(m, up.data(), t) - metric_sum(m, down.data(), t)) / (2.0 * h);
      EXPECT_NEAR(g[i], fd, 2e-4) << to_string(m) << " logit " << i;
    }
  }
}

TEST(CircuitsSteeringTest, DirectionIsTheMeanDifferenceAndZeroCoefficientChangesNothing) {
  HookedRun r;
  const HookPoint p{1, HookSite::resid_pre};
  TokenDataset a = testing::synthetic_task(3, r.T, r.cfg.d_vocab, 40, false, false);
  TokenDataset b = testing::synthetic_task(2, r.T, r.cfg.d_vocab, 41, false, false);
  const std::vector<float> dir = mean_difference_direction(*r.model, p, a, "a", b, "b", DirectionPositions::all, 2);
  ASSERT_EQ(dir.size(), size_t(r.cfg.d_model));
  auto mean_of = [&](const TokenDataset& ds) {
    auto c = run_with_cache(*r.model, ds.tokens.data(), int(ds.n_seq), r.T, {p}).at(hook_name(p));
    std::vector<double> m(size_t(r.cfg.d_model), 0.0);
    for (int64_t i = 0; i < ds.n_seq * r.T; ++i)
      for (int d = 0; d < r.cfg.d_model; ++d)
        m[size_t(d)] += c.data[size_t(i * r.cfg.d_model + d)] / double(ds.n_seq * r.T);
    return m;
  };
  const auto ma = mean_of(a), mb = mean_of(b);
  for (int d = 0; d < r.cfg.d_model; ++d) EXPECT_NEAR(dir[size_t(d)], ma[size_t(d)] - mb[size_t(d)], 1e-5);
  EXPECT_EQ(mean_difference_direction(*r.model, p, a, "a", a, "a", DirectionPositions::last, 2),
            std::vector<float>(size_t(r.cfg.d_model), 0.0f));

  const TaskData task = testing::task_of(testing::synthetic_task(3, r.T, r.cfg.d_vocab, 42));
  const SteeringReport s = evaluate_steering(*r.model, task, p, dir, {0.0f, 3.0f}, MetricKind::kl, 2);
  EXPECT_NEAR(s.metric[0], s.unsteered_metric, 1e-9);
  EXPECT_NEAR(s.unsteered_metric, 0.0, 1e-6);
  EXPECT_NEAR(s.loss[0], s.unsteered_loss, 1e-6);
  EXPECT_GT(s.metric[1], 1e-4);  // KL to the unsteered run grows

  // Greedy generation is deterministic and sees the steering hook.
  const std::vector<int32_t> prompt = {1, 2, 3};
  const auto plain = generate(*r.model, prompt, 5, 0.0f, 0);
  EXPECT_EQ(plain, generate(*r.model, prompt, 5, 0.0f, 99));
  ASSERT_EQ(plain.size(), 8u);
  HookSet hooks;
  int calls = 0;
  hooks.add_forward(p, [&](HookPoint, ActivationView&, Backend&) { ++calls; });
  generate(*r.model, prompt, 4, 1.0f, 3, &hooks);
  EXPECT_EQ(calls, 4);
}

TEST(CircuitsPathPatchingTest, PathsAndTheirIdentities) {
  ModelConfig c = testing::small_config();
  c.n_layers = 3;
  auto be = make_cpu_backend(1);
  auto model = testing::random_model(c, *be, 50);
  const TaskData task = testing::task_of(testing::synthetic_task(4, 7, c.d_vocab, 51));
  PathPatchOptions opt;
  opt.batch_size = 3;
  // A sender set that reaches none of the receivers is NaN and not run.
  const PathTarget to_l1 = parse_path_target("L1H0:q,L1H2:kv", c, "r");
  const PathPatchReport r = run_path_patching(*model, task, {{{0, 1}}, {{2, 0}}, {{1, 1}}}, to_l1, opt);
  EXPECT_TRUE(std::isfinite(r.metric[0]));
  EXPECT_TRUE(std::isnan(r.metric[1]));  // layer 2 cannot reach layer 1
  EXPECT_TRUE(std::isnan(r.metric[2]));  // nor can layer 1 itself
  EXPECT_NEAR(r.effect[0], r.normalised[0] - 1, 1e-12);

  // By hand: sender L0H1 to receiver L1H0's q only.
  const PathTarget q_only = parse_path_target("L1H0:q", c, "r");
  const PathPatchReport one = run_path_patching(*model, task, {{{0, 1}}}, q_only, opt);
  std::vector<HookPoint> zs;
  for (int l = 0; l < c.n_layers; ++l) zs.push_back({l, HookSite::attn_z});
  auto clean = run_with_cache(*model, task.clean.data(), 4, 7, zs);
  const std::vector<float> ref =
      answer_logprobs(model->logits_to_host().data(), 4, 7, c.d_vocab, task.answer_pos.data());
  auto corr = run_with_cache(*model, task.corrupted.data(), 4, 7, zs);
  HookSet step2;
  for (HookPoint z : zs) step2.add_forward(z, replace_from(clean.take(z)));
  step2.add_forward(zs[0], replace_from(corr.take(zs[0]), Selection::heads_at({1})));
  step2.cache({1, HookSite::attn_q});
  model->forward(task.clean.data(), 4, 7, &step2);
  HookSet step3;
  step3.add_forward(
      {1, HookSite::attn_q},
      replace_from(std::make_shared<HostTensor>(step2.cached("blocks.1.attn.hook_q")), Selection::heads_at({0})));
  model->forward(task.clean.data(), 4, 7, &step3);
  MetricTargets t{4, 7, c.d_vocab, task.answer.data(), task.wrong_answer.data(), task.answer_pos.data(), ref.data()};
  EXPECT_NEAR(one.metric[0], metric_sum(MetricKind::logit_diff, model->logits_to_host().data(), t) / 4, 1e-9);
  EXPECT_GT(std::fabs(one.effect[0]), 1e-6);

  // A last-layer sender has no path to the logits but the direct one (and the MLP after it), so
  // path patching it equals noising its z in an ordinary patching sweep.
  PatchOptions popt;
  popt.batch_size = 3;
  popt.directions = {PatchDirection::noising};
  const PatchReport noising = run_patching(*model, task, {parse_patch_sweep("z", c)}, popt);
  const PathPatchReport last = run_path_patching(*model, task, {{{2, 1}}}, parse_path_target("logits", c, "r"), opt);
  EXPECT_NEAR(last.metric[0], noising.results[0].metric[size_t(2 * c.n_heads + 1)], 1e-9);
  EXPECT_NEAR(last.clean, noising.clean, 1e-12);
}

TEST(CircuitsPathPatchingTest, ReceiverSpecsAreChecked) {
  const ModelConfig c = testing::small_config();
  const PathTarget t = parse_path_target("L1H0:qk,L1H2", c, "--receivers");
  ASSERT_EQ(t.receivers.size(), 2u);
  EXPECT_TRUE(t.receivers[0].q && t.receivers[0].k && !t.receivers[0].v);
  EXPECT_TRUE(t.receivers[1].q && t.receivers[1].k && t.receivers[1].v);
  EXPECT_EQ(describe(t), "L1H0:qk,L1H2:qkv");
  EXPECT_THROW(parse_path_target("L1H9:q", c, "r"), InputError);
  EXPECT_THROW(parse_path_target("L1H0:x", c, "r"), InputError);
  EXPECT_THROW(parse_path_target("L1H0:qq", c, "r"), InputError);
  EXPECT_THROW(parse_path_target("L1H0,L1H0:k", c, "r"), InputError);
  EXPECT_THROW(parse_path_target("", c, "r"), InputError);
}

TEST(CircuitsHeadsArgTest, ParsesHeadsAndRejectsWhatTheModelLacks) {
  const ModelConfig c = testing::small_config();  // 2 layers, 3 heads
  EXPECT_EQ(parse_head("L1H2", c, "h"), (HeadRef{1, 2}));
  EXPECT_EQ(parse_head("l0h0", c, "h"), (HeadRef{0, 0}));
  EXPECT_EQ(head_label({1, 2}), "L1H2");
  const auto list = parse_head_list("L0H1, L1H0,L1H2", c, "--heads");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[1], (HeadRef{1, 0}));
  for (const char* bad : {"L2H0", "L0H3", "L0", "H1", "L0H", "LxH1", "L0H1x", "L-1H0", ""})
    EXPECT_THROW(parse_head(bad, c, "h"), InputError) << bad;
  EXPECT_THROW(parse_head_list("L0H1,L0H1", c, "h"), InputError);
  EXPECT_THROW(parse_head_list(" , ", c, "h"), InputError);
  try {
    parse_head("L5H1", c, "--senders");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--senders"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("layers 0..1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace headlab
