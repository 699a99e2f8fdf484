// headlab-train as a person runs it: exit status, the one error line, the files it leaves.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>
#include <vector>

#include "model/checkpoint.h"
#include "model/h5_file.h"
#include "tests/train/train_test_util.h"

namespace headlab {
namespace {

using testing::file_exists;
using testing::TempDir;
using testing::tiny_model;

const std::string kBinary = HEADLAB_BINARY_DIR "/train/headlab-train";

struct Outcome {
  int status = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TrainCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!file_exists(kBinary)) GTEST_SKIP() << "headlab-train is not built (" << kBinary << ")";
  }
  Outcome run(const std::string& args) {
    const std::string out = dir / "stdout.txt", err = dir / "stderr.txt";
    const std::string cmd = kBinary + " " + args + " > " + out + " 2> " + err;
    const int rc = std::system(cmd.c_str());
    Outcome o;
    o.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    o.out = slurp(out);
    o.err = slurp(err);
    return o;
  }
  // Exit 2 and exactly one line on stderr, starting with the tool's error prefix.
  void expect_input_error(const Outcome& o, const std::string& fragment) {
    EXPECT_EQ(o.status, 2) << o.err;
    EXPECT_EQ(o.err.rfind("headlab-train: error: ", 0), 0u) << o.err;
    ASSERT_FALSE(o.err.empty());
    EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << "more than one line: " << o.err;
    EXPECT_NE(o.err.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << o.err;
  }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir / name) << text; }

  TempDir dir{"cmd"};
  // A model and run small enough for a second: builtin:repeat with halves of 4 tokens.
  const std::string tiny =
      "--data builtin:repeat --repeat-half-len 4 --model.n_layers 1 --model.d_model 16 --model.n_heads 2 "
      "--model.d_mlp 32 --model.d_vocab 12 --batch-size 4 --threads 1 --log-every 1 ";
};

TEST_F(TrainCommandTest, HelpExitsZero) {
  const Outcome o = run("--help");
  EXPECT_EQ(o.status, 0);
  EXPECT_NE(o.out.find("--checkpoint-schedule"), std::string::npos);
  EXPECT_NE(o.out.find("--model.n_layers"), std::string::npos);
}

TEST_F(TrainCommandTest, UnknownOptionIsOneLineAndExit2) {
  expect_input_error(run("--data builtin:repeat --out " + dir.path() + " --bogus 3"), "bogus");
}

TEST_F(TrainCommandTest, MissingDataFileIsOneLineAndExit2) {
  expect_input_error(run("--data " + dir / "nope.h5" + " --out " + dir / "run"), "--data: no such file");
  expect_input_error(run("--out " + dir / "run"), "--data: is required");
  expect_input_error(run("--resume " + dir / "nope.h5"), "--resume: no such file");
}

TEST_F(TrainCommandTest, OutOfRangeValuesAreOneLineAndExit2) {
  expect_input_error(run(tiny + "--out " + dir / "run" + " --lr=-1"), "--lr: expected a positive number");
  expect_input_error(run(tiny + "--out " + dir / "run" + " --optimizer adam"), "--optimizer: expected adamw or sgd");
  expect_input_error(run(tiny + "--out " + dir / "run" + " --steps 0"), "--steps");
  expect_input_error(run("--data builtin:repeat --out " + dir / "run" + " --model.d_model 10 --model.n_heads 3"),
                     "not divisible by n_heads");
  expect_input_error(run(tiny + "--out " + dir / "run" + " --model.n_ctx 0"), "n_ctx");
  expect_input_error(run(tiny + "--out " + dir / "run" + " --steps many"), "steps");
}

TEST_F(TrainCommandTest, BadConfigFileIsOneLineAndExit2) {
  write("bad_model.ini", "[model]\nn_layers = 2\nn_ctx = 0\n[train]\ndata = builtin:repeat\n");
  expect_input_error(run("--config " + dir / "bad_model.ini" + " --out " + dir / "run"), "n_ctx");
  write("bad_key.ini", "[train]\ndata = builtin:repeat\nbatch_sise = 4\n");
  expect_input_error(run("--config " + dir / "bad_key.ini" + " --out " + dir / "run"), "batch_sise");
  write("bad_section.ini", "[model]\nn_layer = 2\n");
  expect_input_error(run("--config " + dir / "bad_section.ini" + " --out " + dir / "run"), "model.n_layer");
  expect_input_error(run("--config " + dir / "missing.ini"), "--config: cannot open");
}

