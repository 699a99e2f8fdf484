// headlab's task methods against an independent float64 PyTorch reference of their published
// definitions (tests/circuits/circuits_reference.py, "methods"):
//  - activation patching, denoising and noising, every sweep (resid_pre / resid_mid / resid_post /
//    attn_out / mlp_out by position; z / q / k / v / pattern by head; the same by head and
//    position), normalised (patched - corrupted) / (clean - corrupted);
//  - path patching (Wang et al. 2022, ARENA) from single heads and sets of heads to the logits and
//    to receivers' q, k and v inputs, as effect (patched - clean) / (clean - corrupted);
//  - zero, mean (per position, over reference rows) and resample ablation of each head, each
//    layer's attention and each MLP: metric and next-token loss;
//  - steering (ActAdd): the mean-difference direction at a hook point, and the metric and loss with
//    coefficient * direction added at every position;
// each under the three metrics: logit difference, the answer's probability, KL(clean || run) at the
// answer position. Random models: LN / RMS / no norm, standard / rotary, with and without MLPs,
// tied embeddings. Skips, saying why, where python3 with torch, h5py and numpy is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "circuits/ablation.h"
#include "circuits/patching.h"
#include "circuits/path_patching.h"
#include "circuits/steering.h"
#include "core/h5_file.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/params.h"
#include "model/transformer.h"
#include "tests/circuits/circuits_test_util.h"
#include "tests/circuits/reference_models.h"
#include "tests/command_runner.h"
#include "tests/python_reference.h"

namespace headlab {
namespace {

const MetricKind kMetrics[] = {MetricKind::logit_diff, MetricKind::prob, MetricKind::kl};
const AblationKind kAblations[] = {AblationKind::zero, AblationKind::mean, AblationKind::resample};

// The task: 6 rows of 8 tokens (a training row: the last token follows every answer position),
// answers at positions 6, 5, 4, 6 ... (so rows are cut to 7 tokens, and later positions than a
// row's answer occur), every second position corrupted, a loss mask that drops two predictions.
// As in IOI, the answer is the clean run's top token and the wrong answer the corrupted run's, so
// the clean and corrupted metrics lie far apart and normalised results are well conditioned.
TokenDataset task_rows(Transformer& model, uint64_t seed) {
  const int V = model.config().d_vocab;
  TokenDataset ds = testing::synthetic_task(6, 8, V, seed);
  std::mt19937_64 rng(seed + 1);
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    ds.answer_pos[size_t(r)] = int32_t(6 - r % 3);
    for (int64_t p = 0; p < ds.seq_len; p += 2) {
      int32_t& t = ds.corrupted[size_t(r * ds.seq_len + p)];
      t = int32_t((t + 1 + rng() % uint64_t(V - 1)) % uint64_t(V));
    }
  }
  auto top = [&](const std::vector<int32_t>& rows, int64_t r, int32_t except) {
    model.forward(rows.data() + r * ds.seq_len, 1, int(ds.seq_len));
    const std::vector<float> logits = model.logits_to_host();  // [1, S, V]
    const float* row = logits.data() + int64_t(ds.answer_pos[size_t(r)]) * V;
    int32_t best = except == 0 ? 1 : 0;
    for (int32_t v = 0; v < V; ++v)
      if (v != except && row[v] > row[best]) best = v;
    return best;
  };
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    ds.answer[size_t(r)] = top(ds.tokens, r, -1);
    ds.wrong_answer[size_t(r)] = top(ds.corrupted, r, ds.answer[size_t(r)]);
  }
  ds.loss_mask.assign(ds.tokens.size(), 1);
  ds.loss_mask[3] = ds.loss_mask[8 + 7] = 0;
  return ds;
}

