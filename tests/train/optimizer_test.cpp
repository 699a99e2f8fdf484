#include "train/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/errors.h"

namespace headlab {
namespace {

// Every kind of parameter: embeddings, LN weights and biases, attention and MLP matrices and biases.
ModelConfig small_config() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 8;
  c.n_heads = 2;
  c.d_head = 4;
  c.d_mlp = 16;
  c.n_ctx = 6;
  c.d_vocab = 11;
  return c;
}

std::vector<float> random_vector(int64_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

class TrainOptimizerTest : public ::testing::Test {
 protected:
  ModelConfig cfg = small_config();
  ParamTable table{cfg};
  std::unique_ptr<Backend> be = make_cpu_backend(1);
  int64_t n = table.arena_size();
};

TEST_F(TrainOptimizerTest, AdamWDecaysOnlyMatrices) {
  std::vector<float> params = random_vector(n, 1, 0.5f, 1.5f), grads(size_t(n), 0.0f);
  const std::vector<float> before = params;
  OptimizerSettings s;
  s.weight_decay = 0.5f;
  Optimizer opt(s, table, *be);
  // Zero gradients: m = v = 0, so the Adam term is 0 and only the decoupled decay moves p.
  opt.update(params.data(), grads.data(), 1, 0.1f, 1.0f);
  const float decay = float(1.0 - double(0.1f) * double(0.5f));  // as PyTorch: the scalars in double
  int matrices = 0, others = 0;
  for (const StorageInfo& seg : table.storage()) {
    for (int64_t i = seg.offset; i < seg.offset + seg.size; ++i) {
      if (seg.kind == ParamKind::matrix)
        ASSERT_EQ(params[size_t(i)], before[size_t(i)] * decay) << seg.name;
      else
        ASSERT_EQ(params[size_t(i)], before[size_t(i)]) << seg.name;
    }
    (seg.kind == ParamKind::matrix ? matrices : others)++;
  }
  EXPECT_GT(matrices, 0);
  EXPECT_GT(others, 0);
}

TEST_F(TrainOptimizerTest, SgdDecaysOnlyMatrices) {
  std::vector<float> params = random_vector(n, 2, 0.5f, 1.5f), grads = random_vector(n, 3, -1, 1);
  const std::vector<float> before = params;
  OptimizerSettings s;
  s.kind = OptimizerKind::sgd;
  s.weight_decay = 0.25f;
  Optimizer opt(s, table, *be);
  opt.update(params.data(), grads.data(), 1, 0.1f, 0.5f);
  for (const StorageInfo& seg : table.storage())
    for (int64_t i = seg.offset; i < seg.offset + seg.size; ++i) {
      const double wd = seg.kind == ParamKind::matrix ? 0.25 : 0.0;
      const double want = before[size_t(i)] - 0.1 * (grads[size_t(i)] * 0.5 + wd * before[size_t(i)]);
      ASSERT_NEAR(params[size_t(i)], want, 1e-6) << seg.name;
    }
  EXPECT_TRUE(opt.m_to_host().empty());
}

// torch.optim.AdamW's update written out in double.
TEST_F(TrainOptimizerTest, AdamWMatchesAReferenceOverSeveralSteps) {
  OptimizerSettings s;
  s.beta1 = 0.8f;
  s.beta2 = 0.95f;
  s.eps = 1e-6f;
  s.weight_decay = 0.1f;
  Optimizer opt(s, table, *be);
  std::vector<float> params = random_vector(n, 4, -1, 1);
  std::vector<double> p(params.begin(), params.end()), m(size_t(n), 0), v(size_t(n), 0);
  const float lr = 0.01f, scale = 0.7f;
  for (int64_t step = 1; step <= 4; ++step) {
    const std::vector<float> grads = random_vector(n, 10 + uint64_t(step), -2, 2);
    opt.update(params.data(), grads.data(), step, lr, scale);
    for (const StorageInfo& seg : table.storage())
      for (int64_t i = seg.offset; i < seg.offset + seg.size; ++i) {
        const size_t k = size_t(i);
        const double g = double(grads[k]) * scale, wd = seg.kind == ParamKind::matrix ? 0.1 : 0.0;
        p[k] *= 1 - double(lr) * wd;
        m[k] = 0.8 * m[k] + 0.2 * g;
        v[k] = 0.95 * v[k] + 0.05 * g * g;
        const double mhat = m[k] / (1 - std::pow(0.8, double(step))), vhat = v[k] / (1 - std::pow(0.95, double(step)));
        p[k] -= lr * mhat / (std::sqrt(vhat) + 1e-6);
      }
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(params[size_t(i)], p[size_t(i)], 2e-6) << "step " << step << " i " << i;
  }
}

TEST_F(TrainOptimizerTest, StateRoundTripContinuesIdentically) {
  OptimizerSettings s;
  Optimizer a(s, table, *be), b(s, table, *be);
  std::vector<float> pa = random_vector(n, 5, -1, 1);
  a.update(pa.data(), random_vector(n, 6, -1, 1).data(), 1, 1e-2f, 1.0f);
  std::vector<float> pb = pa;
  b.state_from_host(a.m_to_host(), a.v_to_host(), "test");
  const std::vector<float> g = random_vector(n, 7, -1, 1);
  a.update(pa.data(), g.data(), 2, 1e-2f, 1.0f);
  b.update(pb.data(), g.data(), 2, 1e-2f, 1.0f);
  EXPECT_EQ(pa, pb);
  EXPECT_THROW(b.state_from_host(std::vector<float>(3), std::vector<float>(3), "ckpt"), InputError);
  EXPECT_THROW(b.state_from_host({}, {}, "ckpt"), InputError);
}

TEST_F(TrainOptimizerTest, GradNormAndClipFactor) {
  const std::vector<float> g = random_vector(n, 8, -3, 3);
  double ref = 0;
  for (float x : g) ref += double(x) * x;
  ref = std::sqrt(ref);
  EXPECT_NEAR(global_grad_norm(*be, g.data(), n), ref, 1e-9 * ref);
  EXPECT_EQ(clip_factor(0.5, 1.0f), 1.0f);
  EXPECT_FLOAT_EQ(clip_factor(4.0, 1.0f), float(1.0 / (4.0 + 1e-6)));
  EXPECT_EQ(clip_factor(1e9, 0.0f), 1.0f);  // 0 = off
}

}  // namespace
}  // namespace headlab
