// Data-parallel training through `mpirun -np 2 headlab-train`: the same global batch on 1 and 2
// ranks gives the same losses (to float summation order), --allreduce ordered is bitwise repeatable,
// --allreduce overlap gives the bits of mpi, a 2-rank checkpoint resumes on 1 rank, only rank 0 writes, and bad
// launches end all ranks with one line and exit 2. Skipped where headlab was built without MPI or mpirun is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "model/checkpoint.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"
#include "train/rank_group.h"

namespace fs = std::filesystem;
using headlab::testing::CommandResult;
using headlab::testing::run_command_line;

namespace {

const std::string kTrain = HEADLAB_BINARY_DIR "/bin/headlab-train";
const std::string kData = HEADLAB_BINARY_DIR "/bin/headlab-data";

std::string mpirun(int n) {
  return "mpirun -np " + std::to_string(n) + " --oversubscribe --allow-run-as-root --bind-to none ";
}

// The per-step losses of DIR/metrics.jsonl (--log-every 1).
std::vector<double> losses(const std::string& metrics) {
  std::ifstream in(metrics);
  std::vector<double> out;
  std::string line;
  const std::regex loss_field("\"loss\":([-0-9.eE+]+)");
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, loss_field)) out.push_back(std::stod(m[1]));
  return out;
}

class DataParallelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!headlab::built_with_mpi()) GTEST_SKIP() << "headlab was built without MPI";
    if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun is not installed";
    if (!fs::exists(kTrain)) GTEST_SKIP() << kTrain << " is not built";
    // A small sequences file with a loss mask (IOI rows: only the answer counts), so the ranks' shares
    // hold different numbers of targets.
    const CommandResult d = run_command_line(kData + " task ioi --n 64 --seed 3 --out " + dir_.path("ioi.h5"));
    ASSERT_EQ(d.exit_code, 0) << d.err;
  }
  std::string train_args(const std::string& out) const {
    return " --data " + dir_.path("ioi.h5") +
           " --model.n_layers 2 --model.d_model 32 --model.n_heads 4 --model.d_head 8 --model.d_mlp 64"
           " --batch-size 8 --grad-accum 2 --steps 50 --lr 3e-3 --warmup 5 --schedule cosine --seed 11 --threads 1"
           " --log-every 1 --checkpoint-every 25 --out " +
           dir_.path(out);
  }
  headlab::testing::TempDir dir_;
};