// Steering prompts: the task file's rows with answers at various positions, and their corrupted twins.
void steering_prompts(int vocab, uint64_t seed, TokenDataset& positive, TokenDataset& negative) {
  positive = testing::synthetic_task(5, 7, vocab, seed);
  for (size_t r = 0; r < positive.answer_pos.size(); ++r) positive.answer_pos[r] = int32_t(3 + r % 4);
  negative = positive;
  negative.tokens = positive.corrupted;
  for (size_t r = 0; r < negative.answer_pos.size(); ++r) negative.answer_pos[r] = int32_t(6 - r % 3);
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string s;
  for (const std::string& x : items) s += (s.empty() ? "" : sep) + x;
  return s;
}

struct SteerCase {
  std::string hook;
  DirectionPositions positions;
};

std::vector<SteerCase> steer_cases(const ModelConfig& c) {
  std::vector<SteerCase> s = {{"blocks.1.hook_resid_pre", DirectionPositions::all},
                              {"blocks.0.attn.hook_z", DirectionPositions::last}};
  s.push_back({c.attn_only ? "blocks.0.hook_attn_out" : "blocks.0.hook_mlp_out", DirectionPositions::all});
  return s;
}

// What the library computes for one variant, by metric.
struct Scores {
  std::map<MetricKind, PatchReport> patch;
  std::vector<std::string> targets, senders;
  std::map<MetricKind, std::vector<PathPatchReport>> path;  // one per target
  std::map<AblationKind, std::map<MetricKind, AblationReport>> ablation;
  std::vector<std::vector<float>> directions;                  // per steering case
  std::vector<std::map<MetricKind, SteeringReport>> steering;  // per steering case
  std::vector<float> coefficients = {-3.0f, 0.5f, 2.0f};
};

struct Prepared {
  testing::ReferenceVariant v;
  std::string ckpt, inputs, out;
  Scores s;
};

void write_rows(h5::Group& g, const std::string& name, const TokenDataset& ds) {
  g.write<int32_t>(name, ds.tokens.data(), {ds.n_seq, ds.seq_len});
  g.write<int32_t>(name + "_answer_pos", ds.answer_pos);
}

