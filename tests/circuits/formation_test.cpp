// Head formation: the tracker's file and the analysis on curves with a known phase change (the
// tracker itself and a real training run where induction heads form: tests/tools/head_tracker_test.cpp).
#include "circuits/formation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "circuits/formation_track.h"
#include "core/errors.h"
#include "core/h5_file.h"

namespace headlab {
namespace {

std::string out_dir(const std::string& name) {
  const std::string dir = std::string(HEADLAB_BINARY_DIR) + "/test_out/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A track whose best induction score follows a step at 300 (0.05 -> 0.9 between points 250 and
// 300), whose repeated-half loss drops in the same interval, and whose training loss bumps up just
// before it.
FormationTrack synthetic_track() {
  FormationTrack t;
  t.n_layers = 2;
  t.n_heads = 2;
  t.every = 50;
  t.probe_n_seq = 4;
  t.probe_half_len = 8;
  t.icl_early = 4;
  t.icl_late = 12;
  for (int64_t step = 0; step <= 500; step += 50) {
    FormationPoint p;
    p.step = step;
    const bool formed = step >= 300;
    p.train_loss = step == 0 ? NAN : (formed ? 2.0f : (step == 250 ? 3.6f : 3.4f - 0.0002f * float(step)));
    ProbeScores& s = p.scores;
    s.n_layers = 2;
    s.n_heads = 2;
    s.induction_stripe = {0.02, 0.03, 0.05 + 0.0001 * double(step), formed ? 0.9 : 0.05};  // L1H1 forms
    s.induction = s.induction_stripe;
    s.previous_token = {formed ? 0.7 : 0.1, 0.1, 0.05, 0.05};
    s.duplicate_token = s.first_token = {0, 0, 0, 0};
    s.loss_first_half = 3.4;
    s.loss_repeated_half = formed ? 0.2 : 3.3;
    s.icl_score = s.loss_repeated_half - s.loss_first_half;
    t.points.push_back(p);
  }
  return t;
}

TEST(CircuitsFormationTest, FindsTheStepOfAKnownPhaseChange) {
  const FormationTrack t = synthetic_track();
  const FormationAnalysis a = analyse_formation(t);
  EXPECT_EQ(a.formation_step, 300);
  EXPECT_EQ(a.rise_from, 250);
  EXPECT_NEAR(a.rise, 0.9 - (0.05 + 0.0001 * 250), 1e-9);
  EXPECT_EQ(a.first_above_threshold, 300);
  EXPECT_EQ(a.best_layer, 1);
  EXPECT_EQ(a.best_head, 1);
  EXPECT_EQ(a.loss_drop_step, 300);
  EXPECT_EQ(a.icl_drop_step, 300);
  EXPECT_EQ(a.loss_bump_step, 250);
  EXPECT_NEAR(a.loss_bump, 3.6 - (3.4 - 0.0002 * 200), 1e-5);
  EXPECT_EQ(a.score_loss_gap_points, 0);
  EXPECT_THROW(analyse_formation(FormationTrack{}), InputError);
}

TEST(CircuitsFormationTest, TrackFileRoundTripsAndReportIsWritten) {
  const std::string dir = out_dir("formation_roundtrip");
  const FormationTrack t = synthetic_track();
  write_formation_track(dir + "/track.h5", t);
  const FormationTrack back = read_formation_track(dir + "/track.h5");
  ASSERT_EQ(back.points.size(), t.points.size());
  EXPECT_EQ(back.points[6].step, 300);
  EXPECT_FLOAT_EQ(float(back.points[6].scores.induction_stripe[3]), 0.9f);
  EXPECT_TRUE(std::isnan(back.points[0].train_loss));
  EXPECT_EQ(back.icl_late, 12);
  {
    h5::File f = h5::File::open(dir + "/track.h5");
    EXPECT_EQ(f.shape("previous_token"), (h5::Shape{11, 2, 2}));
    EXPECT_EQ(f.attr_string("format"), kFormationFormat);
  }
  const FormationAnalysis a = analyse_formation(back);
  write_formation_report(back, a, dir + "/track.h5", dir + "/report");
  std::ifstream in(dir + "/report/formation.json");
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str());
  EXPECT_EQ(j["analysis"]["formation_step"], 300);
  EXPECT_EQ(j["analysis"]["best_head"], "L1H1");
  EXPECT_TRUE(j["curves"]["train_loss"][0].is_null());
  EXPECT_TRUE(std::filesystem::exists(dir + "/report/formation.svg"));
  EXPECT_NE(formation_text(back, a, "x").find("induction heads form at step 300"), std::string::npos);

  // Not a formation file: one clear error naming the file.
  {
    h5::AtomicFile other(dir + "/other.h5");
    h5::set_format(other.file(), "headlab.head_scores", 1);
    other.commit();
  }
  try {
    read_formation_track(dir + "/other.h5");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("other.h5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace headlab
