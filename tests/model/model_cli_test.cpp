// headlab-model through its command line: what works, and one clear error line with exit status
// 2 for every bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/h5_file.h"
#include "model/checkpoint.h"
#include "tests/command_runner.h"

namespace headlab {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::run_command_line;

const std::string kTool = HEADLAB_BINARY_DIR "/bin/headlab-model";

class ModelCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kTool)) GTEST_SKIP() << "headlab-model was not built";
    dir_ = fs::temp_directory_path() / ("headlab_model_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "model.ini") << "[model]\nn_layers = 2\nd_model = 16\nn_heads = 2\nd_mlp = 32\n"
                                         "n_ctx = 8\nd_vocab = 20\nattn_only = true\n";
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  CommandResult tool(const std::string& args) const { return run_command_line(kTool + " " + args); }
  void expect_input_error(const CommandResult& r, const std::string& mentions) const {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err_lines(), 1) << r.err;
    EXPECT_EQ(r.err.rfind("headlab-model: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(mentions), std::string::npos) << "expected '" << mentions << "' in: " << r.err;
  }
  void write_tokens(const std::string& name, const std::vector<int32_t>& t, int64_t B, int64_t T) const {
    h5::AtomicFile f(path(name));
    f.file().write<int32_t>("tokens", t.data(), {B, T});
    f.commit();
  }
  fs::path dir_;
};

TEST_F(ModelCliTest, InitInfoRunSampleWork) {
  CommandResult init = tool("init --config " + path("model.ini") + " --seed 3 --out " + path("m.h5"));
  ASSERT_EQ(init.exit_code, 0) << init.err;
  ModelConfig cfg = read_checkpoint_config(path("m.h5"));
  EXPECT_EQ(cfg.d_head, 8);
  EXPECT_TRUE(cfg.attn_only);
  CommandResult info = tool("info " + path("m.h5"));
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("total"), std::string::npos);
  write_tokens("t.h5", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 2, 5);
  CommandResult run = tool("run --checkpoint " + path("m.h5") + " --tokens " + path("t.h5") +
                           " --hooks blocks.1.attn.hook_pattern,hook_embed --out " + path("run.h5"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  h5::File out = h5::File::open(path("run.h5"));
  EXPECT_EQ(out.shape("logits"), (h5::Shape{2, 5, 20}));
  EXPECT_EQ(out.shape("cache/blocks.1.attn.hook_pattern"), (h5::Shape{2, 2, 5, 5}));
  EXPECT_EQ(out.shape("cache/hook_embed"), (h5::Shape{2, 5, 16}));
  CommandResult sample =
      tool("sample --checkpoint " + path("m.h5") + " --prompt-tokens '1 2 3' --max-new 12 --temperature 0");
  ASSERT_EQ(sample.exit_code, 0) << sample.err;
  int count = 0;
  std::stringstream ss(sample.out);
  int id;
  while (ss >> id) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 20);
    ++count;
  }
  EXPECT_EQ(count, 15);  // 3 prompt tokens + 12 new, past n_ctx = 8 through the sliding window
}

TEST_F(ModelCliTest, BadInputsGiveOneLineAndExitTwo) {
  ASSERT_EQ(tool("init --config " + path("model.ini") + " --out " + path("m.h5")).exit_code, 0);
  expect_input_error(tool("frobnicate"), "frobnicate");
  expect_input_error(tool("init --config " + path("model.ini") + " --out " + path("x.h5") + " --no-such-option 1"),
                     "no-such-option");
  expect_input_error(tool("info " + path("missing.h5")), "missing.h5");
  expect_input_error(tool("init --config " + path("model.ini") + " --model.d_model 15 --out " + path("x.h5")),
                     "divisible");
  expect_input_error(tool("init --config " + path("model.ini") + " --model.n_ctx 0 --out " + path("x.h5")), "n_ctx");
  expect_input_error(tool("init --config " + path("model.ini") + " --model.act_fn tanh --out " + path("x.h5")),
                     "act_fn");
  EXPECT_FALSE(fs::exists(path("x.h5")));
  write_tokens("big.h5", {1, 2, 25, 4}, 1, 4);
  expect_input_error(
      tool("run --checkpoint " + path("m.h5") + " --tokens " + path("big.h5") + " --out " + path("r.h5")),
      path("big.h5") + ": /tokens: expected token ids in [0, d_vocab = 20); found 25 at [0, 2]");
  EXPECT_FALSE(fs::exists(path("r.h5")));
  write_tokens("long.h5", std::vector<int32_t>(9, 1), 1, 9);
  expect_input_error(
      tool("run --checkpoint " + path("m.h5") + " --tokens " + path("long.h5") + " --out " + path("r.h5")), "n_ctx");
  expect_input_error(tool("run --checkpoint " + path("m.h5") + " --tokens " + path("long.h5") +
                          " --hooks blocks.5.hook_resid_pre --out " + path("r.h5")),
                     "blocks.5.hook_resid_pre");
  expect_input_error(tool("sample --checkpoint " + path("m.h5") + " --prompt-tokens '1 x'"), "prompt-tokens");
  // A checkpoint with a missing parameter, and one with a misshapen parameter.
  fs::copy_file(path("m.h5"), path("broken.h5"));
  {
    h5::File f = h5::File::open(path("broken.h5"), h5::Access::read_write);
    h5::Group params = f.group("params");
    params.remove("blocks.1.attn.W_K");
  }
  expect_input_error(tool("info " + path("broken.h5")), "blocks.1.attn.W_K");
  fs::copy_file(path("m.h5"), path("misshapen.h5"));
  {
    h5::File f = h5::File::open(path("misshapen.h5"), h5::Access::read_write);
    h5::Group params = f.group("params");
    params.remove("embed.W_E");
    std::vector<float> w(19 * 16, 0.0f);
    params.write<float>("embed.W_E", w.data(), {19, 16});
  }
  expect_input_error(tool("info " + path("misshapen.h5")), "embed.W_E");
  std::ofstream(path("not_hdf5.h5")) << "hello";
  expect_input_error(tool("info " + path("not_hdf5.h5")), "not_hdf5.h5");
}

}  // namespace
}  // namespace headlab