Prepared prepare(const testing::ReferenceVariant& v, const testing::TempDir& dir, uint64_t seed) {
  Prepared r;
  r.v = v;
  const ModelConfig& c = v.cfg;
  Checkpoint ck;
  ck.config = c;
  ck.params = testing::scaled_random_params(c, seed, 20.0f);
  auto be = make_cpu_backend(1);
  Transformer model(c, *be);
  model.params_from_host(ck.params);
  Scores& s = r.s;

  const TokenDataset rows = task_rows(model, seed + 3);
  const TaskData task = task_data_from(rows, "test task", MetricKind::logit_diff, PairsNeeded::yes);
  std::vector<std::string> sweep_names = {"resid_pre", "resid_post", "attn_out", "z",     "q",     "k",          "v",
                                          "pattern",   "z_pos",      "q_pos",    "k_pos", "v_pos", "pattern_pos"};
  if (!c.attn_only) sweep_names.insert(sweep_names.end(), {"resid_mid", "mlp_out"});
  const std::vector<PatchSweep> sweeps = parse_patch_sweeps(join(sweep_names, ","), c);

  const int L = c.n_layers;
  const std::string last = "L" + std::to_string(L - 1);
  s.targets = {"logits", last + "H0:q", last + "H1:kv,L" + std::to_string(L - 2) + "H2:v", "L1H0"};
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < c.n_heads; ++h) s.senders.push_back("L" + std::to_string(l) + "H" + std::to_string(h));
  s.senders.push_back("L0H0,L0H2");
  s.senders.push_back("L0H1," + last + "H2");
  std::vector<std::vector<HeadRef>> sender_sets;
  for (const std::string& text : s.senders) sender_sets.push_back(parse_head_list(text, c, "senders"));

  const TaskData reference = testing::task_of(testing::synthetic_task(4, task.T, c.d_vocab, seed + 5));
  const uint64_t resample_seed = seed + 9;
  // The rows resample ablation draws (ablation.h: reference rows drawn with the seed, one per task row).
  std::vector<int32_t> drawn;
  std::mt19937_64 rng(resample_seed);
  for (int64_t i = 0; i < task.n; ++i) drawn.push_back(int32_t(rng() % uint64_t(reference.n)));

  TokenDataset positive, negative;
  steering_prompts(c.d_vocab, seed + 7, positive, negative);
  const std::vector<SteerCase> cases = steer_cases(c);
  for (const SteerCase& sc : cases)
    s.directions.push_back(mean_difference_direction(model, parse_hook_name(sc.hook, c), positive, "positive", negative,
                                                     "negative", sc.positions, 2));

  for (MetricKind m : kMetrics) {
    PatchOptions po;
    po.metric = m;
    po.batch_size = 4;  // two batches: pooling across batches is part of what is tested
    po.directions = {PatchDirection::denoising, PatchDirection::noising};
    s.patch[m] = run_patching(model, task, sweeps, po);
    PathPatchOptions pp;
    pp.metric = m;
    pp.batch_size = 4;
    for (const std::string& t : s.targets)
      s.path[m].push_back(run_path_patching(model, task, sender_sets, parse_path_target(t, c, "target"), pp));
    for (AblationKind k : kAblations) {
      AblationOptions ao;
      ao.kind = k;
      ao.metric = m;
      ao.batch_size = 4;
      ao.reference = &reference;
      ao.seed = resample_seed;
      s.ablation[k][m] = run_ablation(model, task, ao);
    }
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    s.steering.emplace_back();
    for (MetricKind m : kMetrics)
      s.steering[i][m] =
          evaluate_steering(model, task, parse_hook_name(cases[i].hook, c), s.directions[i], s.coefficients, m, 4);
  }

  r.ckpt = dir.path(v.name + "_model.h5");
  r.inputs = dir.path(v.name + "_inputs.h5");
  r.out = dir.path(v.name + "_ref.h5");
  write_checkpoint(r.ckpt, ck);
  h5::AtomicFile f(r.inputs);
  h5::Group g = f.file().create_group("methods");
  h5::Group t = g.create_group("task");
  // The file's rows as they are (8 tokens) and their mask: the reference cuts them and forms the
  // next-token targets itself.
  t.write<int32_t>("rows", rows.tokens.data(), {rows.n_seq, rows.seq_len});
  t.write<int32_t>("corrupted_rows", rows.corrupted.data(), {rows.n_seq, rows.seq_len});
  t.write<uint8_t>("loss_mask", rows.loss_mask.data(), {rows.n_seq, rows.seq_len});
  t.write<int32_t>("answer", rows.answer);
  t.write<int32_t>("wrong_answer", rows.wrong_answer);
  t.write<int32_t>("answer_pos", rows.answer_pos);
  h5::Group p = g.create_group("path");
  p.set_attr("targets", join(s.targets, "|"));
  p.set_attr("senders", join(s.senders, "|"));
  h5::Group a = g.create_group("ablation");
  a.write<int32_t>("reference", reference.clean.data(), {reference.n, reference.T});
  a.write<int32_t>("resample_rows", drawn);
  h5::Group st = g.create_group("steer");
  for (size_t i = 0; i < cases.size(); ++i) {
    h5::Group one = st.create_group(std::to_string(i));
    one.set_attr("hook", cases[i].hook);
    one.set_attr("positions", cases[i].positions == DirectionPositions::all ? "all" : "last");
    write_rows(one, "positive", positive);
    write_rows(one, "negative", negative);
    one.write<float>("direction", s.directions[i]);
    one.write<float>("coefficients", s.coefficients);
  }
  f.commit();
  return r;
}

// Where headlab and the reference disagree most, relative to each comparison's tolerance: the
// margin every check kept, printed so that a tolerance can be judged.
double worst_ratio = 0;
std::string worst_what;

bool close(double ours, double ref, double tol) {
  if (std::isnan(ours) || std::isnan(ref)) return std::isnan(ours) && std::isnan(ref);
  return std::fabs(ours - ref) <= tol;
}

