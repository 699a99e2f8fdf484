// headlab-train killed with SIGKILL (at chosen points through HEADLAB_TEST_KILL_AT, and after
// random delays), then resumed from its latest checkpoint into the same --out: the directory stays
// consistent at every moment, and the run ends bit for bit where an uninterrupted one does.
// Also: what --resume does with options that contradict the checkpoint, and metrics.jsonl's
// repair on resume.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "core/h5_file.h"
#include "model/checkpoint.h"
#include "tests/train/train_test_util.h"
#include "train/metrics_log.h"
#include "train/trainer.h"

extern char** environ;

namespace headlab {
namespace {

namespace fs = std::filesystem;
using testing::file_exists;
using testing::TempDir;

const std::string kBinary = HEADLAB_BINARY_DIR "/bin/headlab-train";

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Exit {
  bool killed = false;  // by SIGKILL
  int code = -1;        // exit status when not killed
  std::string out, err;
};

// headlab-train `args` in a child process, HEADLAB_TEST_KILL_AT=kill_at when given; its stdout and
// stderr go to <log>.out and <log>.err.
pid_t start_train(const std::string& args, const std::string& kill_at, const std::string& log) {
  std::vector<std::string> words = split_words(args), env;
  words.insert(words.begin(), kBinary);
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "HEADLAB_TEST_KILL_AT=", 21) != 0) env.push_back(*e);
  if (!kill_at.empty()) env.push_back("HEADLAB_TEST_KILL_AT=" + kill_at);
  std::vector<char*> argv, envp;
  for (std::string& w : words) argv.push_back(w.data());
  for (std::string& e : env) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  const int out = ::open((log + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int err = ::open((log + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execve(kBinary.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out);
  ::close(err);
  return pid;
}

Exit wait_train(pid_t pid, const std::string& log) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  Exit e;
  e.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  e.out = slurp(log + ".out");
  e.err = slurp(log + ".err");
  return e;
}

Exit run_train(const std::string& args, const std::string& kill_at, const std::string& log) {
  return wait_train(start_train(args, kill_at, log), log);
}

// The step of "step_NNNNNN.h5", else -1.
int64_t checkpoint_step(const std::string& name) {
  static const std::regex pattern("step_([0-9]{6})\\.h5");
  std::smatch m;
  return std::regex_match(name, m, pattern) ? std::stoll(m[1]) : -1;
}

// The newest DIR/checkpoints/step_NNNNNN.h5, as a person or a script finds it; "" when none.
std::string latest_checkpoint(const std::string& dir) {
  std::string best;
  int64_t best_step = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir + "/checkpoints", ec)) {
    const int64_t step = checkpoint_step(e.path().filename().string());
    if (step > best_step) best_step = step, best = e.path().string();
  }
  return best;
}

std::vector<std::string> hidden_files(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const std::string& d : {dir, dir + "/checkpoints"})
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.path().filename().string()[0] == '.') found.push_back(e.path().string());
  return found;
}

// The metrics.jsonl lines that parse; `torn` counts those that do not.
std::vector<nlohmann::json> read_metrics(const std::string& path, int* torn = nullptr) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object())
      lines.push_back(j);
    else if (torn)
      ++*torn;
  }
  return lines;
}

// What a killed run must leave: every visible file in checkpoints/ a complete checkpoint of the
// step its name says; final.h5, if there, complete; metrics.jsonl with increasing steps and at
// most its last line torn.
void expect_consistent_after_kill(const std::string& dir) {
  if (!file_exists(dir + "/checkpoints")) return;  // killed before it made its directories
  for (const auto& e : fs::directory_iterator(dir + "/checkpoints")) {
    const std::string name = e.path().filename().string();
    if (name[0] == '.') continue;  // a temporary name: never read as a checkpoint
    const int64_t step = checkpoint_step(name);
    ASSERT_GE(step, 1) << "not a checkpoint name: " << e.path();
    const Checkpoint ck = read_checkpoint(e.path().string());  // throws if it is broken
    ASSERT_TRUE(ck.train.has_value());
    EXPECT_EQ(ck.train->step, step) << e.path();
  }
  if (file_exists(dir + "/final.h5")) {
    EXPECT_NO_THROW(read_checkpoint(dir + "/final.h5"));
  }
  int torn = 0;
  const auto lines = read_metrics(dir + "/metrics.jsonl", &torn);
  EXPECT_LE(torn, 1);
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_GT(lines[i]["step"], lines[i - 1]["step"]) << dir;
}

