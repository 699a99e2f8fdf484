// Analysis commands under `mpirun -np N`: patching sweeps, EAP over a run's checkpoints, activation
// extraction and linear probes share their work among the ranks and write the same files as one
// process (every dataset compared, bit for bit, with one thread per rank); commands that do not
// share refuse several ranks; bad launches end every rank with one headlab line and exit 2, and no
// output. Skipped where headlab was built without MPI or mpirun is missing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/h5_file.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"
#include "train/rank_group.h"

namespace fs = std::filesystem;
using headlab::testing::CommandResult;
using headlab::testing::run_command_line;

namespace {

const std::string kBin = HEADLAB_BINARY_DIR "/bin/";

std::string mpirun(int n) {
  return "timeout 300 mpirun -np " + std::to_string(n) + " --oversubscribe --allow-run-as-root --bind-to none ";
}

// The lines headlab itself wrote to stderr (mpirun adds its own banners after a failed rank).
int headlab_lines(const std::string& err) {
  int n = 0;
  size_t at = 0;
  while ((at = err.find("headlab-", at)) != std::string::npos) {
    if (at == 0 || err[at - 1] == '\n') ++n;
    ++at;
  }
  return n;
}

// Every dataset of `a` is in `b` with the same values, bit for bit (NaN equal to NaN), except those
// named in `skip`; and `b` has no others.
void expect_same_datasets(const headlab::h5::Group& a, const headlab::h5::Group& b,
                          const std::vector<std::string>& skip, int* compared) {
  EXPECT_EQ(a.children(), b.children()) << a.where("");
  for (const std::string& name : a.children()) {
    const std::string path = a.path() == "/" ? name : a.path().substr(1) + "/" + name;
    if (std::find(skip.begin(), skip.end(), path) != skip.end() || !b.exists(name)) continue;
    if (a.is_group(name)) {
      expect_same_datasets(a.group(name), b.group(name), skip, compared);
      continue;
    }
    try {
      const std::vector<double> x = a.read<double>(name), y = b.read<double>(name);
      ASSERT_EQ(x.size(), y.size()) << path;
      for (size_t i = 0; i < x.size(); ++i)
        if (!(std::isnan(x[i]) && std::isnan(y[i]))) {
          ASSERT_EQ(std::memcmp(&x[i], &y[i], sizeof(double)), 0)
              << path << "[" << i << "]: " << x[i] << " vs " << y[i];
        }
    } catch (const headlab::InputError&) {
      try {
        EXPECT_EQ(a.read<int64_t>(name), b.read<int64_t>(name)) << path;
      } catch (const headlab::InputError&) {
        EXPECT_EQ(a.read_string(name), b.read_string(name)) << path;
      }
    }
    ++*compared;
  }
}

int expect_same_files(const std::string& a, const std::string& b, const std::vector<std::string>& skip = {}) {
  int compared = 0;
  expect_same_datasets(headlab::h5::File::open(a), headlab::h5::File::open(b), skip, &compared);
  return compared;
}

class ShardedAnalysisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!headlab::built_with_mpi()) GTEST_SKIP() << "headlab was built without MPI";
    if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun is not installed";
    // IOI rows, and a small model trained on them for 30 steps with a checkpoint every 10.
    CommandResult r = run_command_line(kBin + "headlab-data task ioi --n 48 --seed 5 --out " + path("ioi.h5"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_command_line(kBin + "headlab-train --data " + path("ioi.h5") +
                         " --model.n_layers 2 --model.d_model 32 --model.n_heads 2 --model.d_head 16"
                         " --model.d_mlp 64 --model.n_ctx 32 --steps 30 --batch-size 8 --lr 3e-3 --seed 2"
                         " --threads 1 --checkpoint-every 10 --log-every 30 --out " +
                         path("run"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string path(const std::string& name) const { return dir_.path(name); }
  // The same command in one process and under mpirun -np n (every rank on one thread).
  void run_both(const std::string& tool_args_one, const std::string& tool_args_n, int n) {
    const CommandResult one = run_command_line(kBin + tool_args_one);
    ASSERT_EQ(one.exit_code, 0) << one.err;
    const CommandResult many = run_command_line(mpirun(n) + kBin + tool_args_n);
    ASSERT_EQ(many.exit_code, 0) << many.err << many.out;
    // Rank 0 alone prints: the report once, progress for its own share.
    EXPECT_EQ(std::count(many.out.begin(), many.out.end(), '\n'), std::count(one.out.begin(), one.out.end(), '\n'))
        << many.out;
    EXPECT_LE(headlab_lines(many.err), headlab_lines(one.err)) << many.err;
  }
  headlab::testing::TempDir dir_;
};

TEST_F(ShardedAnalysisTest, PatchingSweepsOnTwoRanksEqualOneProcess) {
  const std::string args = "headlab-circuits patch --checkpoint " + path("run/final.h5") + " --data " + path("ioi.h5") +
                           " --sweeps resid_pre,mlp_out,z,z_pos --direction both --threads 1 --out ";
  run_both(args + path("one"), args + path("two"), 2);
  // Every sweep's metric and normalised values; the forward count is each rank's work, summed.
  EXPECT_EQ(expect_same_files(path("one.h5"), path("two.h5")), 16);
  EXPECT_FALSE(fs::exists(path("two.h5.tmp")));
}

TEST_F(ShardedAnalysisTest, EapOverCheckpointsOnTwoRanksEqualsOneProcess) {
  const std::string args =
      "headlab-circuits eap --checkpoints " + path("run") + " --data " + path("ioi.h5") + " --ig 2 --threads 1 --out ";
  run_both(args + path("one"), args + path("two"), 2);
  EXPECT_EQ(expect_same_files(path("one.h5"), path("two.h5")), 6);
  EXPECT_EQ(headlab::h5::File::open(path("two.h5")).read<int64_t>("steps"), (std::vector<int64_t>{10, 20, 30}));
}

TEST_F(ShardedAnalysisTest, ExtractOnTwoAndThreeRanksWritesTheStoreOneProcessWrites) {
  const std::string args = "headlab-probes extract --checkpoint " + path("run/final.h5") + " --data " + path("ioi.h5") +
                           " --hooks blocks.0.attn.hook_z,blocks.1.hook_resid_post --batch-size 5 " +
                           "--threads 1 --out ";
  run_both(args + path("one.h5"), args + path("two.h5"), 2);
  EXPECT_EQ(expect_same_files(path("one.h5"), path("two.h5")), 7);
  // Three ranks, a batch that is not a whole number of sequences at the end, answer positions.
  const std::string cut = "headlab-probes extract --checkpoint " + path("run/final.h5") + " --data " + path("ioi.h5") +
                          " --hooks blocks.1.attn.hook_z --positions answer --max-tokens 37 --batch-size 4 " +
                          "--threads 1 --out ";
  run_both(cut + path("one_cut.h5"), cut + path("three_cut.h5"), 3);
  EXPECT_EQ(expect_same_files(path("one_cut.h5"), path("three_cut.h5")), 6);
}

TEST_F(ShardedAnalysisTest, LinearProbesOnTwoRanksEqualOneProcess) {
  const CommandResult e = run_command_line(
      kBin + "headlab-probes extract --checkpoint " + path("run/final.h5") + " --data " + path("ioi.h5") +
      " --hooks blocks.0.attn.hook_z,blocks.1.hook_resid_post --threads 1 --out " + path("store.h5"));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const std::string args =
      "headlab-probes linear --store " + path("store.h5") + " --label role --per-head --threads 1 --out ";
  run_both(args + path("one"), args + path("two"), 2);
  // Weights, biases, scores, λ, controls of the three probes; not the seconds each took.
  EXPECT_EQ(expect_same_files(path("one/probes.h5"), path("two/probes.h5"), {"table/seconds"}), 20);
}

TEST_F(ShardedAnalysisTest, BadLaunchesEndEveryRankWithOneLineAndNoOutput) {
  struct Case {
    std::string launch, mentions, output;
  };
  const std::string model = " --checkpoint " + path("run/final.h5") + " --data " + path("ioi.h5") + " --threads 1";
  const std::vector<Case> cases = {
      // A command that does not share its work.
      {mpirun(2) + kBin + "headlab-circuits dla" + model + " --out " + path("dla"), "runs in one process", "dla.h5"},
      // EAP on one model (only a run's checkpoints are shared).
      {mpirun(2) + kBin + "headlab-circuits eap" + model + " --out " + path("eap"), "--checkpoints", "eap.h5"},
      // A bad option: every rank meets it; rank 0 prints it once.
      {mpirun(2) + kBin + "headlab-circuits patch" + model + " --sweeps nonsense --out " + path("bad"), "nonsense",
       "bad.h5"},
      // Ranks started on other inputs (an MPMD launch): refused before any work.
      {"timeout 300 mpirun --oversubscribe --allow-run-as-root --bind-to none -np 1 " + kBin +
           "headlab-circuits patch" + model + " --out " + path("mixed") + " : -np 1 " + kBin +
           "headlab-circuits patch --checkpoint " + path("run/checkpoints/step_000010.h5") + " --data " +
           path("ioi.h5") + " --threads 1 --out " + path("mixed"),
       "rank 1: started on another command line, model or data", "mixed.h5"},
      // Only one rank fails to set up (its data file is missing): all end, rank 0 names it.
      {"timeout 300 mpirun --oversubscribe --allow-run-as-root --bind-to none -np 1 " + kBin +
           "headlab-probes extract --checkpoint " + path("run/final.h5") + " --data " + path("ioi.h5") +
           " --hooks blocks.0.hook_resid_post --threads 1 --out " + path("half.h5") + " : -np 1 " + kBin +
           "headlab-probes extract --checkpoint " + path("run/final.h5") + " --data " + path("missing.h5") +
           " --hooks blocks.0.hook_resid_post --threads 1 --out " + path("half.h5"),
       "rank 1: ", "half.h5"},
  };
  for (const Case& c : cases) {
    const CommandResult r = run_command_line(c.launch);
    EXPECT_EQ(r.exit_code, 2) << c.launch << "\n" << r.err;
    EXPECT_EQ(headlab_lines(r.err), 1) << c.launch << "\n" << r.err;
    EXPECT_NE(r.err.find(c.mentions), std::string::npos) << c.launch << "\n" << r.err;
    EXPECT_FALSE(fs::exists(path(c.output))) << c.output;
  }
}

}  // namespace