// |a - b| <= tol element by element (NaN only against NaN); reports the first few failures.
void expect_close(const std::vector<double>& ours, const std::vector<double>& ref, double tol,
                  const std::string& what) {
  ASSERT_EQ(ours.size(), ref.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    if (!std::isnan(ours[i]) && !std::isnan(ref[i]) && std::fabs(ours[i] - ref[i]) / tol > worst_ratio) {
      worst_ratio = std::fabs(ours[i] - ref[i]) / tol;
      worst_what = what + "[" + std::to_string(i) + "]";
    }
    if (!close(ours[i], ref[i], tol) && failures++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: headlab " << ours[i] << ", reference " << ref[i] << " (tolerance " << tol
                    << ")";
  }
}
void expect_close(double ours, double ref, double tol, const std::string& what) {
  expect_close(std::vector<double>{ours}, std::vector<double>{ref}, tol, what);
}

std::vector<double> ref_array(const h5::File& f, const std::string& name) { return f.read<double>(name); }
double ref_scalar(const h5::File& f, const std::string& name) { return f.read<double>(name, h5::Shape{})[0]; }
double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v)
    if (!std::isnan(x)) m = std::max(m, std::fabs(x));
  return m;
}

// f32 against f64: 1e-4 of the largest value compared (logit differences of a few units, a
// probability, a KL of a few nats), with a floor for arrays of values near 0.
double metric_tolerance(double scale) { return 1e-6 + 1e-4 * scale; }

void compare_patching(const Scores& s, const h5::File& ref) {
  for (MetricKind m : kMetrics) {
    const std::string ms = to_string(m);
    const PatchReport& p = s.patch.at(m);
    const double clean = ref_scalar(ref, "sweep/clean/" + ms), corrupted = ref_scalar(ref, "sweep/corrupted/" + ms);
    const double tol = metric_tolerance(std::max(std::fabs(clean), std::fabs(corrupted)));
    expect_close(p.clean, clean, tol, "patching clean " + ms);
    expect_close(p.corrupted, corrupted, tol, "patching corrupted " + ms);
    for (const PatchResult& r : p.results) {
      const std::string name = "sweep/" + to_string(r.direction) + "/" + r.sweep.name + "/" + ms;
      const std::vector<double> metric = ref_array(ref, name + "/metric");
      const double t = std::max(tol, metric_tolerance(max_abs(metric)));
      expect_close(r.metric, metric, t, name + "/metric");
      expect_close(r.normalised, ref_array(ref, name + "/normalised"), 2 * t / std::fabs(clean - corrupted),
                   name + "/normalised");
    }
  }
}

void compare_path_patching(const Scores& s, const h5::File& ref) {
  for (MetricKind m : kMetrics) {
    const std::string ms = to_string(m);
    for (size_t i = 0; i < s.targets.size(); ++i) {
      const PathPatchReport& p = s.path.at(m)[i];
      const std::string name = "path/" + std::to_string(i) + "/" + ms;
      SCOPED_TRACE("path patching to " + s.targets[i]);
      const std::vector<double> metric = ref_array(ref, name + "/metric");
      const double tol = metric_tolerance(std::max({std::fabs(p.clean), std::fabs(p.corrupted), max_abs(metric)}));
      expect_close(p.metric, metric, tol, name + "/metric");
      expect_close(p.effect, ref_array(ref, name + "/effect"), 2 * tol / std::fabs(p.clean - p.corrupted),
                   name + "/effect");
    }
  }
}

