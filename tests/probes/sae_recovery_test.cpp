// Each architecture recovers a known sparse dictionary: 512 unit features in 64 dimensions, 3 of
// them active per row with magnitudes in [0.5, 1.5). The score is the mean over true features of
// the best cosine similarity with a decoder row (the usual check since Sharkey et al. 2022).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "model/backend.h"
#include "probes/sae_trainer.h"
#include "tests/probes/sae_test_util.h"

namespace headlab {
namespace {

double mean_best_cosine(const std::vector<float>& truth, int64_t n_feat, const SaeConfig& cfg,
                        const std::vector<float>& params) {
  const SaeLayout L(cfg);
  const float* W_dec = params.data() + L.W_dec;
  const std::vector<float> norms = decoder_row_norms(W_dec, cfg.d_sae, cfg.d_in);
  double total = 0;
  for (int64_t f = 0; f < n_feat; ++f) {
    double best = -1;
    for (int64_t i = 0; i < cfg.d_sae; ++i) {
      double dot = 0;
      for (int64_t j = 0; j < cfg.d_in; ++j) dot += double(truth[size_t(f * cfg.d_in + j)]) * W_dec[i * cfg.d_in + j];
      if (norms[size_t(i)] > 0) best = std::max(best, dot / norms[size_t(i)]);
    }
    total += best;
  }
  return total / double(n_feat);
}

struct Recipe {
  SaeArch arch;
  int64_t steps;
  double lr, sparsity;
  double threshold = 0.01, bandwidth = 0.05;  // jumprelu: scaled to this data's activations (~2 to 7)
};

class SaeRecoveryTest : public ::testing::TestWithParam<Recipe> {};

TEST_P(SaeRecoveryTest, RecoversSyntheticDictionary) {
  const Recipe r = GetParam();
  const int64_t d = 64, n_feat = 512;
  const std::vector<float> truth = testing::random_unit_dictionary(n_feat, d, 21);
  ArrayRows rows(testing::sparse_rows(truth, n_feat, d, 1 << 15, 3, 22), d, 23);
  SaeConfig cfg;
  cfg.arch = r.arch;
  cfg.d_in = d;
  cfg.d_sae = 1024;
  cfg.k = 3;
  cfg.batch_size = 256;
  cfg.steps = r.steps;
  cfg.lr = r.lr;
  cfg.l1_coefficient = r.sparsity;
  cfg.l0_coefficient = r.sparsity;
  cfg.l1_warmup_steps = r.steps / 10;
  cfg.jumprelu_init_threshold = r.threshold;
  cfg.jumprelu_bandwidth = r.bandwidth;
  cfg.dead_feature_window = 200;
  cfg.seed = 5;
  SaeTrainState st = new_sae_state(cfg, rows, 4096);
  auto be = make_cpu_backend(1);
  SaeTrainer trainer(st, *be);
  SaeProgress last;
  trainer.run(rows, [&](const SaeProgress& p) {
    last = p;
    return true;
  });
  const double score = mean_best_cosine(truth, n_feat, cfg, st.params);
  std::printf("%s: mean best cosine %.4f after %lld steps; L0 %.2f, mse %.4f, dead %.3f\n", to_string(r.arch).c_str(),
              score, (long long)r.steps, last.result.l0, last.result.mse, last.dead_fraction);
  EXPECT_GE(score, 0.9);
}

INSTANTIATE_TEST_SUITE_P(Architectures, SaeRecoveryTest,
                         ::testing::Values(Recipe{SaeArch::relu, 1500, 3e-3, 3.0}, Recipe{SaeArch::topk, 1500, 3e-3, 0},
                                           Recipe{SaeArch::batchtopk, 1500, 3e-3, 0},
                                           Recipe{SaeArch::jumprelu, 1500, 5e-3, 0.3, 0.1, 0.2}),
                         [](const ::testing::TestParamInfo<Recipe>& i) { return to_string(i.param.arch); });

}  // namespace
}  // namespace headlab
