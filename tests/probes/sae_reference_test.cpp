// SAE training steps against an outside reference: the same losses written in float64 PyTorch from
// their published definitions (tests/probes/sae_reference.py), for each architecture. headlab
// trains three steps through SaeTrainer (warm-ups, dead latents for AuxK, clipping, the schedule);
// at each step's weights the reference recomputes the loss parts and gradients in float64, and
// replays torch.optim.Adam + clip_grad_norm_ on headlab's own gradients. Skips, saying why, where
// /usr/bin/python3 with torch, h5py and numpy is missing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/h5_file.h"
#include "model/backend.h"
#include "probes/sae_trainer.h"
#include "tests/probes/sae_test_util.h"
#include "tests/python_reference.h"
#include "tests/temp_dir.h"

namespace headlab {
namespace {

struct Case {
  SaeArch arch;
  int64_t n_dead;    // latents made dead before the first step (AuxK)
  double grad_clip;  // small enough to clip in some cases
};

class SaeReferenceTest : public ::testing::TestWithParam<Case> {};

double max_abs(const float* a, const double* b, int64_t n, double* ref_max) {
  double m = 0, r = 0;
  for (int64_t i = 0; i < n; ++i) {
    m = std::max(m, std::fabs(double(a[i]) - b[i]));
    r = std::max(r, std::fabs(b[i]));
  }
  if (ref_max) *ref_max = r;
  return m;
}

TEST_P(SaeReferenceTest, StepsEqualFloat64Torch) {
  const std::string why = testing::python_reference_missing();
  if (!why.empty()) GTEST_SKIP() << why;
  const Case c = GetParam();
  testing::TempDir dir;

  const int64_t d_in = 16, n_feat = 48, S = 3;
  const std::vector<float> D = testing::random_unit_dictionary(n_feat, d_in, 11);
  ArrayRows rows(testing::sparse_rows(D, n_feat, d_in, 512, 3, 12), d_in, 13);
  testing::RecordingRows rec(rows);

  SaeConfig cfg;
  cfg.arch = c.arch;
  cfg.d_in = d_in;
  cfg.d_sae = 64;
  cfg.k = 4;
  cfg.batch_size = 32;
  cfg.steps = S;
  cfg.lr = 2e-3;
  cfg.schedule.warmup_steps = 2;
  cfg.l1_coefficient = 0.3;
  cfg.l1_warmup_steps = 2;
  cfg.l0_coefficient = 0.05;
  cfg.l0_warmup_steps = 1;
  cfg.grad_clip = c.grad_clip;
  cfg.dead_feature_window = 5;
  cfg.seed = 3;
  SaeTrainState st = new_sae_state(cfg, rec, 256);
  rec.batches.clear();
  for (int64_t i = 0; i < c.n_dead; ++i) st.since_fired[size_t(i * 3)] = cfg.dead_feature_window + 1;

  auto be = make_cpu_backend(2);
  SaeTrainer trainer(st, *be);
  const int64_t P = int64_t(st.params.size());
  std::vector<float> params_before, params_after, grads, coef, lr;
  std::vector<uint8_t> dead;
  std::vector<double> hl_loss;
  double max_norm = 0;
  for (int64_t s = 0; s < S; ++s) {
    for (int64_t i = 0; i < cfg.d_sae; ++i) dead.push_back(st.since_fired[size_t(i)] > cfg.dead_feature_window);
    params_before.insert(params_before.end(), st.params.begin(), st.params.end());
    const SaeProgress p = trainer.step(rec);
    grads.insert(grads.end(), trainer.last_grads().begin(), trainer.last_grads().end());
    params_after.insert(params_after.end(), st.params.begin(), st.params.end());
    coef.push_back(float(p.sparsity_coefficient));
    lr.push_back(float(p.lr));
    hl_loss.insert(hl_loss.end(), {p.result.mse, p.result.sparsity, p.result.aux, p.result.loss});
    max_norm = std::max(max_norm, p.grad_norm);
    if (c.n_dead > 0 && s == 0) {
      EXPECT_EQ(p.result.n_dead, c.n_dead);
      EXPECT_GT(p.result.aux, 0.0);
    }
  }
  if (c.grad_clip < 0.5) {
    EXPECT_GT(max_norm, c.grad_clip) << "the case is meant to clip";
  }

  std::vector<float> xs;
  for (const auto& b : rec.batches)
    for (float v : b) xs.push_back(v * float(st.scale));
  const std::string run = dir.path("run.h5"), out = dir.path("out.h5");
  {
    h5::AtomicFile f(run);
    h5::File& h = f.file();
    h.set_attr("arch", to_string(cfg.arch));
    h.set_attr("d_in", cfg.d_in);
    h.set_attr("d_sae", cfg.d_sae);
    h.set_attr("k", cfg.k);
    h.set_attr("steps", S);
    h.set_attr("rescale", int64_t(cfg.rescale_acts_by_decoder_norm));
    h.set_attr("bandwidth", cfg.jumprelu_bandwidth);
    h.set_attr("aux_coefficient", cfg.aux_coefficient);
    h.set_attr("beta1", cfg.beta1);
    h.set_attr("beta2", cfg.beta2);
    h.set_attr("eps", double(float(cfg.eps)));
    h.set_attr("grad_clip", cfg.grad_clip);
    h.write<float>("x", xs.data(), {S, cfg.batch_size, d_in});
    h.write<uint8_t>("dead", dead.data(), {S, cfg.d_sae});
    h.write<float>("coef", coef.data(), {S});
    h.write<float>("lr", lr.data(), {S});
    h.write<float>("params", params_before.data(), {S, P});
    h.write<float>("grads", grads.data(), {S, P});
    f.commit();
  }
  const std::string cmd = std::string(testing::kReferencePython) + " " + HEADLAB_SOURCE_DIR +
                          "/tests/probes/sae_reference.py " + run + " " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  h5::File ref = h5::File::open(out);
  const std::vector<double> loss = ref.read<double>("loss", {S, 4});
  const std::vector<double> rgrads = ref.read<double>("grads", {S, P});
  const std::vector<double> replay = ref.read<double>("replay", {S, P});
  for (int64_t s = 0; s < S; ++s) {
    for (int j = 0; j < 4; ++j)
      EXPECT_NEAR(hl_loss[size_t(s * 4 + j)], loss[size_t(s * 4 + j)],
                  2e-5 * std::max(1.0, std::fabs(loss[size_t(s * 4 + j)])))
          << "step " << s << " loss part " << j;
    double gmax = 0;
    const double gdiff = max_abs(grads.data() + s * P, rgrads.data() + s * P, P, &gmax);
    EXPECT_LE(gdiff, 1e-4 * gmax + 1e-7) << "step " << s << ": gradient differs (max |g| " << gmax << ")";
    const double pdiff = max_abs(params_after.data() + s * P, replay.data() + s * P, P, nullptr);
    EXPECT_LE(pdiff, 2e-6) << "step " << s << ": Adam update differs";
  }
  if (cfg.arch == SaeArch::jumprelu) {  // the threshold moved: its straight-through gradient is used
    const SaeLayout L(cfg);
    double moved = 0;
    for (int64_t i = 0; i < cfg.d_sae; ++i)
      moved = std::max(moved, std::fabs(double(st.params[size_t(L.log_threshold + i)]) - std::log(0.01)));
    EXPECT_GT(moved, 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, SaeReferenceTest,
                         ::testing::Values(Case{SaeArch::relu, 0, 0.1}, Case{SaeArch::topk, 20, 0.1},
                                           Case{SaeArch::batchtopk, 5, 1.0}, Case{SaeArch::jumprelu, 0, 1.0},
                                           Case{SaeArch::topk, 0, 1.0}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return to_string(i.param.arch) + "_dead" + std::to_string(i.param.n_dead);
                         });

}  // namespace
}  // namespace headlab
