// Task evaluation (circuits/task_eval.h) against an outside float64 reference of its definitions
// (tests/circuits/task_eval_reference.py, numpy): per-role accuracy and loss, answer accuracy, the
// Markov strategies' KL and the attention hit rates, on a random model and rows of headlab-data's
// markov and parity_cot tasks; and the errors for what a dataset lacks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "circuits/task_eval.h"
#include "core/errors.h"
#include "core/h5_file.h"
#include "data/tasks.h"
#include "model/backend.h"
#include "model/hooks.h"
#include "tests/circuits/circuits_test_util.h"
#include "tests/command_runner.h"
#include "tests/python_reference.h"
#include "tests/temp_dir.h"

using namespace headlab;

namespace {

TaskDataset task(const std::string& name, int64_t n, int64_t length) {
  TaskOptions o;
  o.name = name;
  o.n = n;
  o.seed = 5;
  o.length = length;
  return make_task(o, *default_task_tokenizer(o));
}

// The model's logits and every layer's pattern on the rows' first seq_len - 1 tokens, for the reference.
void write_model_outputs(Transformer& model, const TokenDataset& ds, const std::string& path) {
  const int n = int(ds.n_seq), S = int(ds.seq_len), T = S - 1;
  const ModelConfig& c = model.config();
  std::vector<int32_t> tokens;
  for (int r = 0; r < n; ++r) tokens.insert(tokens.end(), ds.tokens.begin() + r * S, ds.tokens.begin() + r * S + T);
  std::vector<HookPoint> points;
  for (int l = 0; l < c.n_layers; ++l) points.push_back({l, HookSite::attn_pattern});
  const ActivationCache cache = run_with_cache(model, tokens.data(), n, T, points);
  const std::vector<float> logits = model.logits_to_host();
  std::vector<float> patterns;
  for (int l = 0; l < c.n_layers; ++l) {
    const HostTensor& p = cache.at(HookPoint{l, HookSite::attn_pattern});
    patterns.insert(patterns.end(), p.data.begin(), p.data.end());
  }
  h5::AtomicFile out(path);
  out.file().write<float>("logits", logits.data(), {n, T, c.d_vocab});
  out.file().write<float>("patterns", patterns.data(), {c.n_layers, n, c.n_heads, T, T});
  out.commit();
}

nlohmann::json reference(const TaskDataset& t, Transformer& model, const std::string& rolesets,
                         const headlab::testing::TempDir& dir, const std::string& tag) {
  const std::string data = dir.path(tag + "_data.h5"), outputs = dir.path(tag + "_model.h5"),
                    json = dir.path(tag + ".json"), log = dir.path(tag + ".log");
  write_annotated_dataset(data, t.data, t.annotations);
  write_model_outputs(model, t.data, outputs);
  const std::string cmd = std::string(headlab::testing::kReferencePython) + " " + HEADLAB_SOURCE_DIR +
                          "/tests/circuits/task_eval_reference.py " + data + " " + outputs + " '" + rolesets + "' " +
                          json + " > " + log + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << headlab::testing::read_file_text(log);
  std::ifstream in(json);
  return nlohmann::json::parse(in);
}

void expect_close(double ours, const nlohmann::json& ref, const std::string& what) {
  ASSERT_FALSE(ref.is_null()) << what;
  EXPECT_NEAR(ours, ref.get<double>(), 1e-5 * (1 + std::fabs(ref.get<double>()))) << what;
}

}  // namespace

