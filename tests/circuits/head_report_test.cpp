// The head report end to end: a 2-layer attention-only model trained here on repeated random
// sequences forms an induction circuit (a previous-token head in layer 0, an induction head in layer
// 1), and the report finds and names both, writes its files, and records what it could not compute.
#include "circuits/head_report.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/h5_file.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "tests/circuits/toy_induction_model.h"
#include "tests/command_runner.h"

namespace headlab {
namespace {

using testing::kToyContext;
ModelConfig toy_config() { return testing::toy_induction_config(); }

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(CircuitsHeadReportTest, TrainedTwoLayerModelHasAnInductionCircuitAndTheReportNamesIt) {
  const auto start = std::chrono::steady_clock::now();
  Checkpoint ckpt;
  ckpt.config = toy_config();
  float loss = 0;
  ckpt.params = testing::train_toy_induction_model(ckpt.config, 800, 1, &loss);
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // About ln 63 = 4.14 on the first period and near 0 after it: under 2 on average (about 4.1
  // before the induction circuit forms).
  EXPECT_LT(loss, 2.5) << "training did not learn the repeats";

  const std::string dir = std::string(HEADLAB_BINARY_DIR) + "/test_out/head_report";
  std::filesystem::remove_all(dir);
  const std::string ckpt_path = dir + "/toy.h5";
  std::filesystem::create_directories(dir);
  write_checkpoint(ckpt_path, ckpt);

  HeadReportOptions opt;
  opt.half_len = 11;  // the probe: BOS + 2 x 11 tokens
  opt.n_seq = 16;
  opt.threads = 1;
  const HeadReport r = compute_head_report(read_checkpoint(ckpt_path), ckpt_path, opt);
  const int H = ckpt.config.n_heads;
  const auto& stripe = r.score("induction_stripe")->values;
  const auto& tl_induction = r.score("induction")->values;
  const auto& prev = r.score("previous_token")->values;
  int best_l1 = 0, best_l0 = 0;
  for (int h = 0; h < H; ++h) {
    if (stripe[size_t(H + h)] > stripe[size_t(H + best_l1)]) best_l1 = h;
    if (prev[size_t(h)] > prev[size_t(best_l0)]) best_l0 = h;
  }
  EXPECT_GT(stripe[size_t(H + best_l1)], 0.7) << head_report_text(r);
  EXPECT_GT(tl_induction[size_t(H + best_l1)], 0.4);
  EXPECT_GT(prev[size_t(best_l0)], 0.4) << head_report_text(r);
  for (int h = 0; h < H; ++h) EXPECT_LT(stripe[size_t(h)], 0.4) << "layer 0 cannot hold an induction head";
  EXPECT_LT(r.probe.loss_repeated_half, 0.3 * r.probe.loss_first_half);
  EXPECT_LT(r.probe.icl_score, -1.0);
  // The induction head reads the previous-token head through its key: the strongest K-composition
  // pair starts at the previous-token head (Elhage et al. 2021), and K beats Q for the pair.
  const int L = ckpt.config.n_layers;
  auto comp = [&](const std::vector<double>& c, int h0, int h1) { return c[size_t(((0 * H + h0) * L + 1) * H + h1)]; };
  int top_source = 0, top_target = 0;
  for (int h0 = 0; h0 < H; ++h0)
    for (int h1 = 0; h1 < H; ++h1)
      if (comp(r.composition_k, h0, h1) > comp(r.composition_k, top_source, top_target))
        top_source = h0, top_target = h1;
  EXPECT_EQ(top_source, best_l0) << head_report_text(r);
  EXPECT_GT(comp(r.composition_k, best_l0, best_l1), comp(r.composition_q, best_l0, best_l1));
  // The induction head copies: its OV circuit has a positive spectrum.
  EXPECT_GT(r.score("copying")->values[size_t(H + best_l1)], 0.5);

  // The role lines name both heads with the survey's stages.
  const std::string induction_line = "L1H" + std::to_string(best_l1) + "  induction head  (Latent Reasoning)";
  const std::string prev_line = "L0H" + std::to_string(best_l0) + "  previous-token head  (In-Context Identification)";
  bool found_induction = false, found_prev = false;
  for (const HeadRole& role : r.roles) {
    found_induction = found_induction || role.line.rfind(induction_line, 0) == 0;
    found_prev = found_prev || role.line.rfind(prev_line, 0) == 0;
  }
  EXPECT_TRUE(found_induction) << head_report_text(r);
  EXPECT_TRUE(found_prev) << head_report_text(r);

  write_head_report(r, dir);
  const std::string text = read_file(dir + "/heads.txt");
  EXPECT_NE(text.find(induction_line), std::string::npos);
  EXPECT_NE(text.find(prev_line), std::string::npos);
  EXPECT_NE(text.find("successor: "), std::string::npos);
  EXPECT_NE(text.find("not computed: needs --successor-data"), std::string::npos);

  h5::File f = h5::File::open(dir + "/heads.h5");
  EXPECT_EQ(h5::check_format(f, "headlab.head_scores", 1), 1);
  const std::vector<float> stored = f.group("scores").read<float>("induction_stripe", {L, H});
  EXPECT_NEAR(stored[size_t(H + best_l1)], stripe[size_t(H + best_l1)], 1e-6);
  EXPECT_EQ(f.group("composition").shape("k"), (h5::Shape{L, H, L, H}));
  EXPECT_TRUE(f.group("not_computed").exists("successor"));
  EXPECT_FALSE(f.group("scores").exists("successor"));

  const nlohmann::json j = nlohmann::json::parse(read_file(dir + "/heads.json"));
  EXPECT_EQ(j["format"], "headlab.head_scores");
  EXPECT_NEAR(j["scores"]["previous_token"]["values"][0][best_l0].get<double>(), prev[size_t(best_l0)], 1e-9);
  EXPECT_FALSE(j["scores"]["retrieval"]["computed"].get<bool>());
  EXPECT_FALSE(j["roles"].empty());
  for (const char* f_name : {"heads.html", "heads_induction_stripe.svg", "composition_k.svg"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f_name)) << f_name;
  const double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("train_seconds", std::to_string(train_seconds));
  RecordProperty("total_seconds", std::to_string(total_seconds));
  std::printf("trained in %.1f s, report in %.1f s\n", train_seconds, total_seconds - train_seconds);
}

TEST(CircuitsHeadReportTest, ProbeLongerThanTheContextIsAnInputError) {
  Checkpoint ckpt;
  ckpt.config = toy_config();
  auto be = make_cpu_backend(1);
  Transformer model(ckpt.config, *be);
  model.init_gpt2(3);
  ckpt.params = model.params_to_host();
  HeadReportOptions opt;
  opt.half_len = kToyContext / 2 + 1;  // 2n = 26 > n_ctx = 24
  try {
    compute_head_report(ckpt, "toy.h5", opt);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--seq-len"), std::string::npos) << e.what();
  }
  opt.half_len = 4;
  opt.successor_data = "/nonexistent/successor.h5";
  EXPECT_THROW(compute_head_report(ckpt, "toy.h5", opt), InputError);
}

TEST(CircuitsHeadReportTest, RolesFollowTheStatedThresholds) {
  HeadReport r;
  r.cfg = toy_config();
  r.cfg.n_layers = 1;
  r.cfg.n_heads = 3;
  HeadScoreTable prev{"previous_token", "prev-token", "", "", true, "", {0.41, 0.39, 0.0}};
  HeadScoreTable copying{"copying", "copying", "", "", true, "", {0.9, -0.51, -0.49}};
  HeadScoreTable succ{"successor", "successor", "", "", false, "not available", {}};
  r.scores = {prev, copying, succ};
  const auto roles = name_roles(r);
  ASSERT_EQ(roles.size(), 2u);
  EXPECT_EQ(roles[0].line.rfind("L0H0  previous-token head  (In-Context Identification)  prev-token 0.41 > 0.4", 0), 0u)
      << roles[0].line;
  EXPECT_EQ(roles[1].layer, 0);
  EXPECT_EQ(roles[1].head, 1);
  EXPECT_EQ(roles[1].rule->role, "copy-suppression head");
}

// headlab-circuits heads through the binary: files written; bad inputs give one line and exit 2.
TEST(CircuitsHeadReportTest, CommandWritesTheReportAndRejectsBadInputs) {
  const std::string binary = std::string(HEADLAB_BINARY_DIR) + "/bin/headlab-circuits";
  if (!std::filesystem::exists(binary)) GTEST_SKIP() << binary << " is not built";
  const std::string dir = std::string(HEADLAB_BINARY_DIR) + "/test_out/heads_command";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Checkpoint ckpt;
  ckpt.config = toy_config();
  auto be = make_cpu_backend(1);
  Transformer model(ckpt.config, *be);
  model.init_gpt2(9);
  ckpt.params = model.params_to_host();
  write_checkpoint(dir + "/model.h5", ckpt);

  const auto ok = testing::run_command_line(binary + " heads --checkpoint " + dir + "/model.h5 --n-seq 4 --threads 1");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  for (const char* f : {"heads.h5", "heads.json", "heads.txt", "heads.html", "heads_induction.svg"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/heads/" + f)) << f;  // default: next to the checkpoint
  EXPECT_NE(ok.out.find("not computed: successor"), std::string::npos) << ok.out;
  // --ablate: the probe runs without those heads, and the files say so.
  const auto ablated = testing::run_command_line(binary + " heads --checkpoint " + dir +
                                                 "/model.h5 --n-seq 4 --threads 1 --ablate L0H1,L1H0 --ablation mean "
                                                 "--out-dir " +
                                                 dir + "/ablated");
  EXPECT_EQ(ablated.exit_code, 0) << ablated.err;
  EXPECT_NE(ablated.out.find("L0H1, L1H0 mean-ablated"), std::string::npos) << ablated.out;
  const nlohmann::json j = nlohmann::json::parse(read_file(dir + "/ablated/heads.json"));
  EXPECT_EQ(j["probe"]["ablation"], "mean");
  EXPECT_EQ(j["probe"]["ablated_heads"], nlohmann::json::array({"L0H1", "L1H0"}));
  EXPECT_NE(j["probe"]["loss_all"], nlohmann::json::parse(read_file(dir + "/heads/heads.json"))["probe"]["loss_all"]);

  auto expect_input_error = [&](const std::string& args, const std::string& what) {
    const auto r = testing::run_command_line(binary + " " + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(r.err_lines(), 1) << r.err;
    EXPECT_EQ(r.err.rfind("headlab-circuits: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  };
  expect_input_error("heads --checkpoint " + dir + "/missing.h5", "missing.h5");
  expect_input_error("heads", "--checkpoint");
  expect_input_error("heads --checkpoint " + dir + "/model.h5 --seq-len 13 --out-dir " + dir + "/x", "--seq-len");
  expect_input_error("heads --checkpoint " + dir + "/model.h5 --error-measure max", "--error-measure");
  expect_input_error("heads --checkpoint " + dir + "/model.h5 --ablate L2H0 --out-dir " + dir + "/x", "--ablate");
  expect_input_error("heads --checkpoint " + dir + "/model.h5 --ablate L0H0,L0H0 --out-dir " + dir + "/x", "--ablate");
  expect_input_error("heads --checkpoint " + dir + "/model.h5 --ablate L0H0 --ablation half --out-dir " + dir + "/x",
                     "--ablation");
  expect_input_error("heads --checkpoint " + dir + "/model.h5 --retrieval-data " + dir + "/model.h5", "model.h5");
  EXPECT_FALSE(std::filesystem::exists(dir + "/x/heads.h5"));
  expect_input_error("formation --track " + dir + "/heads/heads.h5", "format");
  expect_input_error("formation", "--track");
}

}  // namespace
}  // namespace headlab