void compare_ablation(const Scores& s, const h5::File& ref, bool attn_only) {
  for (AblationKind k : kAblations)
    for (MetricKind m : kMetrics) {
      const AblationReport& a = s.ablation.at(k).at(m);
      const std::string ms = to_string(m), base = "ablation/" + to_string(k) + "/";
      const double clean = ref_scalar(ref, "ablation/clean/" + ms);
      const std::vector<double> heads = ref_array(ref, base + "heads/" + ms);
      const double tol = metric_tolerance(std::max(std::fabs(clean), max_abs(heads)));
      const double clean_loss = ref_scalar(ref, "ablation/clean/loss");
      expect_close(a.clean_metric, clean, tol, "ablation clean " + ms);
      expect_close(a.clean_loss, clean_loss, metric_tolerance(clean_loss), "ablation clean loss");
      expect_close(a.head_metric, heads, tol, base + "heads/" + ms);
      const std::vector<double> attn = ref_array(ref, base + "attn/" + ms);
      expect_close(a.attn_metric, attn, std::max(tol, metric_tolerance(max_abs(attn))), base + "attn/" + ms);
      const std::vector<double> head_loss = ref_array(ref, base + "heads/loss");
      const double loss_tol = metric_tolerance(max_abs(head_loss));
      expect_close(a.head_loss, head_loss, loss_tol, base + "heads/loss");
      const std::vector<double> attn_loss = ref_array(ref, base + "attn/loss");
      expect_close(a.attn_loss, attn_loss, metric_tolerance(max_abs(attn_loss)), base + "attn/loss");
      if (!attn_only) {
        const std::vector<double> mlp = ref_array(ref, base + "mlp/" + ms);
        expect_close(a.mlp_metric, mlp, std::max(tol, metric_tolerance(max_abs(mlp))), base + "mlp/" + ms);
        const std::vector<double> mlp_loss = ref_array(ref, base + "mlp/loss");
        expect_close(a.mlp_loss, mlp_loss, metric_tolerance(max_abs(mlp_loss)), base + "mlp/loss");
      }
    }
}

void compare_steering(const Scores& s, const h5::File& ref) {
  for (size_t i = 0; i < s.directions.size(); ++i) {
    const std::string base = "steer/" + std::to_string(i) + "/";
    const std::vector<double> dir = ref_array(ref, base + "direction");
    expect_close(std::vector<double>(s.directions[i].begin(), s.directions[i].end()), dir, 2e-5 * max_abs(dir),
                 base + "direction");
    for (MetricKind m : kMetrics) {
      const SteeringReport& r = s.steering[i].at(m);
      const std::vector<double> metric = ref_array(ref, base + to_string(m));
      expect_close(r.metric, metric, metric_tolerance(max_abs(metric)), base + to_string(m));
      const std::vector<double> loss = ref_array(ref, base + "loss");
      expect_close(r.loss, loss, metric_tolerance(max_abs(loss)), base + "loss");
    }
  }
}

TEST(CircuitsReferenceMethodsTest, PatchingPathPatchingAblationAndSteeringMatchThePublishedDefinitions) {
  if (!testing::python_reference_missing().empty()) GTEST_SKIP() << testing::python_reference_missing();
  testing::TempDir dir;
  std::vector<Prepared> prepared;
  std::string cmd =
      std::string(testing::kReferencePython) + " " HEADLAB_SOURCE_DIR "/tests/circuits/circuits_reference.py";
  uint64_t seed = 31;
  for (const testing::ReferenceVariant& v : testing::random_reference_variants()) {
    prepared.push_back(prepare(v, dir, seed++));
    cmd += " " + prepared.back().ckpt + " " + prepared.back().inputs + " " + prepared.back().out;
  }
  const std::string log = dir.path("python.log");
  ASSERT_EQ(std::system((cmd + " > " + log + " 2>&1").c_str()), 0) << cmd << "\n" << testing::read_file_text(log);
  for (const Prepared& p : prepared) {
    SCOPED_TRACE(p.v.name);
    h5::File ref = h5::File::open(p.out);
    compare_patching(p.s, ref);
    compare_path_patching(p.s, ref);
    compare_ablation(p.s, ref, p.v.cfg.attn_only);
    compare_steering(p.s, ref);
  }
  std::printf("largest difference / tolerance: %.3g at %s\n", worst_ratio, worst_what.c_str());
}

}  // namespace
}  // namespace headlab
