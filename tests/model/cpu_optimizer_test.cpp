// AdamW, SGD and the squared norm against hand-written references of PyTorch's formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/backend.h"
#include "tests/model/cpu_test_util.h"

namespace headlab {
namespace {

using testing::all_near;
using testing::random_floats;

struct AdamWSettings {
  float lr = 1e-2f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.1f;
};

// torch.optim.AdamW's single-tensor step written out in double, step by step as PyTorch orders it.
void reference_adamw(std::vector<double>& p, std::vector<double>& m, std::vector<double>& v,
                     const std::vector<float>& grad, float grad_scale, const AdamWSettings& a, int step) {
  const double bias_correction1 = 1.0 - std::pow(double(a.beta1), step);
  const double bias_correction2 = 1.0 - std::pow(double(a.beta2), step);
  for (size_t i = 0; i < p.size(); ++i) {
    const double g = double(grad[i]) * grad_scale;
    p[i] *= 1.0 - double(a.lr) * a.weight_decay;
    m[i] = a.beta1 * m[i] + (1.0 - a.beta1) * g;
    v[i] = a.beta2 * v[i] + (1.0 - a.beta2) * g * g;
    const double denom = std::sqrt(v[i]) / std::sqrt(bias_correction2) + a.eps;
    p[i] -= a.lr / bias_correction1 * m[i] / denom;
  }
}

TEST(CpuAdamWTest, ThreeStepsMatchPyTorchFormula) {
  auto be = make_cpu_backend(2);
  const AdamWSettings a;
  const int64_t n = 1001;
  std::vector<float> param = random_floats(n, 1), m(n, 0.0f), v(n, 0.0f);  // [n]
  std::vector<double> ref_p(param.begin(), param.end()), ref_m(n, 0.0), ref_v(n, 0.0);
  const float grad_scales[] = {1.0f, 0.5f, 0.25f};
  for (int step = 1; step <= 3; ++step) {
    SCOPED_TRACE(step);
    const std::vector<float> grad = random_floats(n, 10 + step, -2.0f, 2.0f);
    be->adamw_update(param.data(), grad.data(), m.data(), v.data(), n, a.lr, a.beta1, a.beta2, a.eps, a.weight_decay,
                     step, grad_scales[step - 1]);
    reference_adamw(ref_p, ref_m, ref_v, grad, grad_scales[step - 1], a, step);
    EXPECT_TRUE(all_near(m, ref_m, 1e-5, 1e-7));
    EXPECT_TRUE(all_near(v, ref_v, 1e-5, 1e-8));
    // The update itself is ~lr; compare it at 1e-4 of lr so a wrong bias correction shows.
    EXPECT_TRUE(all_near(param, ref_p, 1e-6, 1e-4 * a.lr));
  }
}

// On the first step m̂ = g and v̂ = g², so (with no decay) every parameter moves by lr·sign(g).
TEST(CpuAdamWTest, FirstStepMovesEachParameterByLearningRate) {
  auto be = make_cpu_backend(1);
  std::vector<float> param{1.0f, 1.0f, 1.0f}, m(3, 0.0f), v(3, 0.0f);
  const std::vector<float> grad{3.0f, -0.01f, 100.0f};
  be->adamw_update(param.data(), grad.data(), m.data(), v.data(), 3, 0.1f, 0.9f, 0.999f, 0.0f, 0.0f, 1, 1.0f);
  EXPECT_NEAR(param[0], 0.9f, 1e-6);
  EXPECT_NEAR(param[1], 1.1f, 1e-6);
  EXPECT_NEAR(param[2], 0.9f, 1e-6);
}

TEST(CpuSgdTest, ThreeStepsMatchReference) {
  auto be = make_cpu_backend(2);
  const int64_t n = 513;
  const float lr = 0.05f, wd = 0.01f;
  std::vector<float> param = random_floats(n, 20);
  std::vector<double> ref(param.begin(), param.end());
  for (int step = 1; step <= 3; ++step) {
    const std::vector<float> grad = random_floats(n, 20 + step);
    const float grad_scale = 1.0f / step;
    be->sgd_update(param.data(), grad.data(), n, lr, wd, grad_scale);
    for (int64_t i = 0; i < n; ++i) ref[i] -= lr * (double(grad[i]) * grad_scale + wd * ref[i]);
  }
  EXPECT_TRUE(all_near(param, ref, 1e-6, 1e-7));
}

TEST(CpuSumSquaresTest, MatchesDoubleReference) {
  auto be = make_cpu_backend(2);
  const std::vector<float> x = random_floats(100003, 30, -3.0f, 3.0f);  // several blocks and a remainder
  double ref = 0.0;
  for (float f : x) ref += double(f) * f;
  EXPECT_NEAR(be->sum_squares(x.data(), x.size()), ref, 1e-12 * ref);
  EXPECT_EQ(be->sum_squares(x.data(), 0), 0.0);
}

TEST(CpuSumSquaresTest, DoesNotLoseSmallTermsBesideLargeOnes) {
  auto be = make_cpu_backend(2);
  std::vector<float> x(1 << 20, 1e-4f);  // 2^20 terms of 1e-8 next to one of 1e8
  x[0] = 1e4f;
  const double ref = 1e8 + (x.size() - 1) * double(1e-4f) * double(1e-4f);
  EXPECT_NEAR(be->sum_squares(x.data(), x.size()), ref, 1e-9 * ref);  // float sums would lose all 1e-2
}

}  // namespace
}  // namespace headlab
