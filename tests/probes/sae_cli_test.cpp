// headlab-probes sae train / eval / features end to end on a tiny model, and the bad inputs each
// must refuse with one line, exit 2 and no partial file.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/h5_file.h"
#include "data/token_dataset.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "probes/sae_file.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"

namespace headlab {
namespace {

const std::string kTool = std::string(HEADLAB_BINARY_DIR) + "/bin/headlab-probes";

struct Fixture {
  testing::TempDir dir;
  std::string ckpt, other_ckpt, data;
  Fixture() {
    ModelConfig c;
    c.n_layers = 2;
    c.d_model = 16;
    c.n_heads = 2;
    c.d_head = 4;
    c.n_ctx = 12;
    c.d_vocab = 20;
    c.attn_only = true;
    auto be = make_cpu_backend(1);
    for (int seed : {1, 2}) {
      Transformer m(c, *be);
      m.init_gpt2(uint64_t(seed));
      Checkpoint k;
      k.config = c;
      k.params = m.params_to_host();
      write_checkpoint(dir.path(seed == 1 ? "model.h5" : "other.h5"), k);
    }
    ckpt = dir.path("model.h5");
    other_ckpt = dir.path("other.h5");
    TokenDataset ds;
    ds.kind = DatasetKind::sequences;
    ds.d_vocab = 20;
    ds.n_seq = 40;
    ds.seq_len = 12;
    std::mt19937_64 rng(3);
    for (int i = 0; i < 40 * 12; ++i) ds.tokens.push_back(int32_t(rng() % 20));
    data = dir.path("data.h5");
    write_token_dataset(data, ds);
  }
  std::string train_args(const std::string& out) const {
    return kTool + " sae train --checkpoint " + ckpt + " --data " + data +
           " --hook blocks.1.attn.hook_z --arch topk --expansion 4 --k 3 --steps 6 --batch-size 32 --lr 1e-2"
           " --norm-tokens 64 --log-every 3 --threads 1 --out " +
           out;
  }
};

void expect_refused(const testing::CommandResult& r, const std::string& part, const std::string& no_file) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err_lines(), 1) << r.err;
  EXPECT_NE(r.err.find("headlab-probes: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << "expected '" << part << "' in: " << r.err;
  if (!no_file.empty()) {
    EXPECT_FALSE(std::filesystem::exists(no_file)) << no_file;
  }
}

TEST(SaeCliTest, TrainEvalFeaturesEndToEnd) {
  Fixture f;
  const std::string sae = f.dir.path("sae.h5");
  const testing::CommandResult t = testing::run_command_line(f.train_args(sae));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("step 6/6"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("tokens/s"), std::string::npos) << t.out;
  const Sae s = read_sae_file(sae);
  EXPECT_EQ(s.d_in, 8);
  EXPECT_EQ(s.d_sae, 32);
  EXPECT_EQ(s.n_heads, 2);
  EXPECT_EQ(s.model_hash, checkpoint_hash(f.ckpt));

  const std::string json = f.dir.path("m.json");
  const testing::CommandResult e =
      testing::run_command_line(kTool + " sae eval --sae " + sae + " --checkpoint " + f.ckpt + " --data " + f.data +
                                " --threads 1 --json " + json);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  for (const char* key : {"L0", "explained variance", "ce_loss_score", "kl_div_score", "dead features"})
    EXPECT_NE(e.out.find(key), std::string::npos) << key << " in " << e.out;
  EXPECT_TRUE(std::filesystem::exists(json));

  const std::string pages = f.dir.path("pages");
  const testing::CommandResult p =
      testing::run_command_line(kTool + " sae features --sae " + sae + " --checkpoint " + f.ckpt + " --data " + f.data +
                                " --threads 1 --out-dir " + pages);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_TRUE(std::filesystem::exists(pages + "/index.html"));
  EXPECT_TRUE(std::filesystem::exists(pages + "/features.json"));
  EXPECT_NE(p.out.find("L1H0"), std::string::npos) << p.out;
  {  // The per-head summary counts live features only: one head each.
    const nlohmann::json j = nlohmann::json::parse(testing::read_file_text(pages + "/features.json"));
    int64_t top = 0;
    for (const auto& h : j.at("heads")) top += h.at("features_top").get<int64_t>();
    EXPECT_EQ(top, j.at("live_features").get<int64_t>());
  }
  const std::string html = testing::read_file_text(pages + "/index.html");
  EXPECT_NE(html.find("id=\"f"), std::string::npos);
  EXPECT_NE(html.find("L1H1"), std::string::npos);

  // Checkpoints and resume: 3 steps + resume to 6 equals 6 straight.
  const std::string a = f.dir.path("a.h5");
  ASSERT_EQ(testing::run_command_line(f.train_args(a) + " --checkpoint-every 3").exit_code, 0);
  const std::string step3 = f.dir.path("a.ckpt/step_0000003.h5");
  ASSERT_TRUE(std::filesystem::exists(step3));
  const std::string b = f.dir.path("b.h5");
  const testing::CommandResult r = testing::run_command_line(f.train_args(b) + " --resume " + step3);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_sae_file(a).W_dec, read_sae_file(b).W_dec);
  EXPECT_EQ(read_sae_file(a).W_dec, s.W_dec);
}

TEST(SaeCliTest, TrainsFromAnActivationStore) {
  Fixture f;
  const std::string store = f.dir.path("store.h5"), other = f.dir.path("other_store.h5");
  auto extract = [&](const std::string& ckpt, const std::string& hooks, const std::string& out) {
    return testing::run_command_line(kTool + " extract --checkpoint " + ckpt + " --data " + f.data + " --hooks " +
                                     hooks + " --threads 1 --out " + out);
  };
  ASSERT_EQ(extract(f.ckpt, "blocks.1.attn.hook_z,blocks.0.hook_resid_post", store).exit_code, 0);
  const std::string sae = f.dir.path("sae.h5");
  const std::string args = kTool + " sae train --checkpoint " + f.ckpt +
                           " --hook blocks.1.attn.hook_z --arch relu --expansion 2 --steps 4 --batch-size 32"
                           " --norm-tokens 64 --threads 1 --out " +
                           sae;
  const testing::CommandResult r = testing::run_command_line(args + " --store " + store);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("of the store"), std::string::npos) << r.out;
  EXPECT_EQ(read_sae_file(sae).d_in, 8);
  std::filesystem::remove(sae);

