// headlab-circuits through the binary: every command writes its HDF5 and SVG files, and bad inputs
// end in one error line and exit status 2 with no output file left behind.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "circuits/formation_track.h"
#include "core/h5_file.h"
#include "data/token_dataset.h"
#include "model/checkpoint.h"
#include "tests/circuits/circuits_test_util.h"
#include "tests/command_runner.h"
#include "tests/data/bad_token_datasets.h"

namespace headlab {
namespace {

namespace fs = std::filesystem;
const std::string kBinary = HEADLAB_BINARY_DIR "/bin/headlab-circuits";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A random model of config `c` (weights scaled so that its heads differ), written as a checkpoint.
void write_model(const std::string& path, const ModelConfig& c, uint64_t seed) {
  auto be = make_cpu_backend(1);
  auto model = testing::random_model(c, *be, seed);
  Checkpoint ck;
  ck.config = c;
  ck.params = model->params_to_host();
  write_checkpoint(path, ck);
}

// A formation track of `n` points (steps 0, 50, ...), the last head's induction score rising.
FormationTrack track_of(int n) {
  FormationTrack t;
  t.n_layers = 1;
  t.n_heads = 2;
  t.every = 50;
  t.probe_n_seq = 2;
  t.probe_half_len = 4;
  t.icl_early = 2;
  t.icl_late = 6;
  for (int i = 0; i < n; ++i) {
    FormationPoint p;
    p.step = 50 * i;
    p.train_loss = i == 0 ? NAN : 3.0f - 0.1f * float(i);
    ProbeScores& s = p.scores;
    s.n_layers = 1;
    s.n_heads = 2;
    s.induction_stripe = s.induction = {0.05, 0.1 * i};
    s.previous_token = s.duplicate_token = s.first_token = {0.1, 0.1};
    s.loss_first_half = 3.0;
    s.loss_repeated_half = 3.0 - 0.5 * i;
    s.icl_score = s.loss_repeated_half - s.loss_first_half;
    t.points.push_back(p);
  }
  return t;
}

class CircuitsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kBinary)) GTEST_SKIP() << kBinary << " is not built";
    ModelConfig c = testing::small_config();
    write_model(ckpt_, c, 61);
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

  // Runs the binary; returns the exit status (-1 for a crash), with stdout and stderr in out_ and err_.
  int run(const std::string& args) {
    const testing::CommandResult r = testing::run_command_line(kBinary + " " + args);
    out_ = r.out;
    err_ = r.err;
    return r.exit_code;
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
  // Neither output of prefix x (x.h5, x.svg) nor a temporary file was left in the folder.
  void expect_no_outputs() {
    for (const auto& e : fs::directory_iterator(dir_.path("")))
      EXPECT_TRUE(e.path().filename().string().rfind("x.", 0) != 0 && e.path().extension() != ".tmp")
          << "left behind: " << e.path();
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

namespace headlab {
namespace {

TEST_F(CircuitsCliTest, HelpWorksForEveryCommand) {
  for (const char* c : {"patch", "path-patch", "ablate", "dla", "logit-lens", "steer", "heads", "formation"}) {
    EXPECT_EQ(run(std::string(c) + " --help"), 0) << c << "\n" << err_;
    EXPECT_NE(out_.find("--"), std::string::npos) << c;
    EXPECT_TRUE(err_.empty()) << c << "\n" << err_;
  }
}

TEST_F(CircuitsCliTest, BadTokenDatasetsAreInputErrors) {
  for (const testing::BadDataset& bad : testing::write_bad_token_datasets(task_, dir_.path(""), 23)) {
    SCOPED_TRACE(bad.name);
    expect_input_error(run("dla " + common(bad.path, "x")), bad.path);
    expect_input_error(run("patch " + common(bad.path, "x") + " --sweeps z"), bad.mentions);
  }
  expect_no_outputs();
}

TEST_F(CircuitsCliTest, RowsThatDoNotFitTheModelAreInputErrors) {
  // Valid datasets, but not for this model (d_vocab 23, n_ctx 12).
  write_token_dataset(dir_.path("wide.h5"), testing::synthetic_task(3, 7, 40, 66));
  write_token_dataset(dir_.path("long.h5"), testing::synthetic_task(3, 20, 23, 67));
  TokenDataset no_rows = testing::synthetic_task(1, 7, 23, 68);
  no_rows.n_seq = 0;
  no_rows.tokens.clear();
  no_rows.corrupted.clear();
  no_rows.answer.clear();
  no_rows.wrong_answer.clear();
  no_rows.answer_pos.clear();
  write_token_dataset(dir_.path("no_rows.h5"), no_rows);
  for (const char* command : {"dla", "logit-lens", "ablate", "patch"}) {
    SCOPED_TRACE(command);
    expect_input_error(run(std::string(command) + " " + common(dir_.path("wide.h5"), "x")), "vocabulary");
    expect_input_error(run(std::string(command) + " " + common(dir_.path("long.h5"), "x")), "n_ctx = 12");
    expect_input_error(run(std::string(command) + " " + common(dir_.path("no_rows.h5"), "x")), "at least one row");
  }
  expect_input_error(run("steer " + common(task_, "x") + " --hook blocks.0.hook_resid_pre --positive " +
                         dir_.path("wide.h5") + " --negative " + task_),
                     "--positive");
  expect_input_error(run("steer " + common(task_, "x") + " --hook blocks.0.hook_resid_pre --positive " + task_ +
                         " --negative " + dir_.path("no_rows.h5")),
                     "--negative");
  expect_no_outputs();
}

TEST_F(CircuitsCliTest, MalformedHeadsAreInputErrors) {
  for (const char* heads : {"L1", "1.2", "L-1H0", "LxHy", "L5H9", "L1H3", "L0H0,L0H0", "L99999999999H0", "''"}) {
    expect_input_error(run("path-patch " + common(task_, "x") + " --receivers logits --senders " + heads), "--senders");
    expect_input_error(run("path-patch " + common(task_, "x") + " --receivers " + heads), "--receivers");
  }
  expect_input_error(run("path-patch " + common(task_, "x") + " --receivers L1H0:x"), "L1H0:x");
  // No head sits before layer 0: every sender would be NaN.
  expect_input_error(run("path-patch " + common(task_, "x") + " --receivers L0H1:q"), "no sender");
  expect_input_error(run("path-patch " + common(task_, "x") + " --receivers L1H0:q --senders L1H1"), "no sender");
  expect_no_outputs();
}

TEST_F(CircuitsCliTest, OptionsOutOfRangeAreInputErrors) {
  const std::string steer = "steer " + common(task_, "x") + " --hook blocks.1.hook_resid_pre --positive " + task_ +
                            " --negative " + task_ + ":corrupted ";
  expect_input_error(run("dla " + common(task_, "x") + " --batch-size 0"), "--batch-size");
  expect_input_error(run("dla " + common(task_, "x") + " --max-rows=-1"), "--max-rows");
  expect_input_error(
      run("dla --checkpoint " + ckpt_ + " --data " + task_ + " --out " + dir_.path("x") + " --threads 100000"),
      "--threads");  // crashed in OpenMP
  expect_input_error(run("dla " + common(task_, "x") + " stray"), "command line");
  expect_input_error(run(steer + "--max-new 1000000000"), "--max-new");  // ran for hours
  expect_input_error(run(steer + "--temperature=-1"), "--temperature");
  expect_input_error(run(steer + "--coefficients nan"), "--coefficients");
  expect_input_error(run(steer + "--samples=-1"), "--samples");
  expect_input_error(run(steer + "--seed=-1"), "--seed");
  expect_input_error(run("ablate " + common(task_, "x") + " --ablation resample --seed=-1"), "--seed");
  expect_input_error(run("dla " + common(task_, "x") + " --metric prob"), "--metric");
  expect_input_error(run("heads --checkpoint " + ckpt_ + " --out-dir " + dir_.path("x.heads") + " --n-seq 0"),
                     "--n-seq");
  expect_input_error(run("heads --checkpoint " + ckpt_ + " --out-dir " + dir_.path("x.heads") + " --n-seq 2000000000"),
                     "--n-seq");  // ran out of memory
  expect_input_error(run("heads --checkpoint " + ckpt_ + " --out-dir " + dir_.path("x.heads") + " --icl-early=-5"),
                     "--icl-early");
  expect_input_error(
      run("heads --checkpoint " + ckpt_ + " --out-dir " + dir_.path("x.heads") + " --icl-early 5 --icl-late 3"),
      "--icl-late");
  expect_input_error(run("heads --checkpoint " + ckpt_ + " --out-dir " + dir_.path("x.heads") + " --weights folded"),
                     "--weights");
  expect_no_outputs();
}

TEST_F(CircuitsCliTest, HookPointsTheModelLacksAreInputErrors) {
  ModelConfig c = testing::small_config();
  c.attn_only = true;
  write_model(dir_.path("attn_only.h5"), c, 70);
  const std::string common_attn =
      "--checkpoint " + dir_.path("attn_only.h5") + " --data " + task_ + " --out " + dir_.path("x") + " --threads 1";
  expect_input_error(
      run("steer " + common_attn + " --hook blocks.0.mlp.hook_post --positive " + task_ + " --negative " + other_),
      "blocks.0.mlp.hook_post");
  expect_input_error(run("patch " + common_attn + " --sweeps mlp_out"), "mlp_out");
  expect_input_error(run("steer " + common(task_, "x") + " --hook 'blocks.0.hook\nresid_pre' --positive " + task_ +
                         " --negative " + other_),
                     "hook\\nresid_pre");  // the newline is escaped: one line
  expect_no_outputs();
}

TEST_F(CircuitsCliTest, SteeringDirectionMustFitTheHook) {
  ASSERT_EQ(run("steer " + common(task_, "dir") + " --hook blocks.0.hook_resid_pre --positive " + task_ +
                " --negative " + other_ + " --samples 0"),
            0)
      << err_;
  // d_model 12 = n_heads x d_head: hook_z is as wide as the residual stream, yet another space.
  ModelConfig c = testing::small_config();
  c.d_model = 12;
  write_model(dir_.path("d12.h5"), c, 71);
  expect_input_error(run("steer --checkpoint " + ckpt_ + " --data " + task_ + " --out " + dir_.path("x") +
                         " --hook blocks.0.attn.hook_z --direction " + dir_.path("dir.h5")),
                     "--direction");
  expect_input_error(run("steer --checkpoint " + dir_.path("d12.h5") + " --data " + task_ + " --out " + dir_.path("x") +
                         " --hook blocks.0.hook_resid_pre --direction " + dir_.path("dir.h5")),
                     "needs 12");
  ASSERT_EQ(run("steer --checkpoint " + dir_.path("d12.h5") + " --data " + task_ + " --out " + dir_.path("d12dir") +
                " --hook blocks.0.hook_resid_pre --positive " + task_ + " --negative " + other_ + " --samples 0"),
            0)
      << err_;
  expect_input_error(run("steer --checkpoint " + dir_.path("d12.h5") + " --data " + task_ + " --out " + dir_.path("x") +
                         " --hook blocks.0.attn.hook_z --direction " + dir_.path("d12dir.h5")),
                     "shaped differently");
  expect_no_outputs();
}

TEST_F(CircuitsCliTest, OutputFoldersAreCreatedAndInputsKept) {
  ASSERT_EQ(run("dla " + common(task_, "a/b/dla")), 0) << err_;
  EXPECT_TRUE(fs::exists(dir_.path("a/b/dla.h5")));
  EXPECT_TRUE(fs::exists(dir_.path("a/b/dla.svg")));
  ASSERT_EQ(run("logit-lens --checkpoint " + ckpt_ + " --data " + task_ + " --out-dir " + dir_.path("c/d")), 0) << err_;
  EXPECT_TRUE(fs::exists(dir_.path("c/d/logit_lens.h5")));
  std::ofstream(dir_.path("file.txt")) << "a file\n";
  expect_input_error(run("dla --checkpoint " + ckpt_ + " --data " + task_ + " --out-dir " + dir_.path("file.txt")),
                     "--out-dir");
  expect_input_error(run("dla " + common(task_, "file.txt/x")), "--out");
  // --out task gives task.h5: the --data file itself.
  expect_input_error(run("dla " + common(task_, "task")), "--data");
  EXPECT_EQ(h5::check_format(h5::File::open(task_), "headlab.tokens", 1), 1);
  expect_no_outputs();
}

TEST_F(CircuitsCliTest, CheckpointsThatCannotBeAnalysedAreInputErrors) {
  Checkpoint nan = read_checkpoint(ckpt_);
  nan.params[5] = NAN;
  write_checkpoint(dir_.path("nan.h5"), nan);
  expect_input_error(run("dla --checkpoint " + dir_.path("nan.h5") + " --data " + task_ + " --out " + dir_.path("x")),
                     "finite");
  expect_input_error(run("heads --checkpoint " + dir_.path("nan.h5") + " --out-dir " + dir_.path("x.heads")), "finite");
  expect_input_error(run("dla --checkpoint " + task_ + " --data " + task_ + " --out " + dir_.path("x")),
                     "--checkpoint");
  ModelConfig c = testing::small_config();
  c.n_ctx = 3;
  write_model(dir_.path("ctx3.h5"), c, 72);
  expect_input_error(run("heads --checkpoint " + dir_.path("ctx3.h5") + " --out-dir " + dir_.path("x.heads")),
                     "n_ctx = 3");
  // A dataset of another task where the retrieval task is asked for.
  fs::copy_file(task_, dir_.path("ioi_like.h5"));
  h5::File::open(dir_.path("ioi_like.h5"), h5::Access::read_write).set_attr("task", "ioi");
  expect_input_error(run("heads --checkpoint " + ckpt_ + " --out-dir " + dir_.path("x.heads") + " --retrieval-data " +
                         dir_.path("ioi_like.h5")),
                     "'ioi' task");
  EXPECT_FALSE(fs::exists(dir_.path("x.heads")));
  expect_no_outputs();
}

TEST_F(CircuitsCliTest, FormationNeedsTwoFiniteScoredPoints) {
  write_formation_track(dir_.path("t0.h5"), track_of(0));
  write_formation_track(dir_.path("t1.h5"), track_of(1));
  FormationTrack nan = track_of(3);
  nan.points[1].scores.induction_stripe[0] = NAN;
  write_formation_track(dir_.path("tnan.h5"), nan);
  write_formation_track(dir_.path("t3.h5"), track_of(3));
  const std::string out = " --out-dir " + dir_.path("x.formation");
  expect_input_error(run("formation --track " + dir_.path("t0.h5") + out), "--track");
  expect_input_error(run("formation --track " + dir_.path("t1.h5") + out), "at least 2");
  expect_input_error(run("formation --track " + dir_.path("tnan.h5") + out), "finite");
  expect_input_error(run("formation --track " + dir_.path("t3.h5") + out + " --threshold 1.5"), "--threshold");
  expect_input_error(run("formation --track " + task_ + out), "--track");
  EXPECT_FALSE(fs::exists(dir_.path("x.formation")));
  ASSERT_EQ(run("formation --track " + dir_.path("t3.h5") + " --out-dir " + dir_.path("f/g")), 0) << err_;
  for (const char* f : {"formation.json", "formation.txt", "formation.svg"})
    EXPECT_TRUE(fs::exists(dir_.path(std::string("f/g/") + f))) << f;
}

}  // namespace
}  // namespace headlab
