// The IOI check of the circuit search, end to end on a model trained in the test: headlab-data and
// headlab-train as scripts/ioi_circuit.sh runs them (IOI rows mixed half and half with induction rows
// over IOI's word vocabulary), then EAP-IG's 5% circuit, ACDC's kept edges and the circuit's heads
// sorted into IOI classes, through the library.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "circuits/acdc.h"
#include "circuits/circuit_eval.h"
#include "circuits/edge_attribution.h"
#include "circuits/ioi_classes.h"
#include "data/dataset_annotations.h"
#include "data/token_dataset.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"

namespace headlab {
namespace {

const std::string kBin = HEADLAB_BINARY_DIR "/bin/";

void run_ok(const std::string& command) {
  const testing::CommandResult r = testing::run_command_line(command);
  ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.err;
}

// The same scores moved to other edges at random (a fixed permutation): what a broken EAP-IG would
// rank like.
EdgeMatrix shuffled(const EdgeGraph& g, const EdgeMatrix& scores, uint64_t seed) {
  std::vector<size_t> cells;
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(s, d)) cells.push_back(size_t(g.cell(s, d)));
  std::vector<float> values;
  for (size_t c : cells) values.push_back(scores[c]);
  std::mt19937_64 rng(seed);
  std::shuffle(values.begin(), values.end(), rng);
  EdgeMatrix out = scores;
  for (size_t i = 0; i < cells.size(); ++i) out[cells[i]] = values[i];
  return out;
}

TEST(CircuitsIoiTest, EapIgFindsAFaithfulCircuitInFivePercentOfTheEdgesThatAcdcAgreesWith) {
  testing::TempDir dir;
  const std::string d = dir.path("");
  run_ok(kBin + "headlab-data task ioi --n 20000 --seed 1 --out " + d + "ioi_train.h5 --save-tokenizer " + d +
         "ioi_tokenizer.json");
  run_ok(kBin + "headlab-data task induction --tokenizer " + d +
         "ioi_tokenizer.json --length 9 --n 20000 --seed 3 --out " + d + "ind_train.h5");
  run_ok(kBin + "headlab-data mix --source " + d + "ioi_train.h5:0.5 --source " + d +
         "ind_train.h5:0.5 --n 40000 --seq-len 20 --seed 4 --out " + d + "mix_train.h5");
  run_ok(kBin + "headlab-data task ioi --n 64 --seed 2 --out " + d + "ioi_eval.h5");
  run_ok(kBin + "headlab-train --data " + d + "mix_train.h5 --out " + d +
         "run --model.n_layers 4 --model.d_model 64 --model.n_heads 8 --model.d_head 8 --model.d_mlp 256 "
         "--steps 3000 --batch-size 32 --lr 3e-3 --log-every 1000 --threads 1");
  if (HasFatalFailure()) return;

  auto be = make_cpu_backend(1);
  const Checkpoint ck = read_checkpoint(d + "run/final.h5");
  Transformer model(ck.config, *be);
  model.params_from_host(ck.params);
  const TokenDataset eval = read_token_dataset(d + "ioi_eval.h5");
  const TaskData task = task_data_from(eval, "ioi_eval.h5", MetricKind::logit_diff, PairsNeeded::yes);

  EdgeAttributionOptions ig;
  ig.method = EdgeMethod::ig_inputs;
  ig.ig_steps = 5;
  ig.batch_size = 64;
  const EdgeScores s = attribute_edges(model, task, ig);
  const EdgeGraph& g = s.graph;
  // The model does the task: the answer beats the subject by a wide margin, and ABC corrupts it.
  EXPECT_GT(s.clean_metric, 5.0);
  EXPECT_LT(std::fabs(s.corrupted_metric), 0.25 * s.clean_metric);

  const int64_t n = int64_t(0.05 * double(g.n_edges()));
  auto circuit_of = [&](const EdgeMatrix& scores) {
    return prune_to_paths(g, top_edges(g, scores, n, Ranking::signed_score));
  };
  const EdgeMatrix keep = circuit_of(s.scores);
  const double f = faithfulness(masked_metric(model, task, keep, MetricKind::logit_diff, 64));
  std::printf("EAP-IG: clean %.3f, corrupted %.3f; 5%% circuit: %lld of %lld edges, faithfulness %.4f\n",
              s.clean_metric, s.corrupted_metric, (long long)count_edges(g, keep), (long long)g.n_edges(), f);
  EXPECT_LE(count_edges(g, keep), n);
  EXPECT_GE(f, 0.8);

  AcdcOptions ao;
  ao.threshold = 0.02;
  const AcdcResult acdc = run_acdc(model, task, ao);
  const int64_t kept = count_edges(g, acdc.keep);
  const double auc = edge_roc_auc(g, s.scores, acdc.keep, Ranking::absolute);
  std::printf("ACDC (KL, tau 0.02): %lld edges kept (%lld forwards); EAP-IG |score| ROC AUC %.4f\n", (long long)kept,
              (long long)acdc.forwards, auc);
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, g.n_edges() / 4);
  EXPECT_GT(auc, 0.8);

  // The bars are not met by chance: the same scores on shuffled edges fail both.
  const EdgeMatrix noise = shuffled(g, s.scores, 11);
  const double f_noise = faithfulness(masked_metric(model, task, circuit_of(noise), MetricKind::logit_diff, 64));
  const double auc_noise = edge_roc_auc(g, noise, acdc.keep, Ranking::absolute);
  std::printf("shuffled scores: faithfulness %.4f, ROC AUC %.4f\n", f_noise, auc_noise);
  EXPECT_LT(f_noise, 0.5);
  EXPECT_LT(auc_noise, 0.7);

  // The circuit's heads in IOI classes: the heads whose direct path carries the task are named.
  const IoiPositions pos = ioi_positions(eval, read_dataset_annotations(d + "ioi_eval.h5"), "ioi_eval.h5", task.n);
  const std::vector<HeadRef> heads = circuit_heads(g, keep);
  ASSERT_FALSE(heads.empty());
  IoiClassOptions io;
  io.batch_size = 64;
  const IoiClasses classes = classify_ioi_heads(model, task, pos, heads, io);
  int named = 0;
  for (const IoiHead& h : classes.heads) {
    std::printf("  %s\n", describe(h).c_str());
    named += h.ioi_class != "other";
  }
  EXPECT_GE(named, 1);
}

}  // namespace
}  // namespace headlab
