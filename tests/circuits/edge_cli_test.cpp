// headlab-circuits attribute / eap / acdc / evaluate through the binary: each writes its HDF5, JSON,
// DOT and SVG files; bad inputs end in one error line and exit status 2 with no output left.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/h5_file.h"
#include "data/dataset_annotations.h"
#include "data/token_dataset.h"
#include "model/checkpoint.h"
#include "tests/circuits/circuits_test_util.h"
#include "tests/command_runner.h"

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

class CircuitsEdgeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kBinary)) GTEST_SKIP() << kBinary << " is not built";
    const ModelConfig c = testing::small_config();
    auto be = make_cpu_backend(1);
    auto model = testing::random_model(c, *be, 61, 1.5f);
    Checkpoint ck;
    ck.config = c;
    ck.params = model->params_to_host();
    write_checkpoint(ckpt_, ck);
    write_token_dataset(task_, testing::synthetic_task(4, 7, c.d_vocab, 62));
    write_token_dataset(no_pairs_, testing::synthetic_task(4, 7, c.d_vocab, 63, false, false));
  }
  int run(const std::string& args) {
    const testing::CommandResult r = testing::run_command_line(kBinary + " " + args);
    out_ = r.out;
    err_ = r.err;
    return r.exit_code;
  }
  std::string common(const std::string& data, const std::string& prefix) {
    return "--checkpoint " + ckpt_ + " --data " + data + " --out " + dir_.path(prefix) + " --threads 1";
  }
  void expect_circuit_files(const std::string& prefix, const std::string& format) {
    h5::File f = h5::File::open(dir_.path(prefix) + ".h5");
    EXPECT_EQ(h5::check_format(f, format, 1), 1);
    EXPECT_EQ(f.shape("scores"), (h5::Shape{1 + 2 * 4, 2 * 10 + 1}));
    const nlohmann::json j = nlohmann::json::parse(slurp(dir_.path(prefix) + ".json"));
    EXPECT_EQ(j["format"], "headlab.circuit");
    EXPECT_EQ(j["edges"].size(), 75u);  // 21 + 3 * 12 + 11 + 3 * 2 + 1
    EXPECT_EQ(slurp(dir_.path(prefix) + ".dot").rfind("digraph", 0), 0u);
    EXPECT_NE(slurp(dir_.path(prefix) + ".svg").find("</svg>"), std::string::npos);
  }
  void expect_input_error(int status, const std::string& what) {
    EXPECT_EQ(status, 2) << err_;
    EXPECT_EQ(err_.rfind("headlab-circuits: error: ", 0), 0u) << err_;
    EXPECT_EQ(std::count(err_.begin(), err_.end(), '\n'), 1) << err_;
    EXPECT_NE(err_.find(what), std::string::npos) << err_;
  }
  void expect_no_outputs() {
    for (const auto& e : fs::directory_iterator(dir_.path("")))
      EXPECT_TRUE(e.path().filename().string().rfind("x.", 0) != 0 && e.path().extension() != ".tmp" &&
                  e.path().filename().string().rfind(".x", 0) != 0)
          << "left behind: " << e.path();
  }

  testing::TempDir dir_;
  std::string ckpt_ = dir_.path("model.h5"), task_ = dir_.path("task.h5"), no_pairs_ = dir_.path("no_pairs.h5");
  std::string out_, err_;
};