// Every /params dataset of the two files: the same names, shapes and bytes.
void expect_same_params(const std::string& a, const std::string& b) {
  const h5::File fa = h5::File::open(a), fb = h5::File::open(b);
  const h5::Group pa = fa.group("params"), pb = fb.group("params");
  ASSERT_EQ(pa.children(), pb.children());
  for (const std::string& name : pa.children()) {
    h5::Shape sa, sb;
    const std::vector<float> va = pa.read<float>(name, &sa), vb = pb.read<float>(name, &sb);
    ASSERT_EQ(sa, sb) << name;
    EXPECT_EQ(std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)), 0) << name << " differs";
  }
  const Checkpoint ca = read_checkpoint(a), cb = read_checkpoint(b);
  ASSERT_TRUE(ca.train && cb.train);
  EXPECT_EQ(ca.train->m, cb.train->m);
  EXPECT_EQ(ca.train->v, cb.train->v);
  EXPECT_EQ(ca.train->step, cb.train->step);
  EXPECT_EQ(ca.train->tokens_seen, cb.train->tokens_seen);
  EXPECT_EQ(ca.train->data_position, cb.train->data_position);
}

// The same steps, each once, with the same numbers (timings aside), as pandas would read them.
void expect_same_metrics(const std::string& a, const std::string& b) {
  int torn = 0;
  const auto ma = read_metrics(a, &torn), mb = read_metrics(b, &torn);
  EXPECT_EQ(torn, 0);
  ASSERT_FALSE(ma.empty()) << a;
  ASSERT_EQ(ma.size(), mb.size()) << slurp(b);
  for (size_t i = 0; i < ma.size(); ++i) {
    EXPECT_EQ(ma[i]["step"], mb[i]["step"]);
    for (const char* key : {"loss", "val_loss", "lr", "grad_norm", "tokens_seen"}) {
      EXPECT_EQ(ma[i].contains(key), mb[i].contains(key)) << "step " << ma[i]["step"] << " " << key;
      if (ma[i].contains(key) && mb[i].contains(key)) {
        EXPECT_EQ(ma[i][key].dump(), mb[i][key].dump()) << "step " << ma[i]["step"] << " " << key;
      }
    }
  }
}

class TrainKillResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!file_exists(kBinary)) GTEST_SKIP() << "headlab-train is not built (" << kBinary << ")";
  }
  // Resumes `run` from its latest checkpoint (or starts it again when it has none), as the
  // person who killed it would; `fresh` is the run's original command line.
  Exit resume(const std::string& run, const std::string& fresh, const std::string& kill_at = "") {
    const std::string latest = latest_checkpoint(run);
    const std::string args = latest.empty() ? fresh : "--resume " + latest + " --out " + run;
    return run_train(args, kill_at, run + "_log");
  }
  void expect_finished_like(const std::string& whole, const std::string& run) {
    expect_same_params(whole + "/final.h5", run + "/final.h5");
    expect_same_metrics(whole + "/metrics.jsonl", run + "/metrics.jsonl");
    EXPECT_EQ(hidden_files(run), std::vector<std::string>{}) << "leftovers of the killed writes";
  }

  TempDir dir{"kill"};
  // A tiny GPT-2 style model on 10 masked rows (8 rows a step: an epoch wraps nearly every step),
  // a validation file evaluated every 3 steps, accumulation, warmup + cosine, log-spaced
  // checkpoints (steps 1 2 3 4 5 6 7 8 10 11 13 16).
  std::string sequences_run(const std::string& out) {
    if (!file_exists(dir / "train.h5")) {
      testing::write_random_sequences(dir / "train.h5", 10, 9, 16, 3);
      testing::write_random_sequences(dir / "val.h5", 6, 9, 16, 4);
    }
    return "--data " + dir / "train.h5" + " --val-data " + dir / "val.h5" +
           " --eval-every 3 --eval-batches 2 --model.n_layers 2 --model.d_model 16 --model.n_heads 2"
           " --model.d_mlp 32 --steps 16 --batch-size 4 --grad-accum 2 --lr 3e-3 --warmup 3 --schedule cosine"
           " --min-lr 1e-4 --grad-clip 0.5 --seed 7 --threads 1 --log-every 1 --checkpoint-schedule log --out " +
           out;
  }
};

