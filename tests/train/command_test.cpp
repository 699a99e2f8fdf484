// headlab-train as a person runs it: exit status, the one error line, the files it leaves.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "core/h5_file.h"
#include "model/checkpoint.h"
#include "tests/train/train_test_util.h"
#include "train/options.h"

namespace headlab {
namespace {

using testing::file_exists;
using testing::TempDir;
using testing::tiny_model;

const std::string kBinary = HEADLAB_BINARY_DIR "/bin/headlab-train";

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
      {[](h5::File& f) {
         f.write<float>("tokens", std::vector<float>(36, 1.0f).data(), {4, 9});
       },
       "/tokens: expected integer data"},
      {[](h5::File& f) {
         f.write<int32_t>("tokens", std::vector<int32_t>(36, 25).data(), {4, 9});
       },
       "/tokens: expected token ids in [0, d_vocab = 20); found 25 at [0, 0]"},
      {[](h5::File& f) {
         f.write<int32_t>("tokens", std::vector<int32_t>(36, -1).data(), {4, 9});
       },
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
      {[](h5::File& f) {
         f.write<uint8_t>("loss_mask", std::vector<uint8_t>(36, 0).data(), {4, 9});
       },
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

// A config as Windows editors and other INI tools write it: a UTF-8 byte-order mark, CRLF line
// ends, ';' comment lines, capitalised section names and keys, spaces inside the brackets, a
// quoted value.
TEST_F(TrainCommandTest, ConfigFileFromWindowsWithCommentsAndQuotesTrains) {
  write("win.ini",
        "\xEF\xBB\xBF; written by Notepad\r\n[Model]\r\nN_Layers = 1\r\nd_model = 16\r\nn_heads = 2\r\n"
        "d_mlp = 32\r\nd_vocab = 12\r\n\r\n[ train ]\r\n# a comment\r\ndata = \"builtin:repeat\"\r\n"
        "repeat_half_len = 4   # tokens\r\nsteps = 3\r\nbatch_size = 4\r\nthreads = 1\r\n");
  const Outcome o = run("--config " + dir / "win.ini" + " --out " + dir / "run");
  ASSERT_EQ(o.status, 0) << o.err;
  const Checkpoint ck = read_checkpoint(dir / "run/final.h5");
  EXPECT_EQ(ck.config.n_layers, 1);
  EXPECT_EQ(ck.config.d_vocab, 12);
  ASSERT_TRUE(ck.train.has_value());
  EXPECT_EQ(ck.train->step, 3);
  const TrainOptions stored = options_from_json(ck.train->options_json, TrainOptions{}, "final.h5");
  EXPECT_EQ(stored.data, "builtin:repeat");
  EXPECT_EQ(stored.repeat_half_len, 4);
}

TEST_F(TrainCommandTest, MalformedConfigLinesNameTheLine) {
  const std::string out = " --out " + dir / "run";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[train]\r\nsteps\r\n", "line 2: expected 'key = value'; got 'steps'"},
      {"[train]\n= 3\n", "line 2: expected 'key = value'"},
      {"[train\nsteps = 3\n", "line 1: expected a section name in brackets"},
      {std::string("[train]\nsteps = 3\0\n", sizeof "[train]\nsteps = 3\0\n" - 1),
       "line 2: expected text; found a NUL byte"},
      {"[train]\nhelp = 1\n", "unknown option 'train.help'"},
      {"[train]\nbatch_size = 4\nbatch-size = 4\n", "'batch-size' cannot be specified more than once"},
      {"[train]\nbatch_size = 2.5\n", "the argument ('2.5') for option 'batch-size' is invalid"},
      {"[train]\nsteps = " + std::string(1 << 20, '9') + "\n", "expected an INI file of at most 1 MiB"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string name = "bad" + std::to_string(i) + ".ini";
    std::ofstream(dir / name, std::ios::binary) << cases[i].first;
    expect_input_error(run("--config " + dir / name + " --data builtin:repeat" + out), cases[i].second);
  }
  expect_input_error(run("--config '' --data builtin:repeat" + out), "--config: expected a file name");
  EXPECT_FALSE(file_exists(dir / "run"));
}

// Paths the run could not write, or would write over one of its own files: refused before the
// first step, leaving nothing (a FIFO as metrics.jsonl used to block the run for ever, a folder
// as final.h5 failed the rename after the last step).
TEST_F(TrainCommandTest, OutputPathsThatCannotBeWrittenFailBeforeTraining) {
  write("a_file", "x");
  std::filesystem::create_directories(dir / "fifo_run");
  ASSERT_EQ(::mkfifo((dir / "fifo_run/metrics.jsonl").c_str(), 0644), 0);
  std::filesystem::create_directories(dir / "dir_run/final.h5");
  std::filesystem::create_directories(dir / "ckpt_run/checkpoints/step_000001.h5");
  const std::string args = tiny + "--steps 2 --checkpoint-every 1 --out ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {args + dir / "a_file", "--out " + dir / "a_file" + ": expected a directory"},
      {args + dir / "a_file/run", "a_file is not a directory"},
      {args + dir / "fifo_run", "fifo_run/metrics.jsonl exists and is not a regular file"},
      {args + dir / "dir_run", "dir_run/final.h5 is a directory"},
      {args + dir / "ckpt_run", "ckpt_run/checkpoints/step_000001.h5 is a directory"},
      {args + dir / "run --track-heads " + dir / "run/final.h5",
       "--track-heads " + dir / "run/final.h5" + ": is the run's final.h5"},
      {args + dir / "run --track-heads " + dir / "run", "is the --out directory"},
      {args + dir / "run --track-heads " + dir / "a_file/h.h5", "a_file is not a directory"},
      {args + dir / "run --track-heads /dev/null", "/dev/null exists and is not a regular file"},
  };
  for (const auto& [a, fragment] : cases) expect_input_error(run(a), fragment);
  EXPECT_FALSE(file_exists(dir / "run"));
  EXPECT_FALSE(file_exists(dir / "dir_run/checkpoints"));
  EXPECT_FALSE(file_exists(dir / "fifo_run/checkpoints"));
  EXPECT_FALSE(file_exists(dir / "ckpt_run/metrics.jsonl"));
  // A --track-heads file in a folder of its own: the folder is made, as --out's is.
  const Outcome o = run(args + dir / "run --track-heads " + dir / "heads/h.h5 --track-every 1");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(h5::File::open(dir / "heads/h.h5").read<int64_t>("steps"), (std::vector<int64_t>{0, 1, 2}));
}

TEST_F(TrainCommandTest, ContradictoryOrPointlessOptionsAreOneLine) {
  const std::string out = " --out " + dir / "run";
  write("not_a_run.h5", "");
  // --init with --resume: said before either file is read (this --resume has no training state).
  expect_input_error(run(tiny + "--init " + dir / "x.h5 --resume " + dir / "not_a_run.h5" + out),
                     "--init: cannot be combined with --resume");
  testing::write_random_sequences(dir / "seq.h5", 4, 9, 20, 1);
  expect_input_error(run("--data " + dir / "seq.h5 --eval-every 2 --model.n_layers 1 --model.d_model 16" + out),
                     "--eval-every: there is no validation data to evaluate: give --val-data");
  expect_input_error(run("--data builtin:repeats" + out),
                     "--data builtin:repeats: expected a token dataset (.h5), "
                     "builtin:repeat or builtin:induction");
  expect_input_error(run(tiny + "--val-data builtin:" + out), "--val-data builtin:: expected a token dataset");
  expect_input_error(run(tiny + "--track-heads " + dir / "h.h5 --track-every 0" + out),
                     "--track-every: expected a positive number of steps");
  expect_input_error(run(tiny + "--track-every 5" + out), "--track-every: is the spacing of --track-heads");
  EXPECT_FALSE(file_exists(dir / "run"));
}

// A checkpoint damaged where only a resume reads it: the optimizer's moments, the stored
// options, the tokenizer. Each is named; no step is taken.
TEST_F(TrainCommandTest, DamagedTrainingStateIsOneLineNamingTheFile) {
  ASSERT_EQ(run(tiny + "--steps 2 --checkpoint-every 1 --out " + dir / "run").status, 0);
  const std::string good = dir / "run/checkpoints/step_000001.h5";
  const auto set_option = [](const std::string& key, nlohmann::json value) {
    return [key, value](h5::File& f) {
      nlohmann::json j = nlohmann::json::parse(f.group("train").attr_string("options_json"));
      j[key] = value;
      f.group("train").set_attr("options_json", j.dump());
    };
  };
  const std::vector<std::pair<std::function<void(h5::File&)>, std::string>> cases = {
      {[](h5::File& f) {
         std::vector<float> m = f.read<float>("optimizer/m");
         m[3] = std::nanf("");
         f.write<float>("optimizer/m", m);
       },
       "/optimizer/m: expected finite optimizer moments; found nan at [3]"},
      {[](h5::File& f) {
         std::vector<float> v = f.read<float>("optimizer/v");
         v[0] = -1.0f;
         f.write<float>("optimizer/v", v);
       },
       "/optimizer/v: expected finite, non-negative optimizer moments; found -1 at [0]"},
      {set_option("steps", 6.5), "/train attribute options_json: steps: expected an integer that fits, got 6.5"},
      {set_option("seed", -1), "/train attribute options_json: seed: expected an integer >= 0 that fits, got -1"},
      {set_option("batch_size", 1e30), "/train attribute options_json: batch_size: expected an integer that fits"},
      {set_option("batch_size", 1 << 30),
       "/train attribute options_json: --batch-size: expected an integer in [1, 1048576]"},
      {set_option("lr", nullptr), "/train attribute options_json: lr: expected a finite number, got null"},
      {set_option("data_fingerprint", 5), "/train attribute options_json: data_fingerprint: expected a string, got 5"},
      {[](h5::File& f) { f.write_string("tokenizer", "{garbage"); }, "/tokenizer: not a headlab tokenizer"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = dir / ("bad" + std::to_string(i) + ".h5");
    std::filesystem::copy_file(good, path);
    {
      h5::File f = h5::File::open(path, h5::Access::read_write);
      cases[i].first(f);
    }
    expect_input_error(run("--resume " + path + " --out " + dir / ("again" + std::to_string(i))),
                       path + ": " + cases[i].second);
    EXPECT_FALSE(file_exists(dir / ("again" + std::to_string(i))));
  }
}

// A run's folder holds one run: the same command again (or a resume of it) rewrites the same
// files, but a run with other settings would leave its checkpoints among the other run's, and
// "resume from the newest" would continue the wrong one.
TEST_F(TrainCommandTest, AnotherRunsCheckpointsInOutAreRefusedAndTheSameRunsAreNot) {
  const std::string run_a = tiny + "--steps 4 --out " + dir / "run";
  ASSERT_EQ(run(run_a + " --checkpoint-every 2").status, 0);
  const Outcome again = run(run_a + " --checkpoint-every 1 --eval-batches 2");  // bookkeeping differs: the same run
  EXPECT_EQ(again.status, 0) << again.err;
  expect_input_error(run(run_a + " --seed 9"), "--out " + dir / "run" + ": holds " +
                                                   dir / "run/checkpoints/step_000004.h5" +
                                                   " from another run (seed 0 there, 9 here)");
  expect_input_error(run(tiny + "--steps 2 --out " + dir / "run"), "(steps 4 there, 2 here)");
  const std::string from2 = "--resume " + dir / "run/checkpoints/step_000002.h5";
  expect_input_error(run(from2 + " --lr 0.01"), "holds " + dir / "run/checkpoints/step_000004.h5" +
                                                    " past step 2, where this run starts, from another run (lr "
                                                    "0.001 there, 0.01 here)");
  expect_input_error(run(from2 + " --stop-at 1"), "--stop-at: the run in " + dir / "run/checkpoints/step_000002.h5" +
                                                      " is at step 2 already, past --stop-at 1");
  EXPECT_EQ(run(from2).status, 0);                                         // the same run: fine
  EXPECT_EQ(run(from2 + " --lr 0.01 --out " + dir / "branch").status, 0);  // a branch of its own
  // A resume from the end with a new --steps goes on in the same folder.
  const Outcome longer = run("--resume " + dir / "run/final.h5 --steps 6 --lr 0.01");
  EXPECT_EQ(longer.status, 0) << longer.err;
  EXPECT_EQ(read_checkpoint(dir / "run/final.h5").train->step, 6);
  expect_input_error(run(run_a), "(lr 0.01 there, 0.001 here)");
}

}  // namespace
}  // namespace headlab
