#include "train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/checkpoint.h"
#include "tests/train/train_test_util.h"

namespace headlab {
namespace {

using testing::file_exists;
using testing::TempDir;
using testing::tiny_run;

TrainResult train(const TrainOptions& o) {
  TrainSession s = open_session(o);
  Trainer t(s);
  return t.run();
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// Two threads, so that the parallel kernels' reductions are part of what must repeat.
TEST(TrainTrainerTest, SameSeedDataAndThreadsGiveBitwiseIdenticalLosses) {
  TempDir a("det_a"), b("det_b"), c("det_c");
  TrainOptions o = tiny_run(a.path());
  o.threads = 2;
  o.steps = 8;
  const TrainResult ra = train(o);
  o.out = b.path();
  const TrainResult rb = train(o);
  ASSERT_EQ(ra.losses.size(), 8u);
  EXPECT_EQ(ra.losses, rb.losses);  // float ==: bitwise for finite values
  EXPECT_EQ(read_checkpoint(a / "final.h5").params, read_checkpoint(b / "final.h5").params);
  o.out = c.path();
  o.seed = 99;
  EXPECT_NE(train(o).losses, ra.losses);
}

// Train 2N steps in one go, and N steps + resume from the checkpoint on disk for N more: the same
// losses, weights and optimizer state, bit for bit. Warmup, cosine, clipping, accumulation and
// evaluation are all on, and the stop falls mid-schedule.
void expect_resume_equals_one_run(const TrainOptions& base, const std::string& tag) {
  TempDir whole(tag + "_whole"), split(tag + "_split");
  TrainOptions o = base;
  o.out = whole.path();
  const TrainResult r_whole = train(o);
  ASSERT_TRUE(r_whole.finished);

  o.out = split.path();
  o.stop_at = o.steps / 2;
  const TrainResult r_first = train(o);
  EXPECT_FALSE(r_first.finished);
  EXPECT_FALSE(file_exists(split / "final.h5"));
  char name[64];
  std::snprintf(name, sizeof name, "checkpoints/step_%06lld.h5", (long long)o.stop_at);
  ASSERT_TRUE(file_exists(split / name));

  // As the command does it: the checkpoint's stored options, nothing else given.
  const TrainOptions resumed = resumed_options(split / name);
  TrainSession s = open_session(resumed);
  EXPECT_EQ(s.step, o.stop_at);
  const TrainResult r_second = Trainer(s).run();
  EXPECT_TRUE(r_second.finished);

  std::vector<float> split_losses = r_first.losses;
  split_losses.insert(split_losses.end(), r_second.losses.begin(), r_second.losses.end());
  EXPECT_EQ(split_losses, r_whole.losses);
  const Checkpoint cw = read_checkpoint(whole / "final.h5"), cs = read_checkpoint(split / "final.h5");
  EXPECT_EQ(cs.params, cw.params);
  ASSERT_TRUE(cw.train && cs.train);
  EXPECT_EQ(cs.train->m, cw.train->m);
  EXPECT_EQ(cs.train->v, cw.train->v);
  EXPECT_EQ(cs.train->step, cw.train->step);
  EXPECT_EQ(cs.train->tokens_seen, cw.train->tokens_seen);
  EXPECT_EQ(cs.train->data_position, cw.train->data_position);

  // The split run's metrics.jsonl reads as one run: each step once, the same losses.
  const auto mw = read_metrics(whole / "metrics.jsonl"), ms = read_metrics(split / "metrics.jsonl");
  ASSERT_EQ(ms.size(), mw.size());
  for (size_t i = 0; i < mw.size(); ++i) {
    EXPECT_EQ(ms[i]["step"], mw[i]["step"]);
    if (mw[i].contains("loss")) {
      EXPECT_EQ(ms[i]["loss"], mw[i]["loss"]) << "step " << mw[i]["step"];
    }
  }
}

TEST(TrainTrainerTest, ResumeEqualsOneRunOnBuiltinRepeat) { expect_resume_equals_one_run(tiny_run(""), "repeat"); }

TEST(TrainTrainerTest, ResumeEqualsOneRunOnAStreamDataset) {
  TempDir data("stream_data");
  testing::write_random_stream(data / "stream.h5", 2000, 16, 5);
  TrainOptions o = tiny_run("");
  o.data = data / "stream.h5";
  o.val_data = o.data;
  expect_resume_equals_one_run(o, "stream");
}

TEST(TrainTrainerTest, ResumeEqualsOneRunOnMaskedSequencesAcrossEpochs) {
  TempDir data("seq_data");
  testing::write_random_sequences(data / "seq.h5", 10, 9, 16, 6);  // 12 steps x 8 rows: ~10 epochs
  TrainOptions o = tiny_run("");
  o.data = data / "seq.h5";
  o.optimizer = OptimizerKind::sgd;
  o.lr = 0.05f;
  o.min_lr = 0.01f;
  expect_resume_equals_one_run(o, "seq");
}

TEST(TrainTrainerTest, NonFiniteLossStopsWithTheStepAndKeepsTheLastGoodCheckpoint) {
  TempDir dir("nan");
  TrainOptions o = tiny_run(dir.path());
  o.lr = 1e30f;
  o.min_lr = 0;
  o.warmup = 0;
  o.grad_clip = 0;
  o.steps = 20;
  o.checkpoint_every = 1;
  try {
    train(o);
    FAIL() << "training with lr 1e30 did not stop";
  } catch (const TrainingDiverged& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("step " + std::to_string(e.step) + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("nan"), std::string::npos) << msg;  // the loss (or norm) it met
    ASSERT_GE(e.step, 2) << "the initial model's loss is finite";
    char name[64];
    std::snprintf(name, sizeof name, "checkpoints/step_%06lld.h5", (long long)(e.step - 1));
    EXPECT_EQ(e.last_checkpoint, dir / name);
    EXPECT_NE(msg.find(e.last_checkpoint), std::string::npos) << msg;
    const Checkpoint last = read_checkpoint(e.last_checkpoint);
    for (float p : last.params) ASSERT_TRUE(std::isfinite(p));
    std::snprintf(name, sizeof name, "checkpoints/step_%06lld.h5", (long long)e.step);
    EXPECT_FALSE(file_exists(dir / name));
    EXPECT_FALSE(file_exists(dir / "final.h5"));
    const auto metrics = read_metrics(dir / "metrics.jsonl");
    EXPECT_EQ(metrics.back()["step"], e.step - 1);  // the curve up to the last good step survives
  }
}

class RecordingObserver : public TrainObserver {
 public:
  void on_step(const StepRecord& r, Transformer&) override { steps.push_back(r); }
  void on_eval(int64_t step, std::optional<float> val, Transformer&) override {
    evals.push_back(step);
    EXPECT_TRUE(val.has_value());
  }
  void on_checkpoint(int64_t step, const std::string& path) override { checkpoints.push_back(path); }
  std::vector<StepRecord> steps;
  std::vector<int64_t> evals;
  std::vector<std::string> checkpoints;
};

TEST(TrainTrainerTest, ObserversSeeEveryStepEvaluationAndCheckpoint) {
  TempDir dir("observer");
  TrainOptions o = tiny_run(dir.path());
  o.steps = 10;
  o.log_every = 4;
  o.eval_every = 5;
  o.checkpoint_schedule = CheckpointSpacing::log;
  o.checkpoints_per_octave = 1;
  TrainSession s = open_session(o);
  Trainer t(s);
  RecordingObserver obs;
  t.add_observer(&obs);
  const TrainResult r = t.run();
  ASSERT_EQ(obs.steps.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    const StepRecord& rec = obs.steps[i];
    EXPECT_EQ(rec.step, int64_t(i) + 1);
    EXPECT_EQ(rec.loss, r.losses[i]);
    EXPECT_EQ(rec.tokens_seen, rec.step * 2 * 4 * 8);  // grad_accum x batch x T
    EXPECT_GT(rec.grad_norm, 0);
    EXPECT_EQ(rec.log, rec.step == 1 || rec.step % 4 == 0 || rec.step % 5 == 0);
    EXPECT_EQ(rec.val_loss.has_value(), rec.step % 5 == 0);
    EXPECT_FLOAT_EQ(rec.lr, LrSchedule(o).at(rec.step));
  }
  EXPECT_EQ(obs.evals, (std::vector<int64_t>{0, 5, 10}));
  EXPECT_EQ(obs.checkpoints,
            (std::vector<std::string>{dir / "checkpoints/step_000001.h5", dir / "checkpoints/step_000002.h5",
                                      dir / "checkpoints/step_000004.h5", dir / "checkpoints/step_000008.h5",
                                      dir / "final.h5"}));
  // metrics.jsonl: the initial evaluation, then one line per log point with the documented keys.
  const auto m = read_metrics(dir / "metrics.jsonl");
  std::vector<int64_t> logged;
  for (const auto& j : m) logged.push_back(j["step"]);
  EXPECT_EQ(logged, (std::vector<int64_t>{0, 1, 4, 5, 8, 10}));
  EXPECT_TRUE(m[0].contains("val_loss"));
  for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s", "tokens_seen"})
    EXPECT_TRUE(m[1].contains(key)) << key;
  EXPECT_TRUE(m[3].contains("val_loss"));
  EXPECT_FALSE(m[2].contains("val_loss"));
  EXPECT_EQ(m[1]["loss"].get<float>(), r.losses[0]);
}

TEST(TrainTrainerTest, InitStartsFromTheCheckpointsWeights) {
  TempDir first("init_a"), second("init_b");
  TrainOptions o = tiny_run(first.path());
  o.steps = 3;
  train(o);
  TrainOptions again = tiny_run(second.path());
  again.init = first / "final.h5";
  again.model.any_given = false;
  TrainSession s = open_session(again);
  EXPECT_EQ(s.step, 0);
  EXPECT_EQ(s.model->params_to_host(), read_checkpoint(first / "final.h5").params);
  again.model.any_given = true;  // model options and --init contradict each other
  EXPECT_THROW(open_session(again), InputError);
}

std::string session_error(const TrainOptions& o) {
  try {
    open_session(o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainTrainerTest, DataThatDoesNotFitTheModelIsRejected) {
  TempDir dir("fit");
  testing::write_random_stream(dir / "stream.h5", 100, 40, 1);
  testing::write_random_sequences(dir / "seq.h5", 4, 12, 16, 2);
  TrainOptions o = tiny_run(dir.path());
  o.data = dir / "stream.h5";  // d_vocab 40 > the model's 16
  EXPECT_EQ(session_error(o).rfind("--data " + o.data + ": the dataset's d_vocab 40 exceeds", 0), 0u)
      << session_error(o);
  o.model.config.d_vocab = 64;
  o.model.config.n_ctx = 100;  // a stream of 100 tokens cannot give windows of 101
  EXPECT_NE(session_error(o).find("shorter than n_ctx + 1"), std::string::npos) << session_error(o);
  o.data = dir / "seq.h5";  // rows of 12 need n_ctx >= 11
  o.model.config.n_ctx = 10;
  EXPECT_NE(session_error(o).find("longer than n_ctx + 1"), std::string::npos) << session_error(o);
  o.model.config.n_ctx = 11;
  EXPECT_EQ(session_error(o), "");
  o.data = dir / "missing.h5";
  EXPECT_EQ(session_error(o), "--data: no such file: " + o.data);
  o = tiny_run(dir.path());
  o.repeat_half_len = 5;  // 10 inputs > n_ctx 8
  EXPECT_EQ(session_error(o).rfind("--repeat-half-len: ", 0), 0u) << session_error(o);
}

TEST(TrainTrainerTest, UnsetNCtxAndDVocabComeFromTheData) {
  TokenDataset rows;
  rows.kind = DatasetKind::sequences;
  rows.d_vocab = 77;
  rows.n_seq = 1;
  rows.seq_len = 21;
  TrainOptions o;
  o.data = "x.h5";
  o.model.config.d_head = o.model.config.d_model / o.model.config.n_heads;
  const ModelConfig c = resolve_model(o, &rows);
  EXPECT_EQ(c.d_vocab, 77);
  EXPECT_EQ(c.n_ctx, 20);
  o.data = kBuiltinRepeat;
  o.repeat_half_len = 9;
  EXPECT_EQ(resolve_model(o, nullptr).n_ctx, 18);
}

}  // namespace
}  // namespace headlab