TEST_F(TrainKillResumeTest, KilledAtEachPointThenResumedEqualsOneRun) {
  const Exit whole = run_train(sequences_run(dir / "whole"), "", dir / "whole_log");
  ASSERT_EQ(whole.code, 0) << whole.err;
  // (kill point, the newest checkpoint it leaves: 0 = none, the run starts again)
  const std::vector<std::pair<std::string, int64_t>> points = {
      {"metrics:1", 0}, {"step:9", 8}, {"metrics:12", 11}, {"step:16", 13}, {"checkpoint:13", 11}, {"final:16", 16}};
  for (const auto& [point, newest] : points) {
    SCOPED_TRACE(point);
    const std::string run = dir / ("run_" + point.substr(0, point.find(':')) + point.substr(point.find(':') + 1));
    const std::string args = sequences_run(run);
    const Exit killed = run_train(args, point, run + "_log");
    ASSERT_TRUE(killed.killed) << "exit " << killed.code << ": " << killed.err;
    expect_consistent_after_kill(run);
    EXPECT_EQ(checkpoint_step(fs::path(latest_checkpoint(run)).filename().string()), newest ? newest : -1);
    EXPECT_FALSE(file_exists(run + "/final.h5"));
    if (point.rfind("checkpoint:", 0) == 0) {  // the half-written file is there, under a hidden name
      EXPECT_TRUE(file_exists(run + "/checkpoints/.step_000013.h5.tmp"));
      EXPECT_FALSE(file_exists(run + "/checkpoints/step_000013.h5"));
    }
    if (point.rfind("final:", 0) == 0) {
      EXPECT_TRUE(file_exists(run + "/.final.h5.tmp"));
    }
    const Exit resumed = resume(run, args);
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_EQ(resumed.err, "");
    expect_finished_like(dir / "whole", run);
  }
}

TEST_F(TrainKillResumeTest, KilledTwiceAndResumedWithTheOriginalCommandLineEqualsOneRun) {
  const Exit whole = run_train(sequences_run(dir / "whole"), "", dir / "whole_log");
  ASSERT_EQ(whole.code, 0) << whole.err;
  const std::string run = dir / "run", args = sequences_run(run);
  ASSERT_TRUE(run_train(args, "checkpoint:10", run + "_log").killed);  // steps 9, 10 logged; newest 8
  // The whole original command again plus --resume: its model options agree with the checkpoint.
  Exit again = run_train(args + " --resume " + latest_checkpoint(run), "metrics:12", run + "_log");
  ASSERT_TRUE(again.killed) << again.err;
  expect_consistent_after_kill(run);
  again = run_train(args + " --resume " + latest_checkpoint(run), "", run + "_log");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("resuming at step 11"), std::string::npos) << again.out;
  EXPECT_EQ(again.err, "");
  expect_finished_like(dir / "whole", run);
}

