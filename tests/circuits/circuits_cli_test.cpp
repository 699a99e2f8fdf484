// headlab-circuits through the binary: every command writes its HDF5 and SVG files, and bad inputs
// end in one error line and exit status 2 with no output file left behind.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/checkpoint.h"
#include "model/h5_file.h"
#include "tests/circuits/circuits_test_util.h"

namespace headlab {
namespace {

namespace fs = std::filesystem;
const std::string kBinary = HEADLAB_BINARY_DIR "/circuits/headlab-circuits";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CircuitsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kBinary)) GTEST_SKIP() << kBinary << " is not built";
    ModelConfig c = testing::small_config();
    auto be = make_cpu_backend(1);
    auto model = testing::random_model(c, *be, 61);
    Checkpoint ck;
    ck.config = c;
    ck.params = model->params_to_host();
    write_checkpoint(ckpt_, ck);
    write_token_dataset(task_, testing::synthetic_task(4, 7, c.d_vocab, 62));
    write_token_dataset(no_pairs_, testing::synthetic_task(4, 7, c.d_vocab, 63, false, false));
    write_token_dataset(other_, testing::synthetic_task(3, 7, c.d_vocab, 64, false, false));
    // /corrupted one token longer than /tokens: write a valid file, then replace /corrupted.
    write_token_dataset(mismatched_, testing::synthetic_task(4, 7, c.d_vocab, 65));
    h5::File f = h5::File::open(mismatched_, h5::Access::read_write);
    f.remove("corrupted");
    std::vector<int32_t> longer(4 * 8, 1);
    f.write<int32_t>("corrupted", longer.data(), {4, 8});
    f.close();
  }

  // Runs the binary; returns the exit status, with stdout and stderr in out_ and err_.
  int run(const std::string& args) {
    const std::string cmd = kBinary + " " + args + " >" + dir_.path("stdout") + " 2>" + dir_.path("stderr");
    const int status = std::system(cmd.c_str());
    out_ = slurp(dir_.path("stdout"));
    err_ = slurp(dir_.path("stderr"));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string common(const std::string& data, const std::string& prefix) {
    return "--checkpoint " + ckpt_ + " --data " + data + " --out " + dir_.path(prefix) + " --threads 1";
  }
  void expect_outputs(const std::string& prefix, const std::string& format) {
    h5::File f = h5::File::open(dir_.path(prefix) + ".h5");
    EXPECT_EQ(h5::check_format(f, format, 1), 1);
    EXPECT_EQ(f.attr_string("checkpoint"), ckpt_);
    const std::string svg = slurp(dir_.path(prefix) + ".svg");
    EXPECT_EQ(svg.rfind("<?xml", 0), 0u) << prefix;
    EXPECT_NE(svg.find("</svg>"), std::string::npos) << prefix;
  }
  // One line on stderr, "headlab-circuits: error: ...", naming `what`.
  void expect_input_error(int status, const std::string& what) {
    EXPECT_EQ(status, 2) << err_;
    EXPECT_EQ(err_.rfind("headlab-circuits: error: ", 0), 0u) << err_;
    EXPECT_EQ(std::count(err_.begin(), err_.end(), '\n'), 1) << err_;
    EXPECT_NE(err_.find(what), std::string::npos) << err_;
  }

  testing::TempDir dir_;
  std::string ckpt_ = dir_.path("model.h5"), task_ = dir_.path("task.h5"), no_pairs_ = dir_.path("no_pairs.h5"),
              other_ = dir_.path("other.h5"), mismatched_ = dir_.path("mismatched.h5");
  std::string out_, err_;
};

TEST_F(CircuitsCliTest, PatchWritesItsSweeps) {
  ASSERT_EQ(run("patch " + common(task_, "p") + " --sweeps resid_pre,z,v_pos --direction both --batch-size 3"), 0)
      << err_;
  expect_outputs("p", "headlab.patch");
  h5::File f = h5::File::open(dir_.path("p.h5"));
  EXPECT_EQ(f.shape("denoising/resid_pre/normalised"), (h5::Shape{2, 7}));
  EXPECT_EQ(f.shape("noising/z/metric"), (h5::Shape{2, 3}));
  EXPECT_EQ(f.shape("noising/v_pos/normalised"), (h5::Shape{2, 3, 7}));
  const auto resid = f.read<double>("denoising/resid_pre/normalised", h5::Shape{2, 7});
  // Every position of layer 0 is patched separately; positions 1 and 3 carry the whole difference.
  EXPECT_NE(resid[1], 0.0);
  EXPECT_NE(out_.find("clean"), std::string::npos);
}