TEST(TaskEvalTest, MarkovRolesAndStrategiesMatchTheReference) {
  if (!headlab::testing::python_reference_missing().empty())
    GTEST_SKIP() << headlab::testing::python_reference_missing();
  headlab::testing::TempDir dir;
  const TaskDataset t = task("markov", 6, 11);  // rows of 12 tokens: 11 positions run
  const std::unique_ptr<Backend> be = make_cpu_backend();
  const std::unique_ptr<Transformer> model =
      headlab::testing::random_model(headlab::testing::small_config(), *be, 3, 2.0f);
  TaskEvalOptions o;
  o.batch_size = 4;  // two batches, the second short
  o.roles = {"state", "state+END"};
  o.strategies = true;
  const TaskEvalResult r = evaluate_task(*model, t.data, t.annotations, o, "test");
  const nlohmann::json ref = reference(t, *model, "state,state+END", dir, "markov");
  expect_close(r.loss, ref["loss"], "loss");
  expect_close(r.answer_accuracy, ref["answer_accuracy"], "answer accuracy");
  ASSERT_EQ(r.roles.size(), 2u);
  for (const RoleScore& s : r.roles) {
    EXPECT_EQ(s.positions, ref["roles"][s.name]["positions"].get<int64_t>()) << s.name;
    expect_close(s.accuracy, ref["roles"][s.name]["accuracy"], s.name + " accuracy");
    expect_close(s.loss, ref["roles"][s.name]["loss"], s.name + " loss");
  }
  EXPECT_EQ(r.roles[1].positions, 6 * 10) << "state+END: every position run (11) but BOS";
  ASSERT_EQ(r.strategy_kl.size(), 4u);
  EXPECT_EQ(r.strategy_positions, ref["strategies"]["positions"].get<int64_t>());
  for (size_t k = 0; k < 4; ++k) expect_close(r.strategy_kl[k], ref["strategies"]["kl"][k], r.strategy_names[k]);
  // A random model is far from every strategy: the KLs are not all zero.
  EXPECT_GT(r.strategy_kl[2], 1e-3);
}

TEST(TaskEvalTest, AttentionHitRatesMatchTheReference) {
  if (!headlab::testing::python_reference_missing().empty())
    GTEST_SKIP() << headlab::testing::python_reference_missing();
  headlab::testing::TempDir dir;
  const TaskDataset t = task("parity_cot", 7, 5);  // rows of 12 tokens
  const std::unique_ptr<Backend> be = make_cpu_backend();
  const std::unique_ptr<Transformer> model = headlab::testing::random_model(headlab::testing::small_config(), *be, 4);
  TaskEvalOptions o;
  o.batch_size = 3;
  o.roles = {"cot+END", "input"};
  o.attention_label = "attend_target";
  const TaskEvalResult r = evaluate_task(*model, t.data, t.annotations, o, "test");
  const nlohmann::json ref = reference(t, *model, "cot+END,input", dir, "parity");
  expect_close(r.loss, ref["loss"], "loss");
  for (const RoleScore& s : r.roles) expect_close(s.accuracy, ref["roles"][s.name]["accuracy"], s.name);
  EXPECT_EQ(r.attention_positions, 7 * 5);
  EXPECT_EQ(r.attention_positions, ref["attention"]["positions"].get<int64_t>());
  double spread = 0;
  for (int l = 0; l < r.n_layers; ++l)
    for (int h = 0; h < r.n_heads; ++h) {
      const size_t i = size_t(l * r.n_heads + h);
      expect_close(r.hit_rate[i], ref["attention"]["hit_rate"][l][h], "hit rate");
      expect_close(r.target_weight[i], ref["attention"]["target_weight"][l][h], "target weight");
      spread += std::fabs(r.hit_rate[i] - r.hit_rate[0]);
    }
  EXPECT_GT(spread, 0) << "heads differ";
}

TEST(TaskEvalTest, WhatTheDatasetLacksIsAnInputError) {
  const std::unique_ptr<Backend> be = make_cpu_backend();
  const std::unique_ptr<Transformer> model = headlab::testing::random_model(headlab::testing::small_config(), *be, 3);
  const TaskDataset parity = task("parity", 3, 4);
  TaskEvalOptions o;
  o.roles = {"nosuch"};
  EXPECT_THROW(evaluate_task(*model, parity.data, parity.annotations, o, "t"), InputError);
  o.roles = {"input+nosuch"};
  EXPECT_THROW(evaluate_task(*model, parity.data, parity.annotations, o, "t"), InputError);
  o.roles = {};
  o.strategies = true;
  EXPECT_THROW(evaluate_task(*model, parity.data, parity.annotations, o, "t"), InputError);
  o.strategies = false;
  o.attention_label = "attend_target";
  EXPECT_THROW(evaluate_task(*model, parity.data, parity.annotations, o, "t"), InputError);
  // Rows longer than the model's context.
  const TaskDataset long_rows = task("parity", 3, 20);
  o.attention_label.clear();
  EXPECT_THROW(evaluate_task(*model, long_rows.data, long_rows.annotations, o, "t"), InputError);
}