// Real kills at random moments (many of them inside checkpoint writes: one every step), on a
// stream dataset, until the run gets through.
TEST_F(TrainKillResumeTest, KilledAtRandomMomentsUntilDoneEqualsOneRun) {
  testing::write_random_stream(dir / "stream.h5", 3000, 16, 9);
  const auto args = [&](const std::string& out) {
    return "--data " + dir / "stream.h5" + " --val-data " + dir / "stream.h5" +
           " --eval-every 5 --eval-batches 1 --model.n_layers 1 --model.d_model 16 --model.n_heads 2 --model.d_mlp 32"
           " --model.n_ctx 16 --steps 60 --batch-size 4 --grad-accum 2 --warmup 5 --schedule cosine --seed 3"
           " --threads 1 --log-every 1 --checkpoint-every 1 --out " +
           out;
  };
  const Exit whole = run_train(args(dir / "whole"), "", dir / "whole_log");
  ASSERT_EQ(whole.code, 0) << whole.err;
  const std::string run = dir / "run";
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> delay_ms(20, 120);
  int kills = 0, mid_write = 0;
  for (int attempt = 0; attempt < 15 && !file_exists(run + "/final.h5"); ++attempt) {
    const std::string latest = latest_checkpoint(run);
    const pid_t pid =
        start_train(latest.empty() ? args(run) : "--resume " + latest + " --out " + run, "", run + "_log");
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    const Exit e = wait_train(pid, run + "_log");
    if (e.killed) {
      ++kills;
      mid_write += !hidden_files(run).empty();
      expect_consistent_after_kill(run);
    } else {
      ASSERT_EQ(e.code, 0) << e.err;
    }
  }
  if (!file_exists(run + "/final.h5")) {
    ASSERT_EQ(resume(run, args(run)).code, 0);
  }
  EXPECT_GT(kills, 0);
  std::printf("random kills: %d, %d of them left a half-written file\n", kills, mid_write);
  expect_finished_like(dir / "whole", run);
}

// Two head-tracking files hold the same steps (as listed) and bitwise the same scores.
void expect_same_tracking(const std::string& expected, const std::string& actual, const std::vector<int64_t>& steps) {
  const h5::File a = h5::File::open(expected), b = h5::File::open(actual);
  EXPECT_EQ(a.read<int64_t>("steps"), steps);
  EXPECT_EQ(b.read<int64_t>("steps"), steps);
  for (const char* name : {"train_loss", "previous_token", "induction", "loss_all"}) {
    const std::vector<float> va = a.read<float>(name), vb = b.read<float>(name);
    ASSERT_EQ(va.size(), vb.size()) << name;
    EXPECT_EQ(std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)), 0) << name;
  }
}

// --track-heads: the killed run's points past the checkpoint are dropped, so the file ends with
// each step once and the same scores as an uninterrupted run's.
TEST_F(TrainKillResumeTest, HeadTrackingFileKeepsEachStepOnceAcrossAKill) {
  const auto args = [&](const std::string& out) {
    return "--data builtin:repeat --repeat-half-len 4 --model.n_layers 2 --model.d_model 16 --model.n_heads 2"
           " --model.attn_only true --model.d_vocab 16 --steps 12 --batch-size 4 --seed 5 --threads 1"
           " --checkpoint-every 4 --track-every 2 --track-heads " +
           out + "/heads.h5 --out " + out;
  };
  ASSERT_EQ(run_train(args(dir / "whole"), "", dir / "whole_log").code, 0);
  const std::string run = dir / "run";
  ASSERT_TRUE(run_train(args(run), "step:7", run + "_log").killed);  // points 0..6 written, checkpoint 4
  ASSERT_EQ(h5::File::open(run + "/heads.h5").read<int64_t>("steps"), (std::vector<int64_t>{0, 2, 4, 6}));
  const Exit resumed = run_train(
      "--resume " + latest_checkpoint(run) + " --out " + run + " --track-heads " + run + "/heads.h5 --track-every 2",
      "", run + "_log");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expect_finished_like(dir / "whole", run);
  expect_same_tracking(dir / "whole/heads.h5", run + "/heads.h5", {0, 2, 4, 6, 8, 10, 12});
}