TEST_F(TrainCommandTest, DatasetThatDoesNotFitTheModelIsOneLineAndExit2) {
  testing::write_random_sequences(dir / "seq.h5", 4, 12, 30, 1);
  const std::string model = " --model.n_layers 1 --model.d_model 16 --model.n_heads 2 --out " + dir / "run";
  expect_input_error(run("--data " + dir / "seq.h5" + model + " --model.d_vocab 20"), "d_vocab 30 exceeds");
  expect_input_error(run("--data " + dir / "seq.h5" + model + " --model.n_ctx 8"), "longer than n_ctx + 1");
}

// Values past the stated limits fail in validation, before the model or the --out directory exists:
// more threads than libgomp can create (it crashed), a batch past the kernels' int, a model whose
// size would exhaust memory.
TEST_F(TrainCommandTest, ValuesBeyondTheLimitsAreOneLineAndExit2) {
  const std::string out = " --out " + dir / "run";
  const std::string base = "--data builtin:repeat --model.n_layers 1 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {base + "--threads 100000", "--threads: expected an integer in [0, 1024]"},
      {base + "--batch-size 2147483648", "--batch-size: expected an integer in [1, 1048576]"},
      {base + "--grad-accum 1000000000000", "--grad-accum: expected an integer in [1, 65536]"},
      {base + "--steps 1000000000000", "--steps: expected an integer in [1, 1000000000]"},
      {base + "--model.n_ctx 1000000000", "model.n_ctx: expected an integer in [1, 1048576]"},
      {base + "--model.d_model 65536 --model.d_vocab 16777216", "model.n_params: the model would have"},
      {base + "--model.eps inf", "model.eps: expected a finite positive number"},
      {"--data builtin:induction --induction-seq-len 1000000000", "--induction-seq-len: expected an integer in"},
  };
  for (const auto& [args, fragment] : cases) {
    expect_input_error(run(args + out), fragment);
    EXPECT_FALSE(file_exists(dir / "run")) << args;
  }
}

// Files that are not what the option expects: each names the file, nothing is trained or written.
TEST_F(TrainCommandTest, UnreadableDataAndCheckpointFilesAreOneLineAndExit2) {
  write("empty.h5", "");
  write("text.h5", "[model]\nn_layers = 2\n");
  std::filesystem::create_directories(dir / "a_dir.h5");
  Checkpoint ck;
  ck.config = tiny_model(8, 12).config;
  ck.params.assign(size_t(ck.config.n_params()), 0.01f);
  write_checkpoint(dir / "model.h5", ck);
  const std::string bytes = slurp(dir / "model.h5");
  std::vector<std::string> names = {"empty.h5", "text.h5", "a_dir.h5"};
  for (size_t cut : {size_t(100), size_t(2000), bytes.size() / 2, bytes.size() - 1}) {
    names.push_back("cut_" + std::to_string(cut) + ".h5");
    write(names.back(), bytes.substr(0, cut));
  }
  for (const std::string& name : names) {
    expect_input_error(run("--data " + dir / name + " --out " + dir / "run"), dir / name);
    expect_input_error(run("--data builtin:repeat --init " + dir / name + " --out " + dir / "run"), dir / name);
    expect_input_error(run("--resume " + dir / name + " --out " + dir / "run"), dir / name);
  }
  expect_input_error(run("--data " + dir / "model.h5" + " --out " + dir / "run"),
                     dir / "model.h5" + ": / attribute format: expected 'headlab.tokens'");
  EXPECT_FALSE(file_exists(dir / "run"));
}

