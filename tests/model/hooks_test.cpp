// Hook points: the exact ordered names per model kind, parsing, caching shapes, and that hooks
// see and change what they should.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "core/errors.h"
#include "model/backend.h"
#include "model/hooks.h"
#include "model/transformer.h"
#include "tests/model/model_test_util.h"

namespace headlab {
namespace {

std::vector<std::string> names_of(const ModelConfig& c) {
  std::vector<std::string> out;
  for (HookPoint p : all_hook_points(c)) out.push_back(hook_name(p));
  return out;
}

TEST(ModelHooksTest, Gpt2StyleNamesInForwardOrder) {
  ModelConfig c = testing::tiny_config();
  c.n_layers = 1;
  const std::vector<std::string> expected = {"hook_embed",
                                             "hook_pos_embed",
                                             "blocks.0.hook_resid_pre",
                                             "blocks.0.ln1.hook_scale",
                                             "blocks.0.ln1.hook_normalized",
                                             "blocks.0.hook_q_input",
                                             "blocks.0.hook_k_input",
                                             "blocks.0.hook_v_input",
                                             "blocks.0.attn.hook_q",
                                             "blocks.0.attn.hook_k",
                                             "blocks.0.attn.hook_v",
                                             "blocks.0.attn.hook_attn_scores",
                                             "blocks.0.attn.hook_pattern",
                                             "blocks.0.attn.hook_z",
                                             "blocks.0.attn.hook_result",
                                             "blocks.0.hook_attn_out",
                                             "blocks.0.hook_resid_mid",
                                             "blocks.0.hook_mlp_in",
                                             "blocks.0.ln2.hook_scale",
                                             "blocks.0.ln2.hook_normalized",
                                             "blocks.0.mlp.hook_pre",
                                             "blocks.0.mlp.hook_post",
                                             "blocks.0.hook_mlp_out",
                                             "blocks.0.hook_resid_post",
                                             "ln_final.hook_scale",
                                             "ln_final.hook_normalized"};
  EXPECT_EQ(names_of(c), expected);
}

TEST(ModelHooksTest, AttentionOnlyNoNormRotaryNamesInForwardOrder) {
  ModelConfig c = testing::tiny_config();
  c.n_layers = 1;
  c.attn_only = true;
  c.normalization_type = Normalization::none;
  c.positional_embedding_type = PositionalEmbedding::rotary;
  const std::vector<std::string> expected = {"hook_embed",
                                             "blocks.0.hook_resid_pre",
                                             "blocks.0.hook_q_input",
                                             "blocks.0.hook_k_input",
                                             "blocks.0.hook_v_input",
                                             "blocks.0.attn.hook_q",
                                             "blocks.0.attn.hook_k",
                                             "blocks.0.attn.hook_v",
                                             "blocks.0.attn.hook_attn_scores",
                                             "blocks.0.attn.hook_pattern",
                                             "blocks.0.attn.hook_z",
                                             "blocks.0.attn.hook_result",
                                             "blocks.0.hook_attn_out",
                                             "blocks.0.hook_resid_post"};
  EXPECT_EQ(names_of(c), expected);
}

TEST(ModelHooksTest, AttentionOnlyWithLayerNormKeepsNormPoints) {
  ModelConfig c = testing::tiny_config();
  c.attn_only = true;
  auto names = names_of(c);
  EXPECT_NE(std::find(names.begin(), names.end(), "blocks.1.ln1.hook_scale"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "blocks.1.ln2.hook_scale"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "blocks.1.hook_resid_mid"), names.end());
  EXPECT_EQ(names.back(), "ln_final.hook_normalized");
}

TEST(ModelHooksTest, ParseRoundTripsEveryName) {
  for (const auto& v : testing::all_variants())
    for (HookPoint p : all_hook_points(v.cfg)) EXPECT_EQ(parse_hook_name(hook_name(p), v.cfg), p) << hook_name(p);
}

TEST(ModelHooksTest, ParseRejectsWhatTheModelLacks) {
  ModelConfig c = testing::tiny_config();
  c.attn_only = true;
  EXPECT_THROW(parse_hook_name("blocks.2.hook_resid_pre", c), InputError);  // 2 layers
  EXPECT_THROW(parse_hook_name("blocks.0.mlp.hook_post", c), InputError);   // attention-only
  EXPECT_THROW(parse_hook_name("blocks.x.hook_resid_pre", c), InputError);
  EXPECT_THROW(parse_hook_name("hook_resid_pre", c), InputError);
  EXPECT_THROW(parse_hook_name("blocks.0.attn.hook_patern", c), InputError);
  try {
    parse_hook_name("blocks.7.attn.hook_z", c);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.7.attn.hook_z"), std::string::npos) << e.what();
  }
}

struct RunFixture {
  ModelConfig cfg = testing::tiny_config();
  std::unique_ptr<Backend> be = make_cpu_backend(1);
  std::unique_ptr<Transformer> model;
  int B = 2, T = 6;
  std::vector<int32_t> tokens;
  RunFixture() {
    model = std::make_unique<Transformer>(cfg, *be);
    model->init_gpt2(5);
    tokens = testing::random_tokens(B * T, cfg.d_vocab, 9);
  }
};

TEST(ModelHooksTest, CacheHasTransformerLensShapesAndPatternRowsSumToOne) {
  RunFixture f;
  HookSet hooks;
  const auto split = [](HookSite s) {
    return s == HookSite::q_input || s == HookSite::k_input || s == HookSite::v_input;
  };
  const auto ln1 = [](HookSite s) { return s == HookSite::ln1_scale || s == HookSite::ln1_normalized; };
  // Split q/k/v inputs and the block-wide ln1 points exclude each other (TransformerLens shapes ln1
  // per head in split mode): asking for both is an input error naming the ln1 point.
  HookSet both;
  both.cache({0, HookSite::ln1_scale});
  both.cache({0, HookSite::k_input});
  EXPECT_THROW(f.model->forward(f.tokens.data(), f.B, f.T, &both), InputError);
  HookSet split_points;
  for (HookPoint p : all_hook_points(f.cfg))
    if (!ln1(p.site)) split_points.cache(p);
  f.model->forward(f.tokens.data(), f.B, f.T, &split_points);
  for (HookPoint p : all_hook_points(f.cfg))
    if (!split(p.site)) hooks.cache(p);
  f.model->forward(f.tokens.data(), f.B, f.T, &hooks);
  for (HookPoint p : all_hook_points(f.cfg)) {
    const HookSet& from = split(p.site) ? split_points : hooks;
    const HostTensor& t = from.cached(hook_name(p));
    EXPECT_EQ(t.shape, hook_shape(p, f.cfg, f.B, f.T)) << hook_name(p);
    EXPECT_EQ(int64_t(t.data.size()), t.numel());
  }
  const HostTensor& pat = hooks.cached("blocks.1.attn.hook_pattern");
  for (int64_t row = 0; row < f.B * f.cfg.n_heads * f.T; ++row) {
    double s = 0;
    for (int k = 0; k < f.T; ++k) s += pat.data[size_t(row * f.T + k)];
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
  // resid_post of layer 0 is resid_pre of layer 1; attn_out + resid_pre = resid_mid.
  EXPECT_EQ(hooks.cached("blocks.0.hook_resid_post").data, hooks.cached("blocks.1.hook_resid_pre").data);
  const auto& pre = hooks.cached("blocks.0.hook_resid_pre").data;
  const auto& out = hooks.cached("blocks.0.hook_attn_out").data;
  const auto& mid = hooks.cached("blocks.0.hook_resid_mid").data;
  for (size_t i = 0; i < pre.size(); ++i) EXPECT_FLOAT_EQ(mid[i], pre[i] + out[i]);
  // hook_result summed over heads plus b_O is hook_attn_out.
  const auto& res = hooks.cached("blocks.0.attn.hook_result").data;
  const int64_t H = f.cfg.n_heads, D = f.cfg.d_model;
  std::vector<float> params = f.model->params_to_host();
  const float* b_O = params.data() + f.model->table().offsets().blocks[0].b_O;
  for (int64_t bt = 0; bt < f.B * f.T; ++bt)
    for (int64_t d = 0; d < D; ++d) {
      double s = b_O[d];
      for (int64_t h = 0; h < H; ++h) s += res[size_t((bt * H + h) * D + d)];
      EXPECT_NEAR(s, out[size_t(bt * D + d)], 1e-5);
    }
}

TEST(ModelHooksTest, EmptyHookSetAndCacheHooksLeaveLogitsUnchanged) {
  RunFixture f;
  f.model->forward(f.tokens.data(), f.B, f.T);
  const auto plain = f.model->logits_to_host();
  HookSet empty;
  f.model->forward(f.tokens.data(), f.B, f.T, &empty);
  EXPECT_EQ(f.model->logits_to_host(), plain);
  HookSet cache;
  cache.cache({0, HookSite::attn_result});  // forces the per-head output path
  cache.cache({1, HookSite::attn_pattern});
  f.model->forward(f.tokens.data(), f.B, f.T, &cache);
  const auto cached = f.model->logits_to_host();
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(cached[i], plain[i], 1e-5);
}

TEST(ModelHooksTest, ZeroingOneHeadsPatternChangesOnlyLaterPositionsOfThatPath) {
  RunFixture f;
  f.model->forward(f.tokens.data(), f.B, f.T);
  const auto clean = f.model->logits_to_host();
  // Zero head 1's z at position 3 in layer 1: logits at positions < 3 cannot change, 3 must.
  HookSet hooks;
  hooks.add_forward({1, HookSite::attn_z}, [&](HookPoint, ActivationView& v, Backend&) {
    const int64_t H = v.shape[2], dh = v.shape[3];
    for (int b = 0; b < f.B; ++b)
      for (int64_t e = 0; e < dh; ++e) v.data[((b * f.T + 3) * H + 1) * dh + e] = 0.0f;
  });
  f.model->forward(f.tokens.data(), f.B, f.T, &hooks);
  const auto patched = f.model->logits_to_host();
  const int64_t V = f.cfg.d_vocab;
  for (int b = 0; b < f.B; ++b)
    for (int t = 0; t < f.T; ++t) {
      double diff = 0;
      for (int64_t v = 0; v < V; ++v)
        diff += std::fabs(patched[size_t((b * f.T + t) * V + v)] - clean[size_t((b * f.T + t) * V + v)]);
      if (t == 3)
        EXPECT_GT(diff, 1e-6) << "b=" << b;
      else
        EXPECT_EQ(diff, 0.0) << "b=" << b << " t=" << t;  // layer-1 z at one position feeds only that position
    }
}

TEST(ModelHooksTest, CapturedGradientMatchesFiniteDifference) {
  RunFixture f;
  auto targets = testing::next_token_targets(f.tokens, f.B, f.T);
  HookSet grad_hooks;
  grad_hooks.cache_gradient({1, HookSite::resid_mid});
  grad_hooks.cache_gradient({0, HookSite::attn_pattern});
  f.model->zero_grads();
  f.model->forward_loss(f.tokens.data(), targets.data(), f.B, f.T);
  f.model->backward(&grad_hooks);
  const HostTensor& g = grad_hooks.cached_gradients().at("blocks.1.hook_resid_mid");
  const HostTensor& gp = grad_hooks.cached_gradients().at("blocks.0.attn.hook_pattern");
  auto loss_with = [&](HookPoint p, int64_t index, float delta) {
    HookSet h;
    h.add_forward(p, [&](HookPoint, ActivationView& v, Backend&) { v.data[index] += delta; });
    return double(f.model->forward_loss(f.tokens.data(), targets.data(), f.B, f.T, &h));
  };
  for (int64_t index : {3, 17, 40, 61}) {
    const float h = 1e-2f;
    double fd =
        (loss_with({1, HookSite::resid_mid}, index, h) - loss_with({1, HookSite::resid_mid}, index, -h)) / (2 * h);
    EXPECT_NEAR(g.data[size_t(index)], fd, 0.03 * std::fabs(fd) + 2e-5) << "resid_mid " << index;
  }
  // pattern [B, H, T, T]: a lower-triangle cell (q=4, k=2) of head 2, batch 1
  const int64_t cell = ((1 * f.cfg.n_heads + 2) * f.T + 4) * f.T + 2;
  const float h = 1e-2f;
  double fd =
      (loss_with({0, HookSite::attn_pattern}, cell, h) - loss_with({0, HookSite::attn_pattern}, cell, -h)) / (2 * h);
  EXPECT_NEAR(gp.data[size_t(cell)], fd, 0.03 * std::fabs(fd) + 2e-5);
}

TEST(ModelHooksTest, BadTokensAndLengthsAreInputErrors) {
  RunFixture f;
  std::vector<int32_t> bad = f.tokens;
  bad[5] = f.cfg.d_vocab;
  EXPECT_THROW(f.model->forward(bad.data(), f.B, f.T), InputError);
  bad[5] = -1;
  EXPECT_THROW(f.model->forward(bad.data(), f.B, f.T), InputError);
  std::vector<int32_t> long_seq(size_t(f.cfg.n_ctx + 1), 1);
  EXPECT_THROW(f.model->forward(long_seq.data(), 1, f.cfg.n_ctx + 1), InputError);
}

}  // namespace
}  // namespace headlab

namespace headlab {
namespace {

TEST(ModelHooksTest, SplitQkvInputsLeaveTheModelUnchangedAndTheirGradientsSumToResidPre) {
  for (const auto& v : testing::all_variants()) {
    auto be = make_cpu_backend(1);
    Transformer model(v.cfg, *be);
    model.init_gpt2(3);
    const int B = 2, T = 5;
    auto tokens = testing::random_tokens(B * T, v.cfg.d_vocab, 1);
    auto targets = testing::next_token_targets(tokens, B, T);
    model.zero_grads();
    const float loss = model.forward_loss(tokens.data(), targets.data(), B, T);
    HookSet plain_grads;
    plain_grads.cache_gradient({1, HookSite::resid_pre});
    model.backward(&plain_grads);
    const auto grads = model.grads_to_host();

    HookSet split;
    for (HookSite s : {HookSite::q_input, HookSite::k_input, HookSite::v_input}) {
      split.cache({1, s});
      split.cache_gradient({1, s});
    }
    split.cache_gradient({1, HookSite::resid_pre});
    model.zero_grads();
    EXPECT_NEAR(model.forward_loss(tokens.data(), targets.data(), B, T, &split), loss, 1e-6) << v.name;
    model.backward(&split);
    const auto split_grads = model.grads_to_host();
    for (size_t i = 0; i < grads.size(); ++i) ASSERT_NEAR(split_grads[i], grads[i], 1e-5) << v.name << " " << i;
    // Every head's q input is resid_pre; the per-head input gradients sum (over q, k, v and heads)
    // to what resid_pre gets through attention.
    const auto& q_in = split.cached("blocks.1.hook_q_input");
    EXPECT_EQ(q_in.shape, (std::vector<int64_t>{B, T, v.cfg.n_heads, v.cfg.d_model}));
    const auto& g_plain = plain_grads.cached_gradients().at("blocks.1.hook_resid_pre").data;
    const auto& g_split = split.cached_gradients().at("blocks.1.hook_resid_pre").data;
    for (size_t i = 0; i < g_plain.size(); ++i) ASSERT_NEAR(g_split[i], g_plain[i], 1e-5) << v.name;

    // Gradient hooks alone keep the fused forward (every head reads the same resid_pre) and form
    // the per-head gradients in the backward: the same numbers as the split forward's backward.
    HookSet grad_only;
    for (HookSite s : {HookSite::q_input, HookSite::k_input, HookSite::v_input}) grad_only.cache_gradient({1, s});
    model.zero_grads();
    EXPECT_NEAR(model.forward_loss(tokens.data(), targets.data(), B, T, &grad_only), loss, 1e-6) << v.name;
    model.backward(&grad_only);
    const auto grad_only_params = model.grads_to_host();
    for (size_t i = 0; i < grads.size(); ++i) ASSERT_NEAR(grad_only_params[i], grads[i], 1e-5) << v.name << " " << i;
    for (const char* name : {"blocks.1.hook_q_input", "blocks.1.hook_k_input", "blocks.1.hook_v_input"}) {
      const auto& want = split.cached_gradients().at(name);
      const auto& got = grad_only.cached_gradients().at(name);
      ASSERT_EQ(got.shape, want.shape) << v.name << " " << name;
      double largest = 0;
      for (float x : want.data) largest = std::max(largest, double(std::fabs(x)));
      ASSERT_GT(largest, 0.0) << v.name << " " << name;
      for (size_t i = 0; i < want.data.size(); ++i)
        ASSERT_NEAR(got.data[i], want.data[i], 1e-6 + 1e-5 * largest) << v.name << " " << name << " " << i;
    }
  }
}

// A gradient sink adds, head-major, what cache_gradient sees in TransformerLens' layout: alone at a
// point (the model adds from its per-head buffers) and beside another hook (the generic path).
TEST(ModelHooksTest, GradientSinksAddTheGradientHeadMajor) {
  for (const auto& v : testing::all_variants()) {
    auto be = make_cpu_backend(1);
    Transformer model(v.cfg, *be);
    model.init_gpt2(5);
    const int B = 2, T = 5;
    const int64_t H = v.cfg.n_heads, D = v.cfg.d_model, BT = B * T;
    const bool has_mlp = !v.cfg.attn_only;
    auto tokens = testing::random_tokens(B * T, v.cfg.d_vocab, 2);
    auto targets = testing::next_token_targets(tokens, B, T);
    HookSet cached;
    for (HookSite s : {HookSite::q_input, HookSite::k_input}) cached.cache_gradient({1, s});
    if (has_mlp) cached.cache_gradient({1, HookSite::mlp_in});
    model.zero_grads();
    model.forward_loss(tokens.data(), targets.data(), B, T, &cached);
    model.backward(&cached);
    for (bool beside_a_cache : {false, true}) {
      std::vector<float> q_rows(size_t(H * BT * D), 0.5f), k_rows(q_rows), mlp_rows(size_t(BT * D), 0.25f);
      HookSet sinks;
      sinks.add_gradient_into({1, HookSite::q_input}, q_rows.data());
      sinks.add_gradient_into({1, HookSite::k_input}, k_rows.data());
      if (has_mlp) sinks.add_gradient_into({1, HookSite::mlp_in}, mlp_rows.data());
      if (beside_a_cache) sinks.cache_gradient({1, HookSite::q_input});
      model.zero_grads();
      model.forward_loss(tokens.data(), targets.data(), B, T, &sinks);
      model.backward(&sinks);
      for (auto [name, rows] : {std::pair<const char*, const std::vector<float>*>{"blocks.1.hook_q_input", &q_rows},
                                {"blocks.1.hook_k_input", &k_rows}}) {
        const auto& g = cached.cached_gradients().at(name).data;
        for (int64_t h = 0; h < H; ++h)
          for (int64_t bt = 0; bt < BT; ++bt)
            for (int64_t d = 0; d < D; ++d)
              ASSERT_NEAR((*rows)[size_t((h * BT + bt) * D + d)], 0.5f + g[size_t((bt * H + h) * D + d)], 1e-6)
                  << " head " << h << " row " << bt << " column " << d << v.name << " " << name << " beside a cache "
                  << beside_a_cache;
      }
      if (has_mlp) {
        const auto& g = cached.cached_gradients().at("blocks.1.hook_mlp_in").data;
        for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(mlp_rows[i], 0.25f + g[i], 1e-6) << v.name;
      }
    }
  }
}

TEST(ModelHooksTest, PatchingOneHeadsQueryInputChangesOnlyThatHead) {
  RunFixture f;
  HookSet base;
  base.cache({1, HookSite::attn_pattern});
  f.model->forward(f.tokens.data(), f.B, f.T, &base);
  const auto clean = base.cached("blocks.1.attn.hook_pattern");
  HookSet patch;
  patch.add_forward({1, HookSite::q_input}, [&](HookPoint, ActivationView& v, Backend&) {
    const int64_t H = v.shape[2], D = v.shape[3];
    for (int64_t bt = 0; bt < f.B * f.T; ++bt)
      for (int64_t d = 0; d < D; ++d) v.data[(bt * H + 2) * D + d] *= -1.5f;  // head 2's query input only
  });
  patch.cache({1, HookSite::attn_pattern});
  f.model->forward(f.tokens.data(), f.B, f.T, &patch);
  const auto patched = patch.cached("blocks.1.attn.hook_pattern");
  const int64_t H = f.cfg.n_heads, T = f.T;
  for (int b = 0; b < f.B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      double diff = 0;
      for (int64_t i = 0; i < T * T; ++i) {
        const size_t at = size_t(((b * H + h) * T * T) + i);
        diff += std::fabs(patched.data[at] - clean.data[at]);
      }
      if (h == 2)
        EXPECT_GT(diff, 1e-4);
      else
        EXPECT_LT(diff, 1e-6) << "head " << h;
    }
}

}  // namespace
}  // namespace headlab

namespace headlab {
namespace {

TEST(ModelHooksTest, ForwardFromLayerEqualsAFullForwardWithTheSameHook) {
  RunFixture f;
  auto other = testing::random_tokens(f.B * f.T, f.cfg.d_vocab, 77);
  HookSet cache;
  cache.cache({1, HookSite::resid_pre});
  f.model->forward(f.tokens.data(), f.B, f.T, &cache);
  const HostTensor resid1 = cache.cached("blocks.1.hook_resid_pre");
  auto zero_head = [](HookPoint, ActivationView& v, Backend&) {
    const int64_t H = v.shape[2], dh = v.shape[3];
    for (int64_t bt = 0; bt < v.shape[0] * v.shape[1]; ++bt)
      for (int64_t e = 0; e < dh; ++e) v.data[(bt * H + 1) * dh + e] = 0.0f;
  };
  HookSet full;
  full.add_forward({1, HookSite::attn_z}, zero_head);
  f.model->forward(f.tokens.data(), f.B, f.T, &full);
  const auto expected = f.model->logits_to_host();
  // Another input runs in between: the suffix run must not depend on it.
  f.model->forward(other.data(), f.B, f.T);
  HookSet suffix;
  suffix.add_forward({1, HookSite::attn_z}, zero_head);
  f.model->forward_from_layer(1, resid1.data.data(), &suffix);
  EXPECT_EQ(f.model->logits_to_host(), expected);
  EXPECT_THROW(f.model->forward_from_layer(3, resid1.data.data()), InputError);
}

}  // namespace
}  // namespace headlab

namespace headlab {
namespace {

// The edge methods' backward: gradient sinks alone on every q, k and v input of both layers keep the
// fused forward and take each head's gradient from the shared normalisation, one head at a time. On
// every variant (LN, RMS, no norm; rotary; attention-only), with d_model 40 (a partial vector), the
// sinks hold what the split forward's backward (each head normalising its own copy) gives, and
// resid_pre's gradient and the parameter gradients are the plain backward's. Without parameter
// gradients the hooks see the same numbers and grads() is left as it was.
TEST(ModelHooksTest, GradientSinksEqualTheSplitForwardsBackwardWithOrWithoutParameterGradients) {
  for (auto v : testing::all_variants()) {
    v.cfg.d_model = 40;
    v.cfg.d_head = 8;
    auto be = make_cpu_backend(2);
    Transformer model(v.cfg, *be);
    model.init_gpt2(9);
    const int B = 2, T = 6, L = v.cfg.n_layers;
    const int64_t H = v.cfg.n_heads, D = v.cfg.d_model, BT = B * T, V = v.cfg.d_vocab;
    const auto tokens = testing::random_tokens(B * T, v.cfg.d_vocab, 4);
    std::vector<float> dlogits(size_t(BT * V));
    {
      std::mt19937 rng(5);
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      for (float& x : dlogits) x = u(rng);
    }
    const HookSite sites[] = {HookSite::q_input, HookSite::k_input, HookSite::v_input};

    // The unfused path: a forward hook on the inputs makes every head normalise its own copy.
    HookSet split;
    for (int l = 0; l < L; ++l)
      for (HookSite s : sites) {
        split.cache({l, s});
        split.cache_gradient({l, s});
      }
    split.cache_gradient({0, HookSite::resid_pre});
    model.zero_grads();
    model.forward(tokens.data(), B, T, &split);
    model.backward_from_logits(dlogits.data(), &split);
    const auto split_params = model.grads_to_host();

    for (bool params : {true, false}) {
      std::vector<std::vector<float>> rows(size_t(L * 3), std::vector<float>(size_t(H * BT * D), 0.25f));
      HookSet sinks;
      for (int l = 0; l < L; ++l)
        for (int w = 0; w < 3; ++w) sinks.add_gradient_into({l, sites[w]}, rows[size_t(l * 3 + w)].data());
      sinks.cache_gradient({0, HookSite::resid_pre});
      model.zero_grads();
      if (!params) {  // a marker in grads(), which a backward without parameter gradients must leave
        std::vector<float> marker(split_params.size(), 3.0f);
        be->copy_from_host(model.grads(), marker.data(), marker.size() * sizeof(float));
      }
      model.forward(tokens.data(), B, T, &sinks);
      model.backward_from_logits(dlogits.data(), &sinks, params);
      const std::string what = v.name + (params ? " with" : " without") + " parameter gradients";
      for (int l = 0; l < L; ++l)
        for (int w = 0; w < 3; ++w) {
          const auto& want = split.cached_gradients().at(hook_name({l, sites[w]})).data;
          const auto& got = rows[size_t(l * 3 + w)];
          double largest = 0;
          for (float x : want) largest = std::max(largest, double(std::fabs(x)));
          ASSERT_GT(largest, 0.0) << what;
          for (int64_t h = 0; h < H; ++h)
            for (int64_t bt = 0; bt < BT; ++bt)
              for (int64_t d = 0; d < D; ++d)
                ASSERT_NEAR(got[size_t((h * BT + bt) * D + d)], 0.25f + want[size_t((bt * H + h) * D + d)],
                            1e-6 + 1e-5 * largest)
                    << what << " layer " << l << " input " << w << " head " << h << " row " << bt << " column " << d;
        }
      const auto& g_want = split.cached_gradients().at("blocks.0.hook_resid_pre").data;
      const auto& g_got = sinks.cached_gradients().at("blocks.0.hook_resid_pre").data;
      for (size_t i = 0; i < g_want.size(); ++i) ASSERT_NEAR(g_got[i], g_want[i], 1e-5) << what << " " << i;
      const auto grads = model.grads_to_host();
      for (size_t i = 0; i < grads.size(); ++i)
        ASSERT_NEAR(grads[i], params ? split_params[i] : 3.0f, 1e-5) << what << " parameter " << i;
    }
  }
}

}  // namespace
}  // namespace headlab