TEST_F(CircuitsCliTest, OtherCommandsWriteTheirFiles) {
  ASSERT_EQ(run("path-patch " + common(task_, "pp") + " --receivers L1H0:q,L1H2"), 0) << err_;
  expect_outputs("pp", "headlab.path_patch");
  EXPECT_EQ(h5::File::open(dir_.path("pp.h5")).shape("effect"), (h5::Shape{2, 3}));
  ASSERT_EQ(run("path-patch " + common(task_, "pl") + " --receivers logits --senders L0H1,L1H2 --metric kl"), 0)
      << err_;
  EXPECT_EQ(h5::File::open(dir_.path("pl.h5")).shape("effect"), (h5::Shape{1}));
  ASSERT_EQ(run("ablate " + common(task_, "ab") + " --ablation resample --reference " + other_ + " --seed 3"), 0)
      << err_;
  expect_outputs("ab", "headlab.ablation");
  EXPECT_EQ(h5::File::open(dir_.path("ab.h5")).shape("heads/loss_change"), (h5::Shape{2, 3}));
  ASSERT_EQ(run("dla " + common(no_pairs_, "dla")), 0) << err_;
  expect_outputs("dla", "headlab.dla");
  h5::File dla = h5::File::open(dir_.path("dla.h5"));
  EXPECT_NEAR(dla.attr_float("sum_of_parts") + dla.attr_float("remainder"), dla.attr_float("logit_diff"), 1e-4);
  ASSERT_EQ(run("logit-lens " + common(task_, "ll") + " --metric prob"), 0) << err_;
  expect_outputs("ll", "headlab.logit_lens");
  EXPECT_EQ(h5::File::open(dir_.path("ll.h5")).shape("rank"), (h5::Shape{3, 4}));
  ASSERT_EQ(run("steer " + common(task_, "st") + " --hook blocks.1.hook_resid_pre --positive " + task_ +
                " --negative " + other_ + " --coefficients -2,2 --samples 2 --max-new 3"),
            0)
      << err_;
  expect_outputs("st", "headlab.steering");
  EXPECT_EQ(h5::File::open(dir_.path("st.h5")).shape("metric"), (h5::Shape{2}));
  // The direction of one run steers another.
  ASSERT_EQ(run("steer " + common(task_, "st2") + " --hook blocks.1.hook_resid_pre --direction " + dir_.path("st.h5") +
                " --coefficients 1 --samples 0"),
            0)
      << err_;
  // --out-dir names the files after the command.
  ASSERT_EQ(run("dla --checkpoint " + ckpt_ + " --data " + task_ + " --out-dir " + dir_.path("outdir")), 0) << err_;
  EXPECT_TRUE(fs::exists(dir_.path("outdir/dla.h5")));
  EXPECT_TRUE(fs::exists(dir_.path("outdir/dla.svg")));
}

TEST_F(CircuitsCliTest, HeadsThatDoNotExistAreInputErrors) {
  expect_input_error(run("path-patch " + common(task_, "x") + " --receivers L1H0 --senders L0H7"), "--senders");
  expect_input_error(run("path-patch " + common(task_, "x") + " --receivers L5H0:q"), "--receivers");
  EXPECT_FALSE(fs::exists(dir_.path("x.h5")));
}

TEST_F(CircuitsCliTest, HooksThatDoNotExistAreInputErrors) {
  expect_input_error(run("steer " + common(task_, "x") + " --hook blocks.4.hook_resid_pre --positive " + task_ +
                         " --negative " + other_),
                     "blocks.4.hook_resid_pre");
  expect_input_error(run("steer " + common(task_, "x") + " --hook blocks.0.attn.hook_pattern --positive " + task_ +
                         " --negative " + other_),
                     "hook_pattern");
  expect_input_error(run("patch " + common(task_, "x") + " --sweeps resid_pre,hook_nothing"), "hook_nothing");
  EXPECT_FALSE(fs::exists(dir_.path("x.h5")));
}

TEST_F(CircuitsCliTest, PatchingWithoutCorruptedRowsIsAnInputError) {
  expect_input_error(run("patch " + common(no_pairs_, "x")), "/corrupted");
  expect_input_error(run("path-patch " + common(no_pairs_, "x") + " --receivers logits"), "/corrupted");
  EXPECT_FALSE(fs::exists(dir_.path("x.h5")));
}

TEST_F(CircuitsCliTest, CleanAndCorruptedOfDifferentLengthsAreAnInputError) {
  expect_input_error(run("patch " + common(mismatched_, "x")), "corrupted");
  EXPECT_FALSE(fs::exists(dir_.path("x.h5")));
}

TEST_F(CircuitsCliTest, BadOptionsAreInputErrors) {
  expect_input_error(run("patch --data " + task_ + " --out " + dir_.path("x")), "--checkpoint");
  expect_input_error(run("patch " + common(task_, "x") + " --metric accuracy"), "--metric");
  expect_input_error(run("patch " + common(task_, "x") + " --no-such-option 1"), "no-such-option");
  expect_input_error(run("ablate " + common(task_, "x") + " --ablation half"), "--ablation");
  expect_input_error(run("sideways"), "sideways");
  expect_input_error(
      run("dla --checkpoint " + dir_.path("missing.h5") + " --data " + task_ + " --out " + dir_.path("x")),
      "missing.h5");
  EXPECT_EQ(run("--help"), 0);
  EXPECT_NE(out_.find("path-patch"), std::string::npos);
  EXPECT_EQ(run("patch --help"), 0);
  EXPECT_NE(out_.find("--sweeps"), std::string::npos);
}

}  // namespace
}  // namespace headlab
