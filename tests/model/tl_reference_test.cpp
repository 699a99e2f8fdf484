// The model against an independent reference: TransformerLens' math written in PyTorch (float64,
// autograd) by tests/model/tl_reference.py. Logits, loss and every parameter's gradient must agree
// for every model variant. Skips, saying why, where python3 with torch and h5py is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/h5_file.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "tests/model/model_test_util.h"
#include "tests/python_reference.h"

namespace headlab {
namespace {

class TransformerReferenceTest : public ::testing::TestWithParam<testing::Variant> {};

TEST_P(TransformerReferenceTest, LogitsLossAndGradientsMatchTransformerLensMath) {
  if (!testing::python_reference_missing().empty()) GTEST_SKIP() << testing::python_reference_missing();
  ModelConfig cfg = GetParam().cfg;
  auto be = make_cpu_backend(2);
  Transformer model(cfg, *be);
  model.init_gpt2(21);
  // Scale weights up so every part of the network matters to the output.
  std::vector<float> p = model.params_to_host();
  for (const StorageInfo& s : model.table().storage())
    if (s.kind != ParamKind::norm)
      for (int64_t i = 0; i < s.size; ++i) p[size_t(s.offset + i)] *= 15.0f;
  for (const StorageInfo& s : model.table().storage())  // non-zero biases and norm offsets
    if (s.kind == ParamKind::bias || s.kind == ParamKind::norm)
      for (int64_t i = 0; i < s.size; ++i) p[size_t(s.offset + i)] += 0.05f * float((i * 7 + 3) % 11 - 5);
  model.params_from_host(p);

  const int B = 3, T = cfg.n_ctx;
  auto tokens = testing::random_tokens(B * T, cfg.d_vocab, 4);
  auto targets = testing::next_token_targets(tokens, B, T);
  targets[4] = -1;  // an ignored position in the middle
  model.zero_grads();
  const float loss = model.forward_loss(tokens.data(), targets.data(), B, T);
  const std::vector<float> logits = model.logits_to_host();
  model.backward();
  const std::vector<float> grads = model.grads_to_host();

  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("headlab_tlref_" + GetParam().name + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Checkpoint ck;
  ck.config = cfg;
  ck.params = p;
  write_checkpoint((dir / "model.h5").string(), ck);
  {
    h5::AtomicFile f((dir / "batch.h5").string());
    f.file().write<int32_t>("tokens", tokens.data(), {B, T});
    f.file().write<int32_t>("targets", targets.data(), {B, T});
    f.commit();
  }
  const std::string cmd = std::string(testing::kReferencePython) +
                          " " HEADLAB_SOURCE_DIR "/tests/model/tl_reference.py " + (dir / "model.h5").string() + " " +
                          (dir / "batch.h5").string() + " " + (dir / "ref.h5").string() + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  h5::File ref = h5::File::open((dir / "ref.h5").string());
  const std::vector<double> ref_logits = ref.read<double>("logits", h5::Shape{B, T, cfg.d_vocab});
  double max_logit = 0;
  for (double x : ref_logits) max_logit = std::max(max_logit, std::fabs(x));
  for (size_t i = 0; i < logits.size(); ++i) ASSERT_NEAR(logits[i], ref_logits[i], 1e-4 * max_logit + 1e-5) << i;
  const double ref_loss = ref.read<double>("loss", h5::Shape{})[0];
  EXPECT_NEAR(loss, ref_loss, 1e-5 * std::fabs(ref_loss) + 1e-6);

  for (const ParamInfo& info : model.table().params()) {
    const std::vector<double> g =
        ref.read<double>("grads/" + info.name, h5::Shape(info.shape.begin(), info.shape.end()));
    double scale = 0;
    for (double x : g) scale = std::max(scale, std::fabs(x));
    for (int64_t i = 0; i < info.numel(); ++i)
      ASSERT_NEAR(grads[size_t(info.arena_offset(i))], g[size_t(i)], 2e-4 * scale + 1e-7)
          << GetParam().name << " " << info.name << " element " << i;
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(AllVariants, TransformerReferenceTest, ::testing::ValuesIn(testing::all_variants()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace headlab