// A token dataset damaged one way at a time: the error names the file and the array.
TEST_F(TrainCommandTest, DamagedDatasetsNameTheFileAndTheArray) {
  const std::vector<std::pair<std::function<void(h5::File&)>, std::string>> cases = {
      {[](h5::File& f) { f.write<float>("tokens", std::vector<float>(36, 1.0f).data(), {4, 9}); },
       "/tokens: expected integer data"},
      {[](h5::File& f) { f.write<int32_t>("tokens", std::vector<int32_t>(36, 25).data(), {4, 9}); },
       "/tokens: expected token ids in [0, d_vocab = 20); found 25 at [0, 0]"},
      {[](h5::File& f) { f.write<int32_t>("tokens", std::vector<int32_t>(36, -1).data(), {4, 9}); },
       "/tokens: expected token ids in [0, d_vocab = 20); found -1"},
      {[](h5::File& f) { f.write<int32_t>("tokens", std::vector<int32_t>(36, 1)); }, "/tokens: expected shape [*, *]"},
      {[](h5::File& f) { f.remove("tokens"); }, "/tokens: expected a dataset"},
      {[](h5::File& f) {
         h5::DatasetOptions lazy;  // 10^12 tokens declared, none stored
         lazy.chunk_rows = 1;
         f.create_dataset<int32_t>("tokens", {1'000'000'000'000 / 8, 8}, lazy);
       },
       "/tokens: reading [125000000000, 8] as int32 needs about"},
      {[](h5::File& f) { f.set_attr("kind", "table"); }, "/ attribute kind: expected 'stream' or 'sequences'"},
      {[](h5::File& f) { f.write<uint8_t>("loss_mask", std::vector<uint8_t>(36, 0).data(), {4, 9}); },
       "/loss_mask has no 1: no position to train on"},
      {[](h5::File& f) { f.set_attr("tokenizer", "{garbage"); }, "/tokenizer: not a headlab tokenizer"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string data = dir / ("seq" + std::to_string(i) + ".h5");
    testing::write_random_sequences(data, 4, 9, 20, 1);
    {
      h5::File f = h5::File::open(data, h5::Access::read_write);
      cases[i].first(f);
    }
    expect_input_error(run("--data " + data + " --threads 1 --out " + dir / "run"), data + ": " + cases[i].second);
  }
  EXPECT_FALSE(file_exists(dir / "run"));
}

TEST_F(TrainCommandTest, ConfigFileTrainsAndWritesMetricsCheckpointsAndFinal) {
  write("run.ini",
        "[model]\nn_layers = 1\nd_model = 16\nn_heads = 2\nd_mlp = 32\nd_vocab = 12\nattn_only = true\n"
        "[train]\ndata = builtin:repeat\nrepeat_half_len = 4\nsteps = 500\nbatch_size = 4\nlog-every = 1\n"
        "checkpoint_every = 3\nthreads = 1\n");
  // The command line (--steps 6) wins over the file (steps = 500).
  const Outcome o = run("--config " + dir / "run.ini" + " --out " + dir / "run --steps 6");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.err, "");
  for (const char* f :
       {"run/metrics.jsonl", "run/checkpoints/step_000003.h5", "run/checkpoints/step_000006.h5", "run/final.h5"})
    EXPECT_TRUE(file_exists(dir / f)) << f;
  EXPECT_FALSE(file_exists(dir / "run/checkpoints/step_000001.h5"));
  const Checkpoint ck = read_checkpoint(dir / "run/final.h5");
  EXPECT_EQ(ck.config.n_layers, 1);
  EXPECT_EQ(ck.config.d_vocab, 12);
  EXPECT_EQ(ck.config.n_ctx, 8);   // 2 x repeat_half_len, not given
  EXPECT_EQ(ck.config.d_head, 8);  // d_model / n_heads
  EXPECT_TRUE(ck.config.attn_only);
  ASSERT_TRUE(ck.train.has_value());
  EXPECT_EQ(ck.train->step, 6);
  std::istringstream metrics(slurp(dir / "run/metrics.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) ++lines;
  EXPECT_EQ(lines, 7);  // step 0's evaluation and steps 1..6
  // Not a terminal: plain lines, one per log point, no carriage returns.
  EXPECT_EQ(o.out.find('\r'), std::string::npos);
  EXPECT_NE(o.out.find("step 6/6 loss "), std::string::npos) << o.out;
}

TEST_F(TrainCommandTest, StopAndResumeGivesTheSameWeightsAsOneRun) {
  const Outcome whole = run(tiny + "--steps 8 --schedule cosine --warmup 2 --out " + dir / "whole");
  ASSERT_EQ(whole.status, 0) << whole.err;
  const Outcome first = run(tiny + "--steps 8 --schedule cosine --warmup 2 --stop-at 4 --out " + dir / "split");
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_NE(first.out.find("resume with --resume"), std::string::npos) << first.out;
  const Outcome second = run("--resume " + dir / "split/checkpoints/step_000004.h5");
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_NE(second.out.find("resuming at step 4"), std::string::npos) << second.out;
  EXPECT_EQ(read_checkpoint(dir / "split/final.h5").params, read_checkpoint(dir / "whole/final.h5").params);
  EXPECT_EQ(slurp(dir / "split/metrics.jsonl").size() > 0, true);
}

TEST_F(TrainCommandTest, DivergenceIsOneLineWithTheStepAndKeepsTheLastCheckpoint) {
  const Outcome o = run(tiny + "--steps 30 --lr 1e30 --grad-clip 0 --checkpoint-every 1 --out " + dir / "nan");
  expect_input_error(o, "last good checkpoint: " + dir / "nan/checkpoints/step_");
  EXPECT_NE(o.err.find("error: step "), std::string::npos) << o.err;
  EXPECT_FALSE(file_exists(dir / "nan/final.h5"));
  EXPECT_TRUE(file_exists(dir / "nan/checkpoints/step_000001.h5"));
}

}  // namespace
}  // namespace headlab