TEST_F(DataParallelTest, TwoRanksTrainAsOneProcessOnTheSameGlobalBatch) {
  const CommandResult one = run_command_line(kTrain + train_args("one"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const CommandResult two = run_command_line(mpirun(2) + kTrain + train_args("two"));
  ASSERT_EQ(two.exit_code, 0) << two.err << two.out;
  EXPECT_NE(two.out.find("2 MPI ranks"), std::string::npos) << two.out;
  const std::vector<double> a = losses(dir_.path("one/metrics.jsonl")), b = losses(dir_.path("two/metrics.jsonl"));
  ASSERT_EQ(a.size(), 50u);
  ASSERT_EQ(b.size(), 50u);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / std::abs(a[i]));
  EXPECT_LT(worst, 1e-4) << "largest relative difference of the 50 losses";
  EXPECT_LT(b.back(), 0.7 * b.front()) << "the run learns";
  // Rank 0 alone wrote: one metrics line per step, the checkpoints and final.h5.
  EXPECT_TRUE(fs::exists(dir_.path("two/checkpoints/step_000025.h5")));
  EXPECT_TRUE(fs::exists(dir_.path("two/final.h5")));
}

TEST_F(DataParallelTest, OrderedReductionIsBitwiseRepeatableAndResumesOnOneRank) {
  const CommandResult r1 = run_command_line(mpirun(2) + kTrain + train_args("a") + " --allreduce ordered");
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  const CommandResult r2 = run_command_line(mpirun(2) + kTrain + train_args("b") + " --allreduce ordered");
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  const std::vector<double> a = losses(dir_.path("a/metrics.jsonl")), b = losses(dir_.path("b/metrics.jsonl"));
  ASSERT_EQ(a.size(), 50u);
  EXPECT_EQ(a, b);
  EXPECT_EQ(headlab::read_checkpoint(dir_.path("a/final.h5")).params,
            headlab::read_checkpoint(dir_.path("b/final.h5")).params)
      << "the two runs' final weights differ";
  // The 2-rank checkpoint at step 25 resumed by one process: the same last 25 losses.
  const CommandResult resumed = run_command_line(kTrain + " --resume " + dir_.path("a/checkpoints/step_000025.h5") +
                                                 " --out " + dir_.path("resumed"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::vector<double> c = losses(dir_.path("resumed/metrics.jsonl"));
  ASSERT_GE(c.size(), 25u);
  for (size_t i = 0; i < 25; ++i)
    EXPECT_NEAR(c[c.size() - 25 + i], a[25 + i], 1e-4 * std::abs(a[25 + i])) << "step " << 26 + i;
}

// --allreduce overlap starts each block's sum while the backward runs on the blocks below. With two
// ranks every summed element is a + b whatever the split into buckets (float addition commutes), so
// it must give the bits of --allreduce mpi: a bucket summed twice, or not at all, or started before
// its block's gradients were final, would show. Against one process: the usual rounding.
TEST_F(DataParallelTest, OverlappedSumGivesMpiBitsAndResumes) {
  const CommandResult one = run_command_line(kTrain + train_args("one"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const CommandResult m = run_command_line(mpirun(2) + kTrain + train_args("m") + " --allreduce mpi");
  ASSERT_EQ(m.exit_code, 0) << m.err;
  // One bucket per block (4 buckets: unembedding, 2 blocks, embeddings), and all in one bucket.
  const CommandResult o = run_command_line(mpirun(2) + kTrain + train_args("o") + " --allreduce overlap");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const CommandResult big =
      run_command_line(mpirun(2) + kTrain + train_args("big") + " --allreduce overlap --allreduce-bucket-mb 1");
  ASSERT_EQ(big.exit_code, 0) << big.err;
  // The buckets summed on a thread of their own.
  const CommandResult thr = run_command_line(mpirun(2) + kTrain + train_args("thr") + " --allreduce overlap-thread");
  ASSERT_EQ(thr.exit_code, 0) << thr.err;
  const std::vector<double> a = losses(dir_.path("one/metrics.jsonl")), lm = losses(dir_.path("m/metrics.jsonl")),
                            lo = losses(dir_.path("o/metrics.jsonl"));
  ASSERT_EQ(lo.size(), 50u);
  EXPECT_EQ(lo, lm) << "overlap and mpi sums differ";
  EXPECT_EQ(losses(dir_.path("big/metrics.jsonl")), lm) << "one bucket and mpi sums differ";
  EXPECT_EQ(losses(dir_.path("thr/metrics.jsonl")), lm) << "overlap-thread and mpi sums differ";
  EXPECT_EQ(headlab::read_checkpoint(dir_.path("thr/final.h5")).params,
            headlab::read_checkpoint(dir_.path("m/final.h5")).params);
  EXPECT_EQ(headlab::read_checkpoint(dir_.path("o/final.h5")).params,
            headlab::read_checkpoint(dir_.path("m/final.h5")).params);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - lo[i]) / std::abs(a[i]));
  EXPECT_LT(worst, 1e-5) << "largest relative difference of the 50 losses from one process";
  // Rank 0 reports each step's time in the sum.
  std::ifstream metrics(dir_.path("o/metrics.jsonl"));
  const std::string text((std::istreambuf_iterator<char>(metrics)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"allreduce_s\":"), std::string::npos);
  // Its step-25 checkpoint resumed on 2 ranks, overlapped: the same last 25 losses, bit for bit.
  const CommandResult resumed =
      run_command_line(mpirun(2) + kTrain + " --resume " + dir_.path("o/checkpoints/step_000025.h5") + " --out " +
                       dir_.path("o_resumed") + " --allreduce overlap");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::vector<double> r = losses(dir_.path("o_resumed/metrics.jsonl"));
  ASSERT_GE(r.size(), 25u);
  EXPECT_EQ(std::vector<double>(r.end() - 25, r.end()), std::vector<double>(lo.begin() + 25, lo.end()));
}

TEST_F(DataParallelTest, BadLaunchesEndEveryRankWithOneLine) {
  struct Case {
    std::string command, needle;
  };
  const std::vector<Case> cases = {
      {mpirun(3) + kTrain + train_args("x"), "must be a multiple of their number"},
      {"mpirun -np 1 --oversubscribe --allow-run-as-root --bind-to none " + kTrain + train_args("y") + " : -np 1 " +
           kTrain + train_args("y") + " --weight-decay 0.5",
       "rank 1: started on other options"},
      {mpirun(2) + kTrain + train_args("z") + " --allreduce fastest", "--allreduce"},
      {mpirun(2) + kTrain + train_args("z") + " --allreduce overlap --allreduce-bucket-mb=-1",
       "--allreduce-bucket-mb -1: expected a size"},
      // Ranks that would cut the gradients into other sums (they would wait on each other).
      {"mpirun -np 1 --oversubscribe --allow-run-as-root --bind-to none " + kTrain + train_args("w") +
           " --allreduce overlap : -np 1 " + kTrain + train_args("w") + " --allreduce mpi",
       "rank 1: started on other options"},
  };
  for (const Case& c : cases) {
    const CommandResult r = run_command_line(c.command);
    EXPECT_NE(r.exit_code, 0) << c.command;
    EXPECT_EQ(r.exit_code, 2) << c.command << "\n" << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
    // One headlab line (mpirun may add its own note when a rank exits with an error).
    size_t ours = 0;
    for (size_t at = r.err.find("headlab-train: error:"); at != std::string::npos;
         at = r.err.find("headlab-train: error:", at + 1))
      ++ours;
    EXPECT_EQ(ours, 1u) << r.err;
  }
}

}  // namespace

namespace {

// Rank 1 is killed (SIGKILL) after the update of step 30: mpirun ends the job (no hang), and the last
// complete checkpoint (step 25) resumed on 2 ranks finishes with the uninterrupted run's losses and
// weights, bit for bit under --allreduce ordered.
TEST_F(DataParallelTest, AKilledRankStopsTheJobAndTheLastCheckpointResumes) {
  const std::string ordered = " --allreduce ordered";
  const CommandResult whole = run_command_line(mpirun(2) + kTrain + train_args("whole") + ordered);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const std::string launch = "timeout 120 mpirun --oversubscribe --allow-run-as-root --bind-to none -np 1 " + kTrain +
                             train_args("killed") + ordered + " : -np 1 env HEADLAB_TEST_KILL_AT=step:30 " + kTrain +
                             train_args("killed") + ordered;
  const CommandResult killed = run_command_line(launch);
  EXPECT_NE(killed.exit_code, 0) << killed.out;
  EXPECT_NE(killed.exit_code, 124) << "the job hung after a rank died";
  ASSERT_TRUE(fs::exists(dir_.path("killed/checkpoints/step_000025.h5")));
  EXPECT_FALSE(fs::exists(dir_.path("killed/final.h5")));
  const CommandResult resumed =
      run_command_line(mpirun(2) + kTrain + " --resume " + dir_.path("killed/checkpoints/step_000025.h5") + " --out " +
                       dir_.path("killed") + ordered);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(losses(dir_.path("killed/metrics.jsonl")), losses(dir_.path("whole/metrics.jsonl")));
  EXPECT_EQ(headlab::read_checkpoint(dir_.path("killed/final.h5")).params,
            headlab::read_checkpoint(dir_.path("whole/final.h5")).params);
}

}  // namespace