  // A store without the hook; a store of another model; --data and --store together.
  ASSERT_EQ(extract(f.ckpt, "blocks.0.hook_resid_post", other).exit_code, 0);
  expect_refused(testing::run_command_line(args + " --store " + other), "has no activations of blocks.1.attn.hook_z",
                 sae);
  std::filesystem::remove(other);
  ASSERT_EQ(extract(f.other_ckpt, "blocks.1.attn.hook_z", other).exit_code, 0);
  expect_refused(testing::run_command_line(args + " --store " + other), "holds activations of model", sae);
  expect_refused(testing::run_command_line(args + " --store " + store + " --data " + f.data), "exactly one", sae);
}

TEST(SaeCliTest, BadInputsGiveOneLineAndStatusTwo) {
  Fixture f;
  const std::string out = f.dir.path("bad.h5");
  const std::string base = kTool + " sae train --checkpoint " + f.ckpt + " --data " + f.data +
                           " --steps 2 --batch-size 8 --norm-tokens 16 --threads 1 --out " + out;
  expect_refused(testing::run_command_line(base + " --hook blocks.1.attn.hook_z --k 40 --expansion 2"), "--k", out);
  expect_refused(testing::run_command_line(base + " --hook blocks.1.attn.hook_z --expansion 0"), "--expansion", out);
  expect_refused(testing::run_command_line(base + " --hook blocks.7.hook_resid_pre"), "--hook", out);
  expect_refused(testing::run_command_line(base + " --hook blocks.1.attn.hook_z --arch gated"), "--arch", out);
  expect_refused(testing::run_command_line(base + " --hook blocks.1.attn.hook_pattern"), "--hook", out);

  // An SAE and a model that disagree; a damaged SAE file.
  const std::string sae = f.dir.path("sae.h5");
  ASSERT_EQ(testing::run_command_line(f.train_args(sae)).exit_code, 0);
  const std::string json = f.dir.path("m.json");
  expect_refused(testing::run_command_line(kTool + " sae eval --sae " + sae + " --checkpoint " + f.other_ckpt +
                                           " --data " + f.data + " --json " + json),
                 "was trained on model", json);
  {
    h5::File h = h5::File::open(sae, h5::Access::read_write);
    std::vector<float> w(7, 0.0f);
    h.write<float>("b_dec", w.data(), {7});
    h.close();
  }
  expect_refused(testing::run_command_line(kTool + " sae eval --sae " + sae + " --checkpoint " + f.ckpt + " --data " +
                                           f.data + " --json " + json),
                 "b_dec", json);
  const std::string pages = f.dir.path("pages");
  expect_refused(testing::run_command_line(kTool + " sae features --sae " + sae + " --checkpoint " + f.ckpt +
                                           " --data " + f.data + " --out-dir " + pages),
                 "--sae", pages);
  std::filesystem::resize_file(sae, 100);
  expect_refused(
      testing::run_command_line(kTool + " sae eval --sae " + sae + " --checkpoint " + f.ckpt + " --data " + f.data),
      "--sae", "");
}

}  // namespace
}  // namespace headlab
