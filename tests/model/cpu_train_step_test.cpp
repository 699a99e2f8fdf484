// Whole training steps on the CPU backend at sizes that take the vector paths (d_head 32, rows
// past a multiple of 16): the fused attention the model calls without hooks against the unfused
// kernels it calls when a hook stands between them, and bitwise repeatability run to run.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "model/backend.h"
#include "model/hooks.h"
#include "model/transformer.h"
#include "tests/model/model_test_util.h"

namespace headlab {
namespace {

ModelConfig step_config() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 64;
  c.n_heads = 2;
  c.d_head = 32;
  c.d_mlp = 128;
  c.n_ctx = 40;
  c.d_vocab = 96;
  return c;
}

struct StepResult {
  std::vector<float> losses, logits, params;
};

// `steps` steps of forward_loss, backward and AdamW from the same initialisation; with
// `hooks`, the same HookSet in every forward and backward.
StepResult train(int threads, int steps, HookSet* hooks) {
  const ModelConfig cfg = step_config();
  auto be = make_cpu_backend(threads);
  Transformer model(cfg, *be);
  model.init_gpt2(7);
  const int B = 3, T = 37;
  const std::vector<int32_t> tokens = testing::random_tokens(int64_t(B) * T, cfg.d_vocab, 11);
  const std::vector<int32_t> targets = testing::random_tokens(int64_t(B) * T, cfg.d_vocab, 12);
  const int64_t n = model.table().arena_size();
  std::vector<float> m(size_t(n), 0.0f), v(size_t(n), 0.0f);
  StepResult r;
  for (int step = 1; step <= steps; ++step) {
    model.zero_grads();
    r.losses.push_back(model.forward_loss(tokens.data(), targets.data(), B, T, hooks));
    r.logits = model.logits_to_host();
    model.backward(hooks);
    be->adamw_update(model.params(), model.grads(), m.data(), v.data(), n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step,
                     1.0f);
  }
  r.params = model.params_to_host();
  return r;
}

void expect_bitwise_equal(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what << " differ";
}

TEST(CpuTrainStepTest, StepsRepeatBitForBit) {
  const StepResult first = train(2, 3, nullptr), again = train(2, 3, nullptr);
  expect_bitwise_equal(first.losses, again.losses, "losses");
  expect_bitwise_equal(first.params, again.params, "parameters");
  EXPECT_LT(first.losses.back(), first.losses.front());  // it trains
}

// A hook on the pattern and on its gradient makes the model call the four attention kernels one
// by one; without hooks it calls the fused pair. Same values.
TEST(CpuTrainStepTest, FusedAttentionStepsEqualTheUnfusedOnes) {
  HookSet hooks;
  for (int l = 0; l < 2; ++l) {
    hooks.cache({l, HookSite::attn_pattern});
    hooks.cache_gradient({l, HookSite::attn_pattern});
  }
  const StepResult fused = train(2, 2, nullptr), unfused = train(2, 2, &hooks);
  ASSERT_FALSE(hooks.cached().empty());
  EXPECT_EQ(fused.losses, unfused.losses);
  EXPECT_EQ(fused.logits, unfused.logits);
  EXPECT_EQ(fused.params, unfused.params);
}

}  // namespace
}  // namespace headlab
