// Activation patching: exact identities of patched runs, and the sweeps' bookkeeping.
#include <gtest/gtest.h>

#include <cmath>

#include "circuits/heads_arg.h"
#include "circuits/interventions.h"
#include "circuits/patching.h"
#include "core/errors.h"
#include "tests/circuits/circuits_test_util.h"

namespace headlab {
namespace {

using testing::max_abs_diff;

struct Fixture {
  ModelConfig cfg = testing::small_config();
  std::unique_ptr<Backend> be = make_cpu_backend(1);
  std::unique_ptr<Transformer> model;
  TokenDataset ds;
  int B = 3, T = 8;
  explicit Fixture(ModelConfig c = testing::small_config()) : cfg(c) {
    model = testing::random_model(cfg, *be, 7);
    ds = testing::synthetic_task(B, T, cfg.d_vocab, 11);
  }
  std::vector<float> logits(const std::vector<int32_t>& tokens, HookSet* hooks = nullptr) {
    model->forward(tokens.data(), B, T, hooks);
    return model->logits_to_host();
  }
};

TEST(CircuitsPatchingTest, PatchingACleanRunWithItsOwnValuesChangesNothing) {
  Fixture f;
  const std::vector<float> clean = f.logits(f.ds.tokens);
  const std::vector<HookSite> sites = {
      HookSite::resid_pre, HookSite::attn_q,   HookSite::attn_k,    HookSite::attn_v,  HookSite::attn_pattern,
      HookSite::attn_z,    HookSite::attn_out, HookSite::resid_mid, HookSite::mlp_out, HookSite::resid_post};
  for (HookSite s : sites)
    for (int l = 0; l < f.cfg.n_layers; ++l) {
      const HookPoint p{l, s};
      auto cache = run_with_cache(*f.model, f.ds.tokens.data(), f.B, f.T, {p});
      auto source = cache.take(p);
      for (const Selection& sel : {Selection::all(), Selection::at_positions({2, 5}),
                                   site_has_heads(s) ? Selection{{4}, {1}} : Selection::at_positions({0})}) {
        HookSet hooks;
        hooks.add_forward(p, replace_from(source, sel));
        EXPECT_EQ(f.logits(f.ds.tokens, &hooks), clean) << hook_name(p);
      }
    }
}

TEST(CircuitsPatchingTest, PatchingAllOfLayer0ResidPreWithCorruptedGivesCorruptedLogitsExactly) {
  for (bool attn_only : {false, true}) {
    ModelConfig c = testing::small_config();
    c.attn_only = attn_only;
    Fixture f(c);
    const std::vector<float> corrupted = f.logits(f.ds.corrupted);
    const HookPoint p{0, HookSite::resid_pre};
    auto cache = run_with_cache(*f.model, f.ds.corrupted.data(), f.B, f.T, {p});
    HookSet hooks;
    hooks.add_forward(p, replace_from(cache.take(p)));
    const std::vector<float> patched = f.logits(f.ds.tokens, &hooks);
    EXPECT_EQ(patched, corrupted);
    EXPECT_GT(max_abs_diff(f.logits(f.ds.tokens), corrupted), 1e-3f) << "clean and corrupted must differ";
  }
}

// Every hook point of a run with one head's z patched at one position, compared with the clean
// run's: what is upstream of the head (earlier layers, earlier positions, the other heads of its
// layer) must be bitwise unchanged, and the patched position must change.
TEST(CircuitsPatchingTest, PatchingAHeadsZChangesOnlyWhatIsDownstreamOfIt) {
  Fixture f;
  std::vector<HookPoint> points;
  for (HookPoint p : all_hook_points(f.cfg))
    if (p.site != HookSite::q_input && p.site != HookSite::k_input && p.site != HookSite::v_input) points.push_back(p);
  const auto clean = run_with_cache(*f.model, f.ds.tokens.data(), f.B, f.T, points);
  const std::vector<float> clean_logits = f.model->logits_to_host();
  for (HeadRef head : {HeadRef{0, 1}, HeadRef{1, 2}}) {
    const int pos = 4;
    const HookPoint z{head.layer, HookSite::attn_z};
    auto corrupted = run_with_cache(*f.model, f.ds.corrupted.data(), f.B, f.T, {z});
    HookSet hooks;
    hooks.add_forward(z, replace_from(corrupted.take(z), Selection{{pos}, {head.head}}));
    std::map<std::string, HostTensor> patched;
    for (HookPoint p : points)
      hooks.add_forward(p, [&patched](HookPoint q, ActivationView& v, Backend&) {
        patched[hook_name(q)] = HostTensor{v.shape, std::vector<float>(v.data, v.data + v.numel())};
      });
    f.model->forward(f.ds.tokens.data(), f.B, f.T, &hooks);
    const std::vector<float> logits = f.model->logits_to_host();
    for (HookPoint p : points) {
      const std::string name = hook_name(p);
      const HostTensor& a = clean.at(name);
      const HostTensor& b = patched.at(name);
      const ActivationLayout L = activation_layout(p.site, a.shape);
      const bool upstream_point = p.layer >= 0
                                      ? (p.layer < head.layer || (p.layer == head.layer && p.site < HookSite::attn_z))
                                      : p.site == HookSite::embed || p.site == HookSite::pos_embed;
      for (int64_t bb = 0; bb < L.batch; ++bb)
        for (int64_t t = 0; t < L.positions; ++t)
          for (int64_t h = 0; h < L.heads; ++h) {
            const bool other_head_same_z = p == z && h != head.head;
            const bool must_match = upstream_point || t < pos || other_head_same_z;
            if (!must_match) continue;
            for (int64_t i = 0; i < L.width; ++i)
              ASSERT_EQ(a.data[size_t(L.offset(bb, t, h) + i)], b.data[size_t(L.offset(bb, t, h) + i)])
                  << name << " b=" << bb << " pos=" << t << " head=" << h << " after patching " << head_label(head);
          }
    }
    // The patched position and the logits there do change.
    const int64_t V = f.cfg.d_vocab;
    float changed = 0, before = 0;
    for (int64_t bb = 0; bb < f.B; ++bb)
      for (int64_t t = 0; t < f.T; ++t)
        for (int64_t v = 0; v < V; ++v) {
          const size_t i = size_t((bb * f.T + t) * V + v);
          (t < pos ? before : changed) = std::max(t < pos ? before : changed, std::fabs(logits[i] - clean_logits[i]));
        }
    EXPECT_EQ(before, 0.0f);
    EXPECT_GT(changed, 1e-5f) << head_label(head);
  }
}

TEST(CircuitsPatchingTest, SweepGivesOneAtTheFinalResidualOfTheAnswerPosition) {
  Fixture f;
  f.ds = testing::synthetic_task(5, f.T, f.cfg.d_vocab, 12, /*answer_pos_early=*/true);
  const TaskData task = testing::task_of(f.ds);
  ASSERT_EQ(task.T, f.T - 1);  // rows end at the answer position
  PatchOptions opt;
  opt.batch_size = 2;
  opt.directions = {PatchDirection::denoising, PatchDirection::noising};
  const PatchReport r = run_patching(*f.model, task, {parse_patch_sweep("resid_post", f.cfg)}, opt);
  ASSERT_EQ(r.results.size(), 2u);
  const int L = f.cfg.n_layers, T = task.T;
  ASSERT_NE(r.clean, r.corrupted);
  for (const PatchResult& res : r.results) {
    ASSERT_EQ(res.shape, (std::vector<int64_t>{L, T}));
    // The final residual at the answer position decides the answer logits alone.
    const bool denoise = res.direction == PatchDirection::denoising;
    EXPECT_NEAR(res.normalised[size_t((L - 1) * T + T - 1)], denoise ? 1.0 : 0.0, 1e-5);
    // Position 0 holds the same token in both twins and sees no other: patching it changes nothing.
    for (int l = 0; l < L; ++l) EXPECT_EQ(res.normalised[size_t(l * T + 0)], denoise ? 0.0 : 1.0);
  }
  EXPECT_EQ(r.forwards, 3 * 2 + 2 * 3 * int64_t(L) * T);  // 3 batches: 2 unpatched runs and the sweep each
}

// Where a batch's answers all come early, positions after them need no forward: the metric cannot
// change. The results must not depend on which batches could skip.
TEST(CircuitsPatchingTest, PositionsAfterABatchsAnswersAreSkippedWithoutChangingResults) {
  Fixture f;
  f.ds = testing::synthetic_task(5, f.T, f.cfg.d_vocab, 14);
  f.ds.answer_pos = {f.T - 1, f.T - 1, f.T - 3, f.T - 3, f.T - 3};
  const TaskData task = testing::task_of(f.ds);
  PatchOptions opt;
  opt.batch_size = 5;
  const std::vector<PatchSweep> sweeps = {parse_patch_sweep("resid_pre", f.cfg), parse_patch_sweep("z_pos", f.cfg)};
  const PatchReport whole = run_patching(*f.model, task, sweeps, opt);
  opt.batch_size = 2;  // batches {0, 1}, {2, 3}, {4}: the last two skip positions T-2 and T-1
  const PatchReport split = run_patching(*f.model, task, sweeps, opt);
  for (size_t k = 0; k < sweeps.size(); ++k)
    for (size_t i = 0; i < whole.results[k].metric.size(); ++i)
      EXPECT_NEAR(whole.results[k].metric[i], split.results[k].metric[i], 1e-9) << sweeps[k].name << " " << i;
  const int64_t L = f.cfg.n_layers, H = f.cfg.n_heads, T = f.T;
  EXPECT_EQ(whole.forwards, 2 + L * T + L * H * T);
  EXPECT_EQ(split.forwards, 3 * 2 + (L + L * H) * (T + 2 * (T - 2)));
}

TEST(CircuitsPatchingTest, SweepElementEqualsAHandPatchedRunAndBatchingDoesNotMatter) {
  Fixture f;
  f.ds = testing::synthetic_task(5, f.T, f.cfg.d_vocab, 13);
  for (MetricKind metric : {MetricKind::logit_diff, MetricKind::prob, MetricKind::kl}) {
    const TaskData task = testing::task_of(f.ds, metric);
    PatchOptions opt;
    opt.metric = metric;
    opt.batch_size = 5;
    const std::vector<PatchSweep> sweeps = {parse_patch_sweep("z", f.cfg), parse_patch_sweep("attn_out", f.cfg)};
    const PatchReport whole = run_patching(*f.model, task, sweeps, opt);
    opt.batch_size = 2;
    const PatchReport split = run_patching(*f.model, task, sweeps, opt);
    for (size_t k = 0; k < whole.results.size(); ++k)
      for (size_t i = 0; i < whole.results[k].metric.size(); ++i)
        EXPECT_NEAR(whole.results[k].metric[i], split.results[k].metric[i], 1e-9);

    // Element (layer 1, head 2) of the z sweep, by hand: corrupted run, clean z of L1H2 patched in.
    const HookPoint z{1, HookSite::attn_z};
    auto clean = run_with_cache(*f.model, task.clean.data(), 5, f.T, {z});
    const std::vector<float> clean_logits = f.model->logits_to_host();
    const std::vector<float> ref = answer_logprobs(clean_logits.data(), 5, f.T, f.cfg.d_vocab, task.answer_pos.data());
    MetricTargets t{5,         f.T, f.cfg.d_vocab, task.answer.data(), task.wrong_answer.data(), task.answer_pos.data(),
                    ref.data()};
    HookSet hooks;
    hooks.add_forward(z, replace_from(clean.take(z), Selection::heads_at({2})));
    f.model->forward(task.corrupted.data(), 5, f.T, &hooks);
    const double by_hand = metric_sum(metric, f.model->logits_to_host().data(), t) / 5.0;
    EXPECT_NEAR(whole.results[0].metric[size_t(1 * f.cfg.n_heads + 2)], by_hand, 1e-9) << to_string(metric);
    EXPECT_NEAR(whole.results[0].normalised[5],
                (whole.results[0].metric[5] - whole.corrupted) / (whole.clean - whole.corrupted), 1e-12);
    if (metric == MetricKind::kl) {
      EXPECT_NEAR(whole.clean, 0.0, 1e-6);
    }
  }
}

// Patching by role: the role's position differs from row to row, and the group's metric is the mean,
// over rows, of each row patched alone at its own position (an absolute-position sweep on that row).
TEST(CircuitsPatchingTest, PositionGroupsPatchEachRowAtItsOwnPosition) {
  Fixture f;
  f.B = 5;
  f.ds = testing::synthetic_task(f.B, f.T, f.cfg.d_vocab, 13);
  const TaskData task = testing::task_of(f.ds);
  // Group 0 at position 1 + r % 3 of row r, group 1 at position 6 everywhere, group 2 nowhere.
  std::vector<int32_t> groups(size_t(f.B * f.T), -1);
  for (int r = 0; r < f.B; ++r) {
    groups[size_t(r * f.T + 1 + r % 3)] = 0;
    groups[size_t(r * f.T + 6)] = 1;
  }
  const std::vector<PatchSweep> sweeps = {parse_patch_sweep("resid_pre", f.cfg), parse_patch_sweep("z_pos", f.cfg)};
  PatchOptions opt;
  opt.batch_size = 2;
  opt.directions = {PatchDirection::denoising, PatchDirection::noising};
  opt.position_groups = &groups;
  opt.n_groups = 3;
  const PatchReport by_role = run_patching(*f.model, task, sweeps, opt);
  PatchOptions plain;
  plain.directions = opt.directions;
  for (size_t k = 0; k < by_role.results.size(); ++k) {
    const PatchResult& g = by_role.results[k];
    const int H = g.sweep.by_head ? f.cfg.n_heads : 1;
    ASSERT_EQ(g.shape.back(), 3);
    for (int l = 0; l < f.cfg.n_layers; ++l)
      for (int h = 0; h < H; ++h) {
        double mean0 = 0, mean1 = 0;
        for (int r = 0; r < f.B; ++r) {
          TokenDataset one = f.ds;
          one.n_seq = 1;
          one.tokens.assign(f.ds.tokens.begin() + r * f.T, f.ds.tokens.begin() + (r + 1) * f.T);
          one.corrupted.assign(f.ds.corrupted.begin() + r * f.T, f.ds.corrupted.begin() + (r + 1) * f.T);
          one.answer = {f.ds.answer[size_t(r)]};
          one.wrong_answer = {f.ds.wrong_answer[size_t(r)]};
          one.answer_pos = {f.ds.answer_pos[size_t(r)]};
          const PatchReport alone = run_patching(*f.model, testing::task_of(one), {g.sweep}, plain);
          const PatchResult& a = alone.results[g.direction == PatchDirection::denoising ? 0 : 1];
          const int Ta = int(a.shape.back());
          mean0 += a.metric[size_t((l * H + h) * Ta + 1 + r % 3)] / f.B;
          mean1 += a.metric[size_t((l * H + h) * Ta + 6)] / f.B;
        }
        EXPECT_NEAR(g.metric[size_t((l * H + h) * 3 + 0)], mean0, 1e-4) << g.sweep.name << " L" << l << "H" << h;
        EXPECT_NEAR(g.metric[size_t((l * H + h) * 3 + 1)], mean1, 1e-4) << g.sweep.name << " L" << l << "H" << h;
        // A group with no position patches nothing: the unpatched metric.
        const double unpatched = g.direction == PatchDirection::denoising ? by_role.corrupted : by_role.clean;
        EXPECT_NEAR(g.metric[size_t((l * H + h) * 3 + 2)], unpatched, 1e-5);
      }
  }
}

TEST(CircuitsPatchingTest, PatchingNeedsCorruptedRows) {
  Fixture f;
  const TokenDataset no_pairs = testing::synthetic_task(3, f.T, f.cfg.d_vocab, 3, false, /*pairs=*/false);
  const TaskData task = task_data_from(no_pairs, "t", MetricKind::logit_diff, PairsNeeded::no);
  EXPECT_THROW(run_patching(*f.model, task, {parse_patch_sweep("z", f.cfg)}, {}), InputError);
  EXPECT_THROW(task_data_from(no_pairs, "t", MetricKind::logit_diff, PairsNeeded::yes), InputError);
}

TEST(CircuitsPatchingTest, SweepNamesAreCheckedAgainstTheModel) {
  ModelConfig c = testing::small_config();
  EXPECT_EQ(parse_patch_sweep("z_pos", c).site, HookSite::attn_z);
  EXPECT_TRUE(parse_patch_sweep("z_pos", c).by_position);
  EXPECT_EQ(sweep_shape(parse_patch_sweep("q_pos", c), c, 7), (std::vector<int64_t>{2, 3, 7}));
  EXPECT_THROW(parse_patch_sweep("resid_sideways", c), InputError);
  EXPECT_THROW(parse_patch_sweeps("z,z", c), InputError);
  c.attn_only = true;
  EXPECT_THROW(parse_patch_sweep("mlp_out", c), InputError);
  EXPECT_EQ(parse_patch_directions("both", "d").size(), 2u);
  EXPECT_THROW(parse_patch_directions("sideways", "d"), InputError);
}

}  // namespace
}  // namespace headlab
