// Changes at the hook points the kernels fuse away (ln*.hook_scale, ln*.hook_normalized,
// attn.hook_attn_scores) reach the rest of the forward, as they do in TransformerLens.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/errors.h"
#include "model/backend.h"
#include "model/hooks.h"
#include "model/transformer.h"
#include "tests/model/model_test_util.h"

namespace headlab {
namespace {

// A tiny model whose every parameter (biases and norm weights too) is random, so that a wrong
// recomputation cannot hide behind zeros and ones.
struct ChangeFixture {
  ModelConfig cfg;
  std::unique_ptr<Backend> be = make_cpu_backend(1);
  std::unique_ptr<Transformer> model;
  int B = 2, T = 6;
  std::vector<int32_t> tokens;
  std::vector<float> params;
  explicit ChangeFixture(Normalization norm = Normalization::LN) {
    cfg = testing::tiny_config();
    cfg.normalization_type = norm;
    model = std::make_unique<Transformer>(cfg, *be);
    model->init_gpt2(5);
    params = model->params_to_host();
    std::mt19937 rng(3);
    std::normal_distribution<float> noise(0.0f, 0.3f);
    for (float& p : params) p += noise(rng);
    model->params_from_host(params);
    tokens = testing::random_tokens(B * T, cfg.d_vocab, 9);
  }
  std::vector<float> logits(HookSet* hooks = nullptr) {
    model->forward(tokens.data(), B, T, hooks);
    return model->logits_to_host();
  }
  // logits [BT, V] = h [BT, D] · W_U + b_U, on the host.
  std::vector<float> unembed(const std::vector<float>& h) const {
    const auto& off = model->table().offsets();
    const int64_t D = cfg.d_model, V = cfg.d_vocab, BT = int64_t(B) * T;
    std::vector<float> out(static_cast<size_t>(BT * V));
    for (int64_t i = 0; i < BT; ++i)
      for (int64_t v = 0; v < V; ++v) {
        double s = params[size_t(off.b_U + v)];
        for (int64_t d = 0; d < D; ++d) s += double(h[size_t(i * D + d)]) * params[size_t(off.W_U + d * V + v)];
        out[size_t(i * V + v)] = float(s);
      }
    return out;
  }
};

void expect_near_all(const std::vector<float>& a, const std::vector<float>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << "at " << i;
}

TEST(ModelHookChangeTest, MaskedScoresMakeThePatternOfTheMask) {
  ChangeFixture f;
  // Head 0 of layer 1 may look only at position 0.
  HookSet by_scores;
  by_scores.add_forward({1, HookSite::attn_scores}, [&](HookPoint, ActivationView& v, Backend&) {
    const int64_t H = v.shape[1], T = v.shape[2];
    for (int64_t b = 0; b < v.shape[0]; ++b)
      for (int64_t q = 0; q < T; ++q)
        for (int64_t k = 1; k < T; ++k) v.data[((b * H + 0) * T + q) * T + k] = -std::numeric_limits<float>::infinity();
  });
  by_scores.cache({1, HookSite::attn_pattern});
  const std::vector<float> masked = f.logits(&by_scores);
  const HostTensor& pattern = by_scores.cached("blocks.1.attn.hook_pattern");
  const int64_t H = f.cfg.n_heads, T = f.T;
  for (int64_t b = 0; b < f.B; ++b)
    for (int64_t q = 0; q < T; ++q)
      for (int64_t k = 0; k < T; ++k) EXPECT_EQ(pattern.data[size_t(((b * H) * T + q) * T + k)], k == 0 ? 1.0f : 0.0f);
  // The same pattern set directly gives the same logits.
  HookSet by_pattern;
  by_pattern.add_forward({1, HookSite::attn_pattern}, [&](HookPoint, ActivationView& v, Backend&) {
    for (int64_t b = 0; b < f.B; ++b)
      for (int64_t q = 0; q < T; ++q)
        for (int64_t k = 0; k < T; ++k) v.data[size_t(((b * H) * T + q) * T + k)] = k == 0 ? 1.0f : 0.0f;
  });
  expect_near_all(masked, f.logits(&by_pattern), 1e-5);
  double moved = 0;
  const std::vector<float> clean = f.logits();
  for (size_t i = 0; i < clean.size(); ++i) moved += std::fabs(clean[i] - masked[i]);
  EXPECT_GT(moved, 1e-3) << "masking a head changed nothing";
}

TEST(ModelHookChangeTest, AConstantAddedToEveryScoreOfARowChangesNothing) {
  ChangeFixture f;
  HookSet shift;
  shift.add_forward({0, HookSite::attn_scores}, [&](HookPoint, ActivationView& v, Backend&) {
    for (int64_t i = 0; i < v.numel(); ++i) v.data[i] += 2.5f;  // -inf stays -inf
  });
  expect_near_all(f.logits(&shift), f.logits(), 2e-5);
}

TEST(ModelHookChangeTest, ScaleIsTheStandardDeviationAndAChangedOneRescalesTheOutput) {
  ChangeFixture f;
  const int64_t D = f.cfg.d_model, BT = int64_t(f.B) * f.T;
  HookSet cache;
  cache.cache({-1, HookSite::lnf_scale});
  cache.cache({1, HookSite::resid_post});
  const std::vector<float> clean = f.logits(&cache);
  const std::vector<float>& x = cache.cached("blocks.1.hook_resid_post").data;
  const std::vector<float>& scale = cache.cached("ln_final.hook_scale").data;
  std::vector<float> mean(static_cast<size_t>(BT));
  for (int64_t i = 0; i < BT; ++i) {  // TransformerLens: scale = sqrt(mean((x - mean)^2) + eps)
    double m = 0, v = 0;
    for (int64_t d = 0; d < D; ++d) m += x[size_t(i * D + d)];
    m /= double(D);
    for (int64_t d = 0; d < D; ++d) v += (x[size_t(i * D + d)] - m) * (x[size_t(i * D + d)] - m);
    mean[size_t(i)] = float(m);
    EXPECT_NEAR(scale[size_t(i)], std::sqrt(v / double(D) + f.cfg.eps), 1e-5);
  }
  // Scale frozen at 1: the final norm becomes (x - mean) * w + b.
  HookSet unit;
  unit.add_forward({-1, HookSite::lnf_scale}, [](HookPoint, ActivationView& v, Backend&) {
    for (int64_t i = 0; i < v.numel(); ++i) v.data[i] = 1.0f;
  });
  const auto& off = f.model->table().offsets();
  std::vector<float> h(static_cast<size_t>(BT * D));
  for (int64_t i = 0; i < BT; ++i)
    for (int64_t d = 0; d < D; ++d)
      h[size_t(i * D + d)] =
          (x[size_t(i * D + d)] - mean[size_t(i)]) * f.params[size_t(off.lnf_w + d)] + f.params[size_t(off.lnf_b + d)];
  const std::vector<float> frozen = f.logits(&unit);
  expect_near_all(frozen, f.unembed(h), 1e-4);
  double moved = 0;
  for (size_t i = 0; i < clean.size(); ++i) moved += std::fabs(clean[i] - frozen[i]);
  EXPECT_GT(moved, 1e-3);
}

TEST(ModelHookChangeTest, ZeroedNormalizedValueLeavesOnlyTheNormBias) {
  for (Normalization norm : {Normalization::LN, Normalization::RMS}) {
    ChangeFixture f(norm);
    HookSet zero;
    zero.add_forward({-1, HookSite::lnf_normalized}, [](HookPoint, ActivationView& v, Backend&) {
      for (int64_t i = 0; i < v.numel(); ++i) v.data[i] = 0.0f;
    });
    const auto& off = f.model->table().offsets();
    const int64_t D = f.cfg.d_model, BT = int64_t(f.B) * f.T;
    std::vector<float> h(static_cast<size_t>(BT * D), 0.0f);
    if (norm == Normalization::LN)
      for (int64_t i = 0; i < BT; ++i)
        for (int64_t d = 0; d < D; ++d) h[size_t(i * D + d)] = f.params[size_t(off.lnf_b + d)];
    expect_near_all(f.logits(&zero), f.unembed(h), 1e-4);
  }
}

TEST(ModelHookChangeTest, ChangedBlockNormReachesTheLogitsAndCachingAloneChangesNothing) {
  ChangeFixture f(Normalization::RMS);
  const std::vector<float> clean = f.logits();
  HookSet cache;
  cache.cache({0, HookSite::ln1_scale});
  cache.cache({0, HookSite::ln2_normalized});
  EXPECT_EQ(f.logits(&cache), clean);  // formed, not changed: the kernels' values stay
  HookSet doubled;
  doubled.add_forward({0, HookSite::ln2_scale}, [](HookPoint, ActivationView& v, Backend&) {
    for (int64_t i = 0; i < v.numel(); ++i) v.data[i] *= 2.0f;
  });
  // RMS output is linear in 1/scale: doubling the scale equals halving the normalized value.
  HookSet halved;
  halved.add_forward({0, HookSite::ln2_normalized}, [](HookPoint, ActivationView& v, Backend&) {
    for (int64_t i = 0; i < v.numel(); ++i) v.data[i] *= 0.5f;
  });
  const std::vector<float> a = f.logits(&doubled);
  expect_near_all(a, f.logits(&halved), 1e-5);
  double moved = 0;
  for (size_t i = 0; i < clean.size(); ++i) moved += std::fabs(clean[i] - a[i]);
  EXPECT_GT(moved, 1e-3);
}

TEST(ModelHookChangeTest, BackwardAfterAChangedNormIsRefusedAndAfterACachedOneRuns) {
  ChangeFixture f;
  const auto targets = testing::next_token_targets(f.tokens, f.B, f.T);
  HookSet cache;
  cache.cache({-1, HookSite::lnf_scale});
  f.model->forward_loss(f.tokens.data(), targets.data(), f.B, f.T, &cache);
  EXPECT_NO_THROW(f.model->backward());
  HookSet changed;
  changed.add_forward({0, HookSite::ln1_scale}, [](HookPoint, ActivationView& v, Backend&) { v.data[0] += 1.0f; });
  f.model->forward_loss(f.tokens.data(), targets.data(), f.B, f.T, &changed);
  EXPECT_THROW(f.model->backward(), InputError);
  // Changed scores are fine: backward goes through the softmax of the changed pattern.
  HookSet scores;
  scores.add_forward({0, HookSite::attn_scores}, [](HookPoint, ActivationView& v, Backend&) { v.data[0] += 1.0f; });
  f.model->forward_loss(f.tokens.data(), targets.data(), f.B, f.T, &scores);
  EXPECT_NO_THROW(f.model->backward());
}

}  // namespace
}  // namespace headlab