// A second kill after the resume but before its first scored point must not leave the first
// run's later points: the resume trims the file at once. A resume without --track-heads into the
// run's own --out goes on tracking (the option is stored with the run); a branch into another
// --out leaves the original file alone.
TEST_F(TrainKillResumeTest, HeadTrackingFileIsTrimmedAtOnceAndFollowsTheRun) {
  const auto args = [&](const std::string& out) {
    return "--data builtin:repeat --repeat-half-len 4 --model.n_layers 2 --model.d_model 16 --model.n_heads 2"
           " --model.attn_only true --model.d_vocab 16 --steps 12 --batch-size 4 --seed 5 --threads 1"
           " --checkpoint-every 4 --track-every 2 --track-heads " +
           out + "/heads.h5 --out " + out;
  };
  ASSERT_EQ(run_train(args(dir / "whole"), "", dir / "whole_log").code, 0);
  const std::string run = dir / "run", heads = run + "/heads.h5";
  ASSERT_TRUE(run_train(args(run), "step:7", run + "_log").killed);  // points 0..6, checkpoint 4
  ASSERT_EQ(h5::File::open(heads).read<int64_t>("steps"), (std::vector<int64_t>{0, 2, 4, 6}));
  const std::string from4 = "--resume " + run + "/checkpoints/step_000004.h5";
  ASSERT_TRUE(run_train(from4, "step:5", run + "_log").killed);  // before step 6 is scored again
  EXPECT_EQ(h5::File::open(heads).read<int64_t>("steps"), (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(hidden_files(run), std::vector<std::string>{});

  const std::string before = slurp(heads);
  const Exit branch = run_train(from4 + " --out " + dir / "branch --stop-at 8", "", dir / "branch_log");
  ASSERT_EQ(branch.code, 0) << branch.err;
  EXPECT_NE(branch.out.find("note: the run in " + run + "/checkpoints/step_000004.h5 tracked heads in " + heads +
                            "; this run in another --out does not"),
            std::string::npos)
      << branch.out;
  EXPECT_EQ(slurp(heads), before);
  EXPECT_FALSE(file_exists(dir / "branch/heads.h5"));

  const Exit resumed = run_train(from4, "", run + "_log");  // no --track-heads: it goes on
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expect_finished_like(dir / "whole", run);
  expect_same_tracking(dir / "whole/heads.h5", heads, {0, 2, 4, 6, 8, 10, 12});
}

// SIGTERM (or SIGINT) mid-run: the step under way finishes, its metrics line is written whole,
// no checkpoint is added for the stop, one line says where to resume, and the process ends by
// the signal. The resume then equals a run never stopped.
TEST_F(TrainKillResumeTest, SigtermStopsAfterAStepAndTheResumeEqualsOneRun) {
  const auto args = [&](const std::string& out) {
    return "--data builtin:repeat --repeat-half-len 4 --model.n_layers 1 --model.d_model 16 --model.n_heads 2"
           " --model.d_vocab 16 --steps 1000000 --batch-size 4 --seed 2 --threads 1 --log-every 1"
           " --checkpoint-every 20 --out " +
           out;
  };
  const std::string run = dir / "run";
  const pid_t pid = start_train(args(run), "", run + "_log");
  for (int i = 0; i < 2000 && read_metrics(run + "/metrics.jsonl").size() < 50; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << slurp(run + "_log.err");
  const std::string err = slurp(run + "_log.err");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(err, m,
                               std::regex("headlab-train: stopped by SIGTERM after step ([0-9]+); resume with "
                                          "--resume (.*/step_[0-9]+\\.h5) --out " +
                                          run + "\n")))
      << err;
  const int64_t stopped = std::stoll(m[1]);
  EXPECT_EQ(m[2].str(), latest_checkpoint(run));
  EXPECT_EQ(checkpoint_step(fs::path(m[2].str()).filename().string()), stopped / 20 * 20);
  int torn = 0;
  const auto lines = read_metrics(run + "/metrics.jsonl", &torn);
  EXPECT_EQ(torn, 0);
  EXPECT_EQ(lines.back()["step"], stopped);
  EXPECT_EQ(hidden_files(run), std::vector<std::string>{});

  const std::string stop_at = " --stop-at " + std::to_string(stopped + 3);
  const Exit resumed = run_train("--resume " + m[2].str() + stop_at, "", run + "_log");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  ASSERT_EQ(run_train(args(dir / "whole") + stop_at, "", dir / "whole_log").code, 0);
  char name[64];
  std::snprintf(name, sizeof name, "/checkpoints/step_%06lld.h5", static_cast<long long>(stopped + 3));
  expect_same_params(dir / "whole" + name, run + name);
  expect_same_metrics(dir / "whole/metrics.jsonl", run + "/metrics.jsonl");
}

// What --resume does with options that contradict the checkpoint: the model and the data are the
// checkpoint's (other ones: exit 2, one line), hyperparameters may change (a warning line each).
TEST_F(TrainKillResumeTest, ResumeOptionsThatContradictTheCheckpoint) {
  testing::write_random_sequences(dir / "a.h5", 10, 9, 16, 1);
  testing::write_random_sequences(dir / "b.h5", 10, 9, 16, 2);  // the same shape, other tokens
  fs::copy_file(dir / "a.h5", dir / "a_moved.h5");
  const std::string base = "--data " + dir / "a.h5" +
                           " --model.n_layers 1 --model.d_model 16 --model.n_heads 2 --model.d_mlp 32"
                           " --steps 6 --batch-size 4 --seed 3 --threads 1 --checkpoint-every 2 --out " +
                           dir / "run";
  ASSERT_EQ(run_train(base, "", dir / "log").code, 0);
  const std::string ck = " --resume " + dir / "run/checkpoints/step_000004.h5";
  auto expect_error = [&](const std::string& args, const std::string& fragment) {
    SCOPED_TRACE(args);
    const Exit e = run_train(args, "", dir / "log");
    EXPECT_EQ(e.code, 2) << e.err;
    EXPECT_EQ(e.err.rfind("headlab-train: error: ", 0), 0u) << e.err;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << e.err;
    EXPECT_NE(e.err.find(fragment), std::string::npos) << e.err;
  };
  const std::string out = " --out " + dir / "again";
  expect_error(ck + out + " --model.n_layers 2", "--model.n_layers: is 2, but the model in");
  std::ofstream(dir / "model.ini") << "[model]\nd_model = 32\n";
  expect_error(ck + out + " --config " + dir / "model.ini", "--model.d_model: is 32");
  expect_error(ck + out + " --data " + dir / "b.h5", "--data " + dir / "b.h5" + ": is sequences [10, 9]");
  expect_error(ck + out + " --seed 4", "--seed: the run in");
  expect_error(ck + out + " --optimizer sgd", "--optimizer");
  expect_error(ck + out + " --steps 3", "--steps: the run in " + dir / "run/checkpoints/step_000004.h5" +
                                            " already reached step 4, past --steps 3");

  // The same model options, the same data under another name: a plain resume, no warning.
  Exit e = run_train(ck + out + " --model.n_layers 1 --model.d_model 16 --data " + dir / "a_moved.h5", "", dir / "log");
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.err, "");
  expect_same_params(dir / "run/final.h5", dir / "again/final.h5");

  // A new batch size: allowed, said once on stderr.
  e = run_train(ck + " --out " + dir / "bigger" + " --batch-size 8", "", dir / "log");
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.err, "headlab-train: warning: --batch-size 8 differs from the run in " +
                       dir / "run/checkpoints/step_000004.h5" +
                       " (4): the resumed run goes on with the new value, so it will not match the original run\n");

  // A checkpoint at --steps: nothing to train; final.h5 is (re)written from it, exit 0.
  fs::remove(dir / "run/final.h5");
  e = run_train("--resume " + dir / "run/checkpoints/step_000006.h5", "", dir / "log");
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("nothing left to train"), std::string::npos) << e.out;
  expect_same_params(dir / "run/checkpoints/step_000006.h5", dir / "run/final.h5");
}