TEST_F(CircuitsEdgeCliTest, EapAcdcEvaluateAndAttributeWriteTheirFiles) {
  ASSERT_EQ(run("eap " + common(task_, "eap") + " --top-n 10 --mib"), 0) << err_;
  expect_circuit_files("eap", "headlab.eap");
  EXPECT_NE(out_.find("CPR"), std::string::npos) << out_;
  h5::File eap = h5::File::open(dir_.path("eap.h5"));
  EXPECT_EQ(eap.read<double>("cpr_faithfulness").size(), 10u);
  ASSERT_EQ(run("eap " + common(task_, "ig") + " --ig 3 --absolute --threshold 0.01"), 0) << err_;
  expect_circuit_files("ig", "headlab.eap");
  EXPECT_EQ(h5::File::open(dir_.path("ig.h5")).attr_string("method"), "EAP-IG-inputs (K=3)");
  ASSERT_EQ(run("eap " + common(task_, "cc") + " --ig --ig-mode clean-corrupted"), 0) << err_;
  ASSERT_EQ(run("eap " + common(task_, "ia") + " --ig 2 --ig-mode activations"), 0) << err_;
  EXPECT_EQ(h5::File::open(dir_.path("ia.h5")).attr_string("method"), "EAP-IG-activations (K=2)");
  // 2 unhooked forwards, then K runs for each layer node: input, 2 x (heads, MLP).
  EXPECT_NE(out_.find("(12 forwards, 10 backwards)"), std::string::npos) << out_;
  ASSERT_EQ(run("acdc " + common(task_, "acdc") + " --threshold 0.001"), 0) << err_;
  expect_circuit_files("acdc", "headlab.acdc");
  // The circuit eap wrote, evaluated again from its JSON, has the faithfulness eap reported.
  ASSERT_EQ(run("evaluate " + common(task_, "ev") + " --circuit " + dir_.path("eap.json")), 0) << err_;
  expect_circuit_files("ev", "headlab.evaluate");
  EXPECT_NEAR(h5::File::open(dir_.path("ev.h5")).attr_float("faithfulness"), eap.attr_float("faithfulness"), 1e-9);
  {
    // The JSON's settings carry the metric of the circuit, the clean and the corrupted run, as the .h5 does.
    const h5::File ev = h5::File::open(dir_.path("ev.h5"));
    const nlohmann::json settings = nlohmann::json::parse(slurp(dir_.path("ev.json")))["settings"];
    for (const char* key : {"circuit_metric", "clean_metric", "corrupted_metric", "faithfulness"})
      EXPECT_NEAR(settings.at(key).get<double>(), ev.attr_float(key), 1e-9) << key;
  }
  ASSERT_EQ(run("evaluate " + common(task_, "ev2") + " --scores " + dir_.path("eap.h5") + " --top-n 10 --mib"), 0)
      << err_;
  EXPECT_NEAR(h5::File::open(dir_.path("ev2.h5")).attr_float("faithfulness"), eap.attr_float("faithfulness"), 1e-9);
  EXPECT_NEAR(h5::File::open(dir_.path("ev2.h5")).attr_float("cpr"), eap.attr_float("cpr"), 1e-9);
  ASSERT_EQ(run("evaluate " + common(task_, "roc") + " --scores " + dir_.path("ig.h5") + " --roc-truth " +
                dir_.path("eap.json")),
            0)
      << err_;
  EXPECT_NE(out_.find("ROC AUC against the"), std::string::npos) << out_;
  const double auc = h5::File::open(dir_.path("roc.h5")).read<double>("roc_auc_abs").at(0);
  EXPECT_GE(auc, 0.0);
  EXPECT_LE(auc, 1.0);
  // Greater-than's probability difference from the task's year arrays.
  DatasetAnnotations years;
  years.task_arrays["year_tokens"] = {3, 5, -1, 8, 13, 2};
  years.task_arrays["start_yy"] = {1, 2, 3, 4};
  write_annotated_dataset(dir_.path("years.h5"), read_token_dataset(task_), years);
  ASSERT_EQ(run("eap " + common(dir_.path("years.h5"), "pd") + " --ig 2 --metric prob_diff"), 0) << err_;
  EXPECT_EQ(h5::File::open(dir_.path("pd.h5")).attr_string("metric"), "prob_diff");
  ASSERT_EQ(run("attribute " + common(task_, "at")), 0) << err_;
  h5::File at = h5::File::open(dir_.path("at.h5"));
  EXPECT_EQ(h5::check_format(at, "headlab.attribute", 1), 1);
  EXPECT_EQ(at.shape("heads"), (h5::Shape{2, 3}));
  EXPECT_NE(slurp(dir_.path("at.svg")).find("</svg>"), std::string::npos);
}

