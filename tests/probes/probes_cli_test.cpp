// headlab-probes linear through its command line: a label planted in one head is found there, the
// outputs are complete and their directions drive headlab-circuits steer; bad inputs get one line,
// exit 2 and no output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "../command_runner.h"
#include "../model/model_test_util.h"
#include "../temp_dir.h"
#include "core/h5_file.h"
#include "core/sanitizers.h"
#include "data/token_dataset.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "probes/activation_store.h"

namespace headlab {
namespace {

namespace fs = std::filesystem;
using testing::run_command_line;
using testing::TempDir;

const std::string kProbes = HEADLAB_BINARY_DIR "/bin/headlab-probes";

std::string tool(const std::string& name, const std::string& old_folder) {
  for (const std::string& p :
       {std::string(HEADLAB_BINARY_DIR "/bin/") + name, std::string(HEADLAB_BINARY_DIR "/") + old_folder + "/" + name})
    if (fs::exists(p)) return p;
  return "";
}

// hook_z of 2 layers x 3 heads x 4 floats; label "planted" is the sign of a direction in L1H2's
// slice, "one_class" is 1 everywhere; documents of 20 tokens.
void write_head_store(const std::string& path, int64_t n, int64_t doc_len) {
  StoreSpec spec;
  spec.hooks = {{"blocks.0.attn.hook_z", {3, 4}}, {"blocks.1.attn.hook_z", {3, 4}}};
  spec.labels = {"one_class", "planted"};
  spec.n_tokens = n;
  ModelConfig c = testing::tiny_config();
  spec.provenance.config = c;  // 2 layers, 3 heads of 4
  ActivationStoreWriter w(path, spec);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g;
  std::vector<float> z0(size_t(n * 12)), z1(size_t(n * 12));
  for (float& v : z0) v = g(rng);
  for (float& v : z1) v = g(rng);
  std::vector<int32_t> tokens(static_cast<size_t>(n)), positions(static_cast<size_t>(n)),
      planted(static_cast<size_t>(n)), one(static_cast<size_t>(n), 1);
  std::vector<int64_t> rows(static_cast<size_t>(n)), docs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* h = z1.data() + i * 12 + 2 * 4;
    planted[size_t(i)] = h[0] - 0.5f * h[3] > 0.1f;
    tokens[size_t(i)] = int32_t(rng() % 300);
    positions[size_t(i)] = int32_t(i % doc_len);
    rows[size_t(i)] = docs[size_t(i)] = i / doc_len;
  }
  w.append(n, {z0.data(), z1.data()},
           {tokens.data(), positions.data(), rows.data(), docs.data(), {one.data(), planted.data()}});
  w.commit();
}

void expect_refused(const testing::CommandResult& r, const std::string& needle, const std::string& out) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err_lines(), 1) << r.err;
  EXPECT_EQ(r.err.rfind("headlab-probes: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out)) << out;
  for (const auto& e : fs::directory_iterator(fs::path(out).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(fs::path(out).filename().string() + "."), std::string::npos)
        << "left behind: " << e.path();
}

TEST(ProbesCliTest, PerHeadProbeFindsThePlantedHead) {
  TempDir dir;
  if (!fs::exists(kProbes)) GTEST_SKIP() << "headlab-probes was not built";
  write_head_store(dir.path("s.h5"), 2000, 20);
  const std::string out = dir.path("out");
  const testing::CommandResult r = run_command_line(kProbes + " linear --store " + dir.path("s.h5") +
                                                    " --label planted --per-head --threads 2 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("blocks.1.attn.hook_z"), std::string::npos) << r.out;
  const h5::File f = h5::File::open(out + "/probes.h5");
  EXPECT_EQ(f.attr_string("format"), "headlab.probe");
  const std::vector<double> acc = f.read<double>("table/test_score"), sel = f.read<double>("table/selectivity");
  const std::vector<int32_t> layer = f.read<int32_t>("table/layer"), head = f.read<int32_t>("table/head");
  ASSERT_EQ(acc.size(), 6u);
  for (size_t i = 0; i < acc.size(); ++i) {
    if (layer[i] == 1 && head[i] == 2) {
      EXPECT_GT(acc[i], 0.97) << i;
      EXPECT_GT(sel[i], 0.3) << i;
    } else {
      EXPECT_LT(acc[i], 0.75) << layer[i] << " " << head[i];
    }
  }
  EXPECT_EQ(f.read<float>("probes/blocks.1.attn.hook_z/H2/direction").size(), 4u);
  EXPECT_TRUE(fs::exists(out + "/probes.txt"));
  EXPECT_TRUE(fs::exists(out + "/heads.svg"));
  // probes.json: the same table, for programs.
  std::ifstream json_in(out + "/probes.json");
  const nlohmann::json j = nlohmann::json::parse(json_in);
  EXPECT_EQ(j["format"], "headlab.probe_table");
  EXPECT_EQ(j["label"], "planted");
  ASSERT_EQ(j["probes"].size(), acc.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    EXPECT_EQ(j["probes"][i]["layer"].get<int>(), layer[i]);
    EXPECT_EQ(j["probes"][i]["head"].get<int>(), head[i]);
    EXPECT_DOUBLE_EQ(j["probes"][i]["test_score"].get<double>(), acc[i]);
    EXPECT_DOUBLE_EQ(j["probes"][i]["selectivity"].get<double>(), sel[i]);
  }
  const h5::File d = h5::File::open(out + "/directions/blocks.1.attn.hook_z.H2.h5");
  EXPECT_EQ(d.attr_string("format"), "headlab.steering");
  const std::vector<float> dir_full = d.read<float>("direction");
  ASSERT_EQ(dir_full.size(), 12u);  // the whole point's width, zero outside head 2
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(dir_full[i], 0.0f);
  EXPECT_GT(dir_full[8], 0.5f);  // the planted direction (1, 0, 0, -0.5) normalised
  EXPECT_LT(dir_full[11], -0.2f);
}

// The probe's direction is what headlab-circuits steer --direction reads.
TEST(ProbesCliTest, DirectionsDriveCircuitsSteer) {
  TempDir dir;
  const std::string circuits = tool("headlab-circuits", "circuits");
  if (!fs::exists(kProbes) || circuits.empty()) GTEST_SKIP() << "headlab-probes or headlab-circuits was not built";
  ModelConfig c = testing::tiny_config();
  auto be = make_cpu_backend(1);
  Transformer m(c, *be);
  m.init_gpt2(5);
  write_checkpoint(dir.path("m.h5"), Checkpoint{c, m.params_to_host(), std::nullopt, ""});
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = c.d_vocab;
  ds.n_seq = 60;
  ds.seq_len = 6;
  ds.tokens = testing::random_tokens(360, c.d_vocab, 8);
  ds.answer = testing::random_tokens(60, c.d_vocab, 9);
  ds.wrong_answer = testing::random_tokens(60, c.d_vocab, 10);
  ds.labels["even"] = std::vector<int32_t>(360);
  for (size_t i = 0; i < 360; ++i) ds.labels["even"][i] = ds.tokens[i] % 2;
  write_token_dataset(dir.path("task.h5"), ds);
  ASSERT_EQ(run_command_line(kProbes + " extract --checkpoint " + dir.path("m.h5") + " --data " + dir.path("task.h5") +
                             " --hooks blocks.1.attn.hook_z --out " + dir.path("s.h5") + " --threads 1")
                .exit_code,
            0);
  const testing::CommandResult lin =
      run_command_line(kProbes + " linear --store " + dir.path("s.h5") +
                       " --label even --heads L1H0 --no-control --out " + dir.path("p") + " --threads 1");
  ASSERT_EQ(lin.exit_code, 0) << lin.err;
  const testing::CommandResult steer = run_command_line(
      circuits + " steer --checkpoint " + dir.path("m.h5") + " --data " + dir.path("task.h5") +
      " --hook blocks.1.attn.hook_z --direction " + dir.path("p/directions/blocks.1.attn.hook_z.H0.h5") +
      " --coefficients -1,1 --samples 0 --out " + dir.path("steer") + " --threads 1");
  EXPECT_EQ(steer.exit_code, 0) << steer.err;
}

// ITI end to end: statements -> per-head probes -> intervene. The metric at alpha is recomputed here
// with a hook of the test's own: z_h += alpha * sigma_h * theta_h for the two best heads by
// validation accuracy, at every position, and the logit difference at the answer position.
TEST(ProbesCliTest, InterveneShiftsTheTopHeadsAlongTheirDirections) {
  TempDir dir;
  if (!fs::exists(kProbes)) GTEST_SKIP() << "headlab-probes was not built";
  ModelConfig c = testing::tiny_config();
  auto be = make_cpu_backend(1);
  Transformer m(c, *be);
  m.init_gpt2(6);
  write_checkpoint(dir.path("m.h5"), Checkpoint{c, m.params_to_host(), std::nullopt, ""});
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = c.d_vocab;
  ds.n_seq = 80;
  ds.seq_len = 5;
  ds.tokens = testing::random_tokens(400, c.d_vocab, 18);
  ds.answer = testing::random_tokens(80, c.d_vocab, 19);
  ds.wrong_answer = testing::random_tokens(80, c.d_vocab, 20);
  write_token_dataset(dir.path("facts.h5"), ds);
  const std::string store = dir.path("truth.h5"), probes = dir.path("p");
  ASSERT_EQ(run_command_line(kProbes + " extract --checkpoint " + dir.path("m.h5") + " --data " + dir.path("facts.h5") +
                             " --positions statements --hooks blocks.0.attn.hook_z,blocks.1.attn.hook_z --out " +
                             store + " --threads 1")
                .exit_code,
            0);
  const testing::CommandResult lin = run_command_line(
      kProbes + " linear --store " + store + " --label truth --per-head --no-control --threads 1 --out " + probes);
  ASSERT_EQ(lin.exit_code, 0) << lin.err;
  const testing::CommandResult r = run_command_line(
      kProbes + " intervene --checkpoint " + dir.path("m.h5") + " --data " + dir.path("facts.h5") + " --probes " +
      probes + "/probes.h5 --top-k 2 --alphas 0,200 --threads 1 --out " + dir.path("iti"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.path("iti.svg")));
  const h5::File out = h5::File::open(dir.path("iti.h5"));
  EXPECT_EQ(out.attr_string("format"), "headlab.intervention");
  const std::vector<double> metric = out.read<double>("metric");
  const std::vector<int32_t> heads = out.read<int32_t>("heads");
  ASSERT_EQ(metric.size(), 2u);
  ASSERT_EQ(heads.size(), 4u);

  // The two best heads by validation accuracy, from the probes file.
  const h5::File pf = h5::File::open(probes + "/probes.h5");
  const std::vector<double> val = pf.read<double>("table/validation_score");
  const std::vector<int32_t> layer = pf.read<int32_t>("table/layer"), head = pf.read<int32_t>("table/head");
  std::vector<size_t> order(val.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return val[a] > val[b]; });
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(heads[size_t(2 * k)], layer[order[size_t(k)]]);
    EXPECT_EQ(heads[size_t(2 * k + 1)], head[order[size_t(k)]]);
  }
  auto mean_logit_diff = [&](float alpha) {
    HookSet hooks;
    for (int k = 0; k < 2; ++k) {
      const int l = layer[order[size_t(k)]], h = head[order[size_t(k)]];
      const std::string g = "probes/blocks." + std::to_string(l) + ".attn.hook_z/H" + std::to_string(h);
      const std::vector<float> theta = pf.read<float>(g + "/direction");
      const double sigma = pf.group(g).attr_float("projection_std");
      hooks.add_forward({l, HookSite::attn_z}, [=](HookPoint, ActivationView& v, Backend&) {
        const int64_t rows = v.numel() / (c.n_heads * c.d_head);  // [batch * pos], heads, d_head
        for (int64_t r = 0; r < rows; ++r)
          for (int j = 0; j < c.d_head; ++j)
            v.data[(r * c.n_heads + h) * c.d_head + j] += float(alpha * sigma * theta[size_t(j)]);
      });
    }
    m.forward(ds.tokens.data(), 80, 5, &hooks);
    const std::vector<float> logits = m.logits_to_host();
    double sum = 0;
    for (int r = 0; r < 80; ++r) {
      const float* last = logits.data() + (int64_t(r) * 5 + 4) * c.d_vocab;
      sum += double(last[ds.answer[size_t(r)]]) - last[ds.wrong_answer[size_t(r)]];
    }
    return sum / 80;
  };
  // A random model at init has small head outputs and a small unembedding: the effect is small, the
  // agreement tight.
  EXPECT_NEAR(metric[0], mean_logit_diff(0), 2e-6);
  EXPECT_NEAR(metric[1], mean_logit_diff(200), 2e-6);
  EXPECT_GT(std::abs(metric[1] - metric[0]), 5e-5);
}

TEST(ProbesCliTest, BadInputsOneLineExit2NoOutput) {
  TempDir dir;
  if (!fs::exists(kProbes)) GTEST_SKIP() << "headlab-probes was not built";
  write_head_store(dir.path("s.h5"), 400, 20);
  write_head_store(dir.path("two_docs.h5"), 40, 20);
  write_head_store(dir.path("short_label.h5"), 400, 20);
  {
    h5::File f = h5::File::open(dir.path("short_label.h5"), h5::Access::read_write);
    std::vector<int32_t> l(399, 1);
    f.write<int32_t>("labels/planted", l);
  }
  const std::string out = dir.path("out");
  const std::string base = kProbes + " linear --threads 1 --out " + out + " --store ";
  expect_refused(run_command_line(base + dir.path("s.h5") + " --label planted --hooks blocks.0.hook_resid_pre"),
                 "has no activations at this hook", out);
  expect_refused(run_command_line(base + dir.path("s.h5") + " --label pos_tag"), "no such label", out);
  expect_refused(run_command_line(base + dir.path("short_label.h5") + " --label planted"), "one label per token", out);
  expect_refused(run_command_line(base + dir.path("s.h5") + " --label one_class"), "one class", out);
  expect_refused(run_command_line(base + dir.path("two_docs.h5") + " --label planted"), "empty", out);
  expect_refused(run_command_line(base + dir.path("s.h5") + " --label planted --heads L1H3"), "out of range", out);
  expect_refused(run_command_line(base + dir.path("s.h5") + " --label planted --heads L7H0"), "layer 7", out);
  expect_refused(run_command_line(base + dir.path("s.h5") + " --label planted --split 0.5,0.5"), "--split", out);
  expect_refused(run_command_line(base + dir.path("missing.h5") + " --label planted"), "--store", out);
}

// A store four times larger than the memory the job is given: --solver auto picks the minibatch
// solver by itself, the job holds less than that memory (above the idle program) and still finds the
// planted label.
TEST(ProbesCliTest, MinibatchProbesAStoreLargerThanItsMemoryLimit) {
  TempDir dir;
  if (!fs::exists(kProbes)) GTEST_SKIP() << "headlab-probes was not built";
  const int64_t n = 65536, d = 256, part = 4096;  // 64 MiB of float32 activations
  StoreSpec spec;
  spec.hooks = {{"blocks.0.hook_resid_post", {d}}};
  spec.labels = {"planted"};
  spec.n_tokens = n;
  {
    ActivationStoreWriter w(dir.path("big.h5"), spec);
    std::mt19937_64 rng(5);
    std::normal_distribution<float> g;
    std::vector<float> a(static_cast<size_t>(d)), X(static_cast<size_t>(part * d));
    for (float& v : a) v = g(rng);
    std::vector<int32_t> tokens(static_cast<size_t>(part)), positions(static_cast<size_t>(part)),
        planted(static_cast<size_t>(part));
    std::vector<int64_t> rows(static_cast<size_t>(part)), docs(static_cast<size_t>(part));
    for (int64_t first = 0; first < n; first += part) {
      for (int64_t i = 0; i < part; ++i) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += a[size_t(j)] * (X[size_t(i * d + j)] = g(rng));
        planted[size_t(i)] = s + 2.0 * g(rng) > 0;  // noise: about 0.9 is the best accuracy
        tokens[size_t(i)] = int32_t(rng() % 1000);
        positions[size_t(i)] = int32_t((first + i) % 64);
        rows[size_t(i)] = docs[size_t(i)] = (first + i) / 64;
      }
      w.append(part, {X.data()}, {tokens.data(), positions.data(), rows.data(), docs.data(), {planted.data()}});
    }
    w.commit();
  }
  ASSERT_GT(int64_t(fs::file_size(dir.path("big.h5"))), int64_t(4) * (16 << 20));
  const testing::CommandResult idle = run_command_line("OMP_NUM_THREADS=1 " + kProbes + " linear --help");
  ASSERT_EQ(idle.exit_code, 0) << idle.err;
  const std::string out = dir.path("out");
  const testing::CommandResult r =
      run_command_line("OMP_NUM_THREADS=1 " + kProbes + " linear --store " + dir.path("big.h5") +
                       " --label planted --max-memory 16 --l2 1e-2,1e-3 --threads 1 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::printf("%s%s", r.err.c_str(), r.out.c_str());
  EXPECT_NE(r.err.find("solver minibatch"), std::string::npos) << r.err;
  const long above_idle_kib = r.peak_rss_kib - idle.peak_rss_kib;
  std::printf("peak resident memory %ld MiB above the idle program's (limit 16 MiB)\n", above_idle_kib >> 10);
  if (!headlab::kUnderShadowSanitizer) {
    EXPECT_LT(above_idle_kib, 16L << 10);
  }
  std::ifstream json_in(out + "/probes.json");
  const nlohmann::json j = nlohmann::json::parse(json_in);
  EXPECT_EQ(j["solver"], "minibatch");
  ASSERT_EQ(j["probes"].size(), 1u);
  EXPECT_GT(j["probes"][0]["test_score"].get<double>(), 0.85);
  EXPECT_GT(j["probes"][0]["selectivity"].get<double>(), 0.3);
  EXPECT_EQ(h5::File::open(out + "/probes.h5").attr_string("solver"), "minibatch");
}

TEST(ProbesCliTest, SolverOptionsBadInputOneLineExit2NoOutput) {
  TempDir dir;
  if (!fs::exists(kProbes)) GTEST_SKIP() << "headlab-probes was not built";
  write_head_store(dir.path("s.h5"), 400, 20);
  const std::string out = dir.path("out");
  const std::string base =
      kProbes + " linear --threads 1 --label planted --out " + out + " --store " + dir.path("s.h5");
  expect_refused(run_command_line(base + " --solver newton"), "--solver newton", out);
  expect_refused(run_command_line(base + " --solver minibatch --batch-size 0"), "--batch-size", out);
  expect_refused(run_command_line(base + " --solver minibatch --lr -1"), "--lr", out);
  expect_refused(run_command_line(base + " --solver minibatch --epochs 0"), "--epochs", out);
  expect_refused(run_command_line(base + " --solver minibatch --patience 0"), "--patience", out);
  expect_refused(run_command_line(base + " --max-memory -5"), "--max-memory", out);
  expect_refused(run_command_line(base + " --max-memory lots"), "--max-memory", out);
  // 400 tokens x 24 floats need 113 KiB in full batch: more than 0.1 MiB is not expressible, so a
  // store of 40,000 tokens against 1 MiB.
  write_head_store(dir.path("bigger.h5"), 40000, 20);
  expect_refused(run_command_line(kProbes + " linear --threads 1 --label planted --out " + out + " --store " +
                                  dir.path("bigger.h5") + " --solver lbfgs --max-memory 1"),
                 "use --solver minibatch", out);
}

}  // namespace
}  // namespace headlab