// ---------------------------------------------------------------- library level

TEST(TrainMetricsLogTest, ResumeKeepsEachStepOnceUpToTheCheckpointAndDropsATornLine) {
  TempDir dir("metrics");
  const std::string path = dir / "metrics.jsonl";
  std::ofstream(path) << "{\"step\":0,\"val_loss\":2.5}\n"
                         "{\"step\":1,\"loss\":2.4,\"elapsed_s\":0.5}\n"
                         "{\"step\":2,\"loss\":2.3,\"elapsed_s\":1.0}\n"
                         "{\"step\":1,\"loss\":9.9,\"elapsed_s\":0.1}\n"  // out of order: dropped
                         "{\"step\":3,\"loss\":2.2,\"elapsed_s\":1.5}\n"
                         "{\"step\":4,\"loss\":2.1,\"elapsed_s\":2.0}\n"  // past the checkpoint: dropped
                         "{\"step\":5,\"lo";                              // torn by a kill
  const ModelConfig c = testing::tiny_model(8, 16).config;
  const std::unique_ptr<Backend> backend = make_backend(Device::cpu, 1);
  Transformer model(c, *backend);
  {
    MetricsLog log(path, 3);
    EXPECT_EQ(slurp(path),
              "{\"step\":0,\"val_loss\":2.5}\n{\"step\":1,\"loss\":2.4,\"elapsed_s\":0.5}\n"
              "{\"step\":2,\"loss\":2.3,\"elapsed_s\":1.0}\n{\"step\":3,\"loss\":2.2,\"elapsed_s\":1.5}\n");
    StepRecord r;
    r.step = 4;
    r.loss = 2.0f;
    r.elapsed_s = 0.25;
    r.log = true;
    log.on_step(r, model);
  }
  const auto lines = read_metrics(path);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[4]["step"], 4);
  EXPECT_EQ(lines[4]["loss"].get<float>(), 2.0f);
  EXPECT_DOUBLE_EQ(lines[4]["elapsed_s"].get<double>(), 1.75);  // goes on from the last kept line
  EXPECT_EQ(hidden_files(dir.path()), std::vector<std::string>{});
  MetricsLog fresh(path, 0);  // a new run starts the file afresh
  EXPECT_EQ(slurp(path), "");
}