TEST_F(CircuitsEdgeCliTest, EapOverCheckpointsWritesScoresByStep) {
  const ModelConfig c = testing::small_config();
  fs::create_directories(dir_.path("run/checkpoints"));
  int seed = 70;
  for (const char* step : {"step_000010.h5", "step_000001.h5", "step_000100.h5"}) {
    auto be = make_cpu_backend(1);
    auto model = testing::random_model(c, *be, uint64_t(seed++), 1.5f);
    Checkpoint ck;
    ck.config = c;
    ck.params = model->params_to_host();
    write_checkpoint(dir_.path("run/checkpoints/") + step, ck);
  }
  ASSERT_EQ(run("eap --checkpoints " + dir_.path("run") + " --data " + task_ + " --out " + dir_.path("steps") +
                " --threads 1 --ig 2"),
            0)
      << err_;
  h5::File f = h5::File::open(dir_.path("steps.h5"));
  EXPECT_EQ(h5::check_format(f, "headlab.eap_steps", 1), 1);
  EXPECT_EQ(f.read<int64_t>("steps"), (std::vector<int64_t>{1, 10, 100}));
  EXPECT_EQ(f.shape("scores"), (h5::Shape{3, 9, 21}));
  EXPECT_NE(slurp(dir_.path("steps.svg")).find("</svg>"), std::string::npos);
}

TEST_F(CircuitsEdgeCliTest, BadInputsAreOneLineErrorsWithNoOutput) {
  std::ofstream(dir_.path("direct.json")) << R"({"edges": ["input->logits"]})";
  for (const std::string& cmd : std::vector<std::string>{
           "eap", "attribute", "evaluate --circuit " + dir_.path("direct.json"), "acdc --threshold 0.1"})
    expect_input_error(run(cmd + " " + common(no_pairs_, "x")), "/corrupted");
  expect_input_error(run("eap " + common(task_, "x") + " --ig 0"), "--ig");
  expect_input_error(run("eap " + common(task_, "x") + " --ig 5000"), "--ig");
  expect_input_error(run("eap " + common(task_, "x") + " --ig 3 --ig-mode sideways"), "--ig-mode");
  expect_input_error(run("eap " + common(task_, "x") + " --ig-mode clean-corrupted"), "--ig-mode");
  expect_input_error(run("eap " + common(task_, "x") + " --top-percent 150"), "--top-percent");
  expect_input_error(run("eap " + common(task_, "x") + " --metric prob_diff"), "/task/year_tokens");
  expect_input_error(run("acdc " + common(task_, "x") + " --threshold 0.1 --metric prob_diff"), "/task/year_tokens");
  expect_input_error(run("eap " + common(task_, "x") + " --ioi-classes"), "/labels/role");
  expect_input_error(run("evaluate " + common(task_, "x") + " --circuit " + dir_.path("direct.json") + " --roc-truth " +
                         dir_.path("direct.json")),
                     "--roc-truth");
  expect_input_error(run("eap " + common(task_, "x") + " --top-n 3 --threshold 1"), "--threshold");
  expect_input_error(run("acdc " + common(task_, "x")), "--threshold");
  expect_input_error(run("acdc " + common(task_, "x") + " --threshold -1"), "--threshold");
  expect_input_error(run("acdc " + common(task_, "x") + " --threshold nan"), "--threshold");
  std::ofstream(dir_.path("unknown.json")) << R"({"edges": ["L0H1->L7H0:q"]})";
  expect_input_error(run("evaluate " + common(task_, "x") + " --circuit " + dir_.path("unknown.json")), "L7H0:q");
  std::ofstream(dir_.path("backwards.json")) << R"({"edges": ["L1H0->L0H1:k"]})";
  expect_input_error(run("evaluate " + common(task_, "x") + " --circuit " + dir_.path("backwards.json")), "L1H0");
  std::ofstream(dir_.path("broken.json")) << "{\"edges\": [";
  expect_input_error(run("evaluate " + common(task_, "x") + " --circuit " + dir_.path("broken.json")), "JSON");
  expect_input_error(run("evaluate " + common(task_, "x") + " --scores " + task_), "/scores");
  expect_input_error(run("evaluate " + common(task_, "x")), "--circuit / --scores");
  fs::create_directories(dir_.path("empty_run/checkpoints"));
  expect_input_error(
      run("eap --checkpoints " + dir_.path("empty_run") + " --data " + task_ + " --out " + dir_.path("x")),
      "no checkpoints");
  expect_input_error(run("eap --checkpoints " + dir_.path("nowhere") + " --data " + task_ + " --out " + dir_.path("x")),
                     "not a folder");
  expect_no_outputs();
}

}  // namespace
}  // namespace headlab
