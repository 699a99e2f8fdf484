// Whole-model gradients against central finite differences of the loss, for every parameter
// group of every model variant.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "model/backend.h"
#include "model/transformer.h"
#include "tests/model/model_test_util.h"

namespace headlab {
namespace {

using testing::all_variants;
using testing::next_token_targets;
using testing::random_tokens;

// Larger-than-GPT-2 weights so gradients are well above float32 rounding in the loss.
void init_for_gradcheck(Transformer& model, uint64_t seed) {
  model.init_gpt2(seed);
  std::vector<float> p = model.params_to_host();
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (const StorageInfo& s : model.table().storage())
    for (int64_t i = 0; i < s.size; ++i) {
      float& x = p[size_t(s.offset + i)];
      x = s.kind == ParamKind::norm ? x + 0.3f * u(rng) : 10.0f * x + 0.05f * u(rng);
    }
  model.params_from_host(p);
}

class TransformerGradTest : public ::testing::TestWithParam<testing::Variant> {};

TEST_P(TransformerGradTest, EveryParameterGroupMatchesFiniteDifferences) {
  const ModelConfig cfg = GetParam().cfg;
  auto backend = make_cpu_backend(1);
  Transformer model(cfg, *backend);
  init_for_gradcheck(model, 7);
  const int B = 2, T = 7;
  auto tokens = random_tokens(B * T, cfg.d_vocab, 11);
  auto targets = next_token_targets(tokens, B, T);

  model.zero_grads();
  const double loss0 = model.forward_loss(tokens.data(), targets.data(), B, T);
  model.backward();
  const std::vector<float> grad = model.grads_to_host();
  std::vector<float> params = model.params_to_host();

  auto loss_at = [&](int64_t arena_index, float value) {
    const float saved = params[size_t(arena_index)];
    params[size_t(arena_index)] = value;
    model.params_from_host(params);
    const double loss = model.forward_loss(tokens.data(), targets.data(), B, T);
    params[size_t(arena_index)] = saved;
    return loss;
  };

  std::mt19937_64 rng(3);
  for (const ParamInfo& p : model.table().params()) {
    // Check the elements with the largest gradients (where a wrong formula shows) and a few at random.
    std::vector<int64_t> order(size_t(p.numel()));
    for (int64_t i = 0; i < p.numel(); ++i) order[size_t(i)] = i;
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return std::fabs(grad[size_t(p.arena_offset(a))]) > std::fabs(grad[size_t(p.arena_offset(b))]);
    });
    std::vector<int64_t> picks(order.begin(), order.begin() + std::min<int64_t>(4, p.numel()));
    for (int k = 0; k < 3; ++k) picks.push_back(int64_t(rng() % uint64_t(p.numel())));

    double max_grad = 0;
    for (int64_t i = 0; i < p.numel(); ++i)
      max_grad = std::max(max_grad, double(std::fabs(grad[size_t(p.arena_offset(i))])));
    // b_K alone is exactly gradient-free without rotary: it adds the same q·b_K to a whole score row.
    const bool b_K_invariant =
        p.name.find("b_K") != std::string::npos && cfg.positional_embedding_type != PositionalEmbedding::rotary;
    if (!b_K_invariant) {
      EXPECT_GT(max_grad, 1e-5) << p.name << " gets no gradient at all";
    }
    for (int64_t i : picks) {
      const int64_t a = p.arena_offset(i);
      const float x = params[size_t(a)];
      const float h = (cfg.act_fn == ActFn::relu ? 1e-3f : 1e-2f) * std::max(1.0f, std::fabs(x));
      const double fd = (loss_at(a, x + h) - loss_at(a, x - h)) / (double(x + h) - double(x - h));
      const double an = grad[size_t(a)];
      // Rounding of the float32 loss alone moves the difference quotient by about ulp(loss) / h.
      const double noise = 4.0 * 1.2e-7 * std::fabs(loss0) / (2.0 * h);
      EXPECT_NEAR(an, fd, 0.03 * std::fabs(fd) + 2e-3 * max_grad + noise)
          << GetParam().name << ": " << p.name << " element " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, TransformerGradTest, ::testing::ValuesIn(all_variants()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace headlab