TEST(TrainKillResumeLibraryTest, LeftoversOfKilledWritesAreRemovedAndFinishedFilesKept) {
  TempDir dir("leftovers");
  TrainOptions o = testing::tiny_run(dir.path());
  o.steps = 2;
  fs::create_directories(dir / "checkpoints");
  const std::vector<std::string> leftovers = {"checkpoints/.step_000003.h5.tmp", "checkpoints/step_000004.h5.tmp",
                                              ".final.h5.tmp", "final.h5.tmp", ".metrics.jsonl.tmp"};
  for (const std::string& f : leftovers) std::ofstream(dir / f) << "half a file";
  std::ofstream(dir / "checkpoints/step_000002.h5") << "not ours to judge";
  std::ofstream(dir / "notes.txt") << "a person's file";
  TrainSession s = open_session(o);
  Trainer t(s);
  for (const std::string& f : leftovers) EXPECT_FALSE(file_exists(dir / f)) << f;
  EXPECT_TRUE(file_exists(dir / "checkpoints/step_000002.h5"));
  EXPECT_TRUE(file_exists(dir / "notes.txt"));
}

TEST(TrainKillResumeLibraryTest, ResumeWarnsOnlyForOptionsThatChangeTheTrajectory) {
  TempDir dir("warnings");
  TrainOptions o = testing::tiny_run(dir.path());  // cosine schedule
  o.steps = 4;
  o.checkpoint_every = 2;
  {
    TrainSession s = open_session(o);
    Trainer(s).run();
  }
  const TrainOptions base = resumed_options(dir / "checkpoints/step_000002.h5");
  TrainOptions r = base;
  r.log_every = 3;  // bookkeeping: taken silently
  r.eval_every = 1;
  r.checkpoint_every = 1;
  r.out = dir / "elsewhere";
  EXPECT_EQ(open_session(r).warnings, std::vector<std::string>{});
  r.lr = 1e-3f;
  r.steps = 8;  // the cosine's horizon moves
  const std::vector<std::string> w = open_session(r).warnings;
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].rfind("--lr 0.001 differs from the run in " + dir / "checkpoints/step_000002.h5" + " (0.003)", 0), 0u)
      << w[0];
  EXPECT_EQ(w[1].rfind("--steps 8 differs", 0), 0u) << w[1];
  r = base;
  r.seed = base.seed + 1;
  try {
    open_session(r);
    ADD_FAILURE() << "a new --seed on resume was accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--seed: the run in ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace headlab
