// headlab-train's head tracker: what it records, when, and how a resumed run continues the file; a
// real training run where induction heads form; the command writing the track that headlab-circuits
// formation reads.
#include "tools/headlab-train/head_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "circuits/formation.h"
#include "core/errors.h"
#include "tests/circuits/toy_induction_model.h"
#include "tests/command_runner.h"

namespace headlab {
namespace {

std::string out_dir(const std::string& name) {
  const std::string dir = std::string(HEADLAB_BINARY_DIR) + "/test_out/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(CircuitsFormationTest, TrackerScoresEveryNStepsAndResumedRunsContinueTheFile) {
  const std::string dir = out_dir("formation_tracker");
  const ModelConfig cfg = testing::toy_induction_config();
  HeadTrackerOptions opt;
  opt.path = dir + "/track.h5";
  opt.every = 2;
  opt.n_seq = 4;
  opt.half_len = 6;
  auto be = make_cpu_backend(1);
  Transformer model(cfg, *be);
  model.init_gpt2(5);
  {
    HeadTracker tracker(cfg, "", opt);
    tracker.on_eval(0, std::nullopt, model);
    for (int64_t step = 1; step <= 5; ++step) {
      StepRecord r;
      r.step = step;
      r.total_steps = 5;
      r.loss = float(step);
      tracker.on_step(r, model);
      tracker.on_eval(step, std::nullopt, model);  // only step 0 records from on_eval
    }
  }
  FormationTrack t = read_formation_track(opt.path);
  ASSERT_EQ(t.points.size(), 4u);
  EXPECT_EQ(t.points[0].step, 0);
  EXPECT_EQ(t.points[1].step, 2);
  EXPECT_EQ(t.points[2].step, 4);
  EXPECT_EQ(t.points[3].step, 5);  // the last step, though not a multiple of 2
  EXPECT_FLOAT_EQ(t.points[2].train_loss, 4.0f);
  // What the tracker recorded equals scoring the same model on the same probe directly.
  RepeatProbe probe = make_repeat_probe(4, 6, 1, cfg.d_vocab, 0, 0);
  const ProbeScores direct = score_repeat_probe(model, probe, {});
  for (size_t i = 0; i < direct.induction_stripe.size(); ++i)
    EXPECT_NEAR(t.points[3].scores.induction_stripe[i], direct.induction_stripe[i], 1e-6);
  EXPECT_NEAR(t.points[3].scores.loss_repeated_half, direct.loss_repeated_half, 1e-5);

  // Resuming at step 4 keeps steps 0, 2, 4 and continues; a fresh run (start 0) starts over.
  {
    HeadTracker resumed(cfg, "", opt, 4);
    EXPECT_EQ(resumed.track().points.size(), 3u);
    resumed.record(6, 1.0f, model);
  }
  t = read_formation_track(opt.path);
  ASSERT_EQ(t.points.size(), 4u);
  EXPECT_EQ(t.points[3].step, 6);
  {
    HeadTracker fresh(cfg, "", opt, 0);
    EXPECT_TRUE(fresh.track().points.empty());
  }
  opt.every = 0;
  EXPECT_THROW(HeadTracker(cfg, "", opt), InputError);
  opt.every = 1;
  opt.half_len = 13;  // 2n = 26 > n_ctx = 24
  EXPECT_THROW(HeadTracker(cfg, "", opt), InputError);
}

TEST(CircuitsFormationTest, InductionHeadsFormDuringTrainingWithTheLossDrop) {
  const std::string dir = out_dir("formation_training");
  const ModelConfig cfg = testing::toy_induction_config();
  HeadTrackerOptions opt;
  opt.path = dir + "/track.h5";
  opt.every = 50;
  opt.n_seq = 16;
  opt.half_len = 11;
  HeadTracker tracker(cfg, "", opt);
  const int steps = 800;
  float loss = 0;
  testing::train_toy_induction_model(
      cfg, steps, 1, &loss,
      [&](int step, float step_loss, Transformer& model) {
        StepRecord r;
        r.step = step;
        r.total_steps = steps;
        r.loss = step_loss;
        tracker.on_step(r, model);
      },
      [&](Transformer& model) { tracker.on_eval(0, std::nullopt, model); });
  const FormationTrack t = read_formation_track(opt.path);
  ASSERT_EQ(t.points.size(), size_t(steps / 50 + 1));
  const FormationAnalysis a = analyse_formation(t);
  // Before: no head above the threshold; after: an induction head in layer 1, formed mid-training
  // (the repeated half is unlearnable without it), together with the drop of the repeated-half loss.
  EXPECT_LT(*std::max_element(t.points[0].scores.induction_stripe.begin(), t.points[0].scores.induction_stripe.end()),
            0.3);
  EXPECT_EQ(a.best_layer, 1);
  EXPECT_GT(a.final_induction, 0.7);
  EXPECT_GT(a.formation_step, 50);
  EXPECT_LT(a.formation_step, steps);
  EXPECT_GT(a.rise, 0.1);
  EXPECT_LE(a.score_loss_gap_points, 2) << formation_text(t, a, opt.path);
  EXPECT_LT(t.points.back().scores.loss_repeated_half, 0.3 * t.points.front().scores.loss_repeated_half);
  write_formation_report(t, a, opt.path, dir);
  std::printf("%s", formation_text(t, a, opt.path).c_str());
}

// headlab-train --track-heads FILE --track-every N writes the track; headlab-circuits formation reads it.
TEST(CircuitsFormationTest, TrainCommandTracksHeadsAndFormationCommandReadsTheTrack) {
  const std::string train = std::string(HEADLAB_BINARY_DIR) + "/bin/headlab-train";
  const std::string circuits = std::string(HEADLAB_BINARY_DIR) + "/bin/headlab-circuits";
  if (!std::filesystem::exists(train) || !std::filesystem::exists(circuits)) GTEST_SKIP() << "commands not built";
  const std::string dir = out_dir("formation_commands");
  const std::string model =
      " --model.n_layers 2 --model.d_model 16 --model.n_heads 2 --model.attn_only true"
      " --model.d_vocab 16 --threads 1 --data builtin:repeat --repeat-half-len 4 --steps 7";
  const auto r = testing::run_command_line(train + model + " --out " + dir + "/run --track-heads " + dir +
                                           "/track.h5 --track-every 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const FormationTrack t = read_formation_track(dir + "/track.h5");
  ASSERT_EQ(t.points.size(), 4u);  // steps 0, 3, 6 and the last, 7
  EXPECT_EQ(t.points[1].step, 3);
  EXPECT_EQ(t.points[3].step, 7);
  EXPECT_EQ(t.probe_half_len, 4);  // n_ctx = 8: the probe is the training length
  EXPECT_TRUE(std::isfinite(t.points[1].train_loss));

  const auto f =
      testing::run_command_line(circuits + " formation --track " + dir + "/track.h5 --out-dir " + dir + "/f");
  EXPECT_EQ(f.exit_code, 0) << f.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/f/formation.svg"));
  EXPECT_NE(f.out.find("headlab head formation"), std::string::npos) << f.out;

  const auto bad = testing::run_command_line(train + model + " --out " + dir + "/run2 --track-heads " + dir +
                                             "/t2.h5 --track-every 0");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--track-every"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace headlab
