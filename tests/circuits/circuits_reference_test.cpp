// headlab's interpretability numbers against an independent reference: the published definitions
// (TransformerLens' head detector, the TL demo / ARENA induction stripe, ARENA's first-token score,
// Olsson et al.'s ICL score, Wu et al.'s retrieval score, Elhage et al.'s copying and composition
// scores, Gould et al.'s succession score, direct logit attribution, the logit lens, activation
// patching) written in float64 PyTorch by tests/circuits/circuits_reference.py. Each model variant
// (LN / RMS / no norm, standard / rotary positions, with and without MLPs, tied embeddings, and a
// trained 2-layer induction model) is scored by the library, written to a temporary directory with
// its inputs, scored by the reference (one python run for every variant), and compared.
// Skips, saying why, where python3 with torch, h5py and numpy is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "circuits/composition.h"
#include "circuits/dla.h"
#include "circuits/head_scores.h"
#include "circuits/patching.h"
#include "core/h5_file.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/params.h"
#include "model/transformer.h"
#include "tests/circuits/circuits_test_util.h"
#include "tests/circuits/reference_models.h"
#include "tests/circuits/toy_induction_model.h"
#include "tests/command_runner.h"
#include "tests/python_reference.h"

namespace headlab {
namespace {

// The random variants, and a 2-layer attention-only model trained on the induction task.
std::vector<testing::ReferenceVariant> variants() {
  std::vector<testing::ReferenceVariant> v = testing::random_reference_variants();
  v.push_back({"trained_induction", testing::toy_induction_config(), true});
  v.back().cfg.validate();
  return v;
}

// What the library computes for one variant.
struct Scores {
  std::map<std::string, std::vector<double>> probe;  // "mul/previous_token" ... [L * H]
  ProbeScores base;                                  // the default (mul, no exclusions) probe
  std::vector<double> successor, retrieval;
  std::vector<double> copying[2], composition[2][3];  // [WeightProcessing none, transformer_lens][q, k, v]
  DlaReport dla;
  LogitLensReport lens;
  PatchReport patch;
};

struct Prepared {
  testing::ReferenceVariant v;
  std::string ckpt, inputs, out;
  Scores s;
};

void write_inputs(const std::string& path, const RepeatProbe& probe, const ProbeScores& base,
                  const SuccessionPairs& pairs, const std::vector<int32_t>& retr_rows, int64_t retr_n, int64_t retr_T,
                  const std::vector<int32_t>& retr_answer, const std::vector<int32_t>& retr_pos, const TaskData& task) {
  h5::AtomicFile f(path);
  h5::Group pr = f.file().create_group("probe");
  pr.write<int32_t>("tokens", probe.tokens.data(), {probe.n_seq, probe.seq_len()});
  pr.set_attr("half_len", probe.half_len);
  pr.set_attr("icl_early", base.icl_early);
  pr.set_attr("icl_late", base.icl_late);
  h5::Group su = f.file().create_group("successor");
  su.write<int32_t>("token", pairs.token);
  su.write<int32_t>("successor", pairs.successor);
  su.write<int32_t>("candidates", pairs.candidates);
  h5::Group re = f.file().create_group("retrieval");
  re.write<int32_t>("tokens", retr_rows.data(), {retr_n, retr_T});
  re.write<int32_t>("answer", retr_answer);
  re.write<int32_t>("answer_pos", retr_pos);
  h5::Group t = f.file().create_group("task");
  t.write<int32_t>("clean", task.clean.data(), {task.n, task.T});
  t.write<int32_t>("corrupted", task.corrupted.data(), {task.n, task.T});
  t.write<int32_t>("answer", task.answer);
  t.write<int32_t>("wrong_answer", task.wrong_answer);
  t.write<int32_t>("answer_pos", task.answer_pos);
  f.commit();
}

// Retrieval rows whose answer is the token the model emits at the last position, so that Wu et
// al.'s condition "the emitted token is a needle token" holds wherever the answer occurs earlier.
void retrieval_rows(Transformer& model, int64_t n, int64_t T, uint64_t seed, std::vector<int32_t>& rows,
                    std::vector<int32_t>& answer, std::vector<int32_t>& pos) {
  const ModelConfig& c = model.config();
  rows = testing::synthetic_task(n, T, std::min(c.d_vocab, 12), seed, false, false).tokens;
  model.forward(rows.data(), int(n), int(T));
  const std::vector<float> logits = model.logits_to_host();  // [n, T, V]
  answer.assign(size_t(n), 0);
  pos.assign(size_t(n), int32_t(T - 1));
  for (int64_t b = 0; b < n; ++b) {
    const float* row = logits.data() + (b * T + T - 1) * c.d_vocab;
    answer[size_t(b)] = int32_t(std::max_element(row, row + c.d_vocab) - row);
  }
}

Prepared prepare(const testing::ReferenceVariant& v, const testing::TempDir& dir, uint64_t seed) {
  Prepared r;
  r.v = v;
  const ModelConfig& c = v.cfg;
  Checkpoint ck;
  ck.config = c;
  ck.params =
      v.trained ? testing::train_toy_induction_model(c, 800, 1, nullptr) : testing::scaled_random_params(c, seed, 6.0f);
  auto be = make_cpu_backend(1);
  Transformer model(c, *be);
  model.params_from_host(ck.params);

  // The probe under each of TransformerLens' detector options.
  const int64_t half = v.trained ? 11 : 5;
  const RepeatProbe probe = make_repeat_probe(3, half, 1, c.d_vocab, 0, seed);
  for (ErrorMeasure m : {ErrorMeasure::mul, ErrorMeasure::abs})
    for (bool excl : {false, true}) {
      ProbeOptions o;
      o.detect.measure = m;
      o.detect.exclude_bos = o.detect.exclude_current_token = excl;
      o.batch_size = 2;  // two batches: pooling across batches is part of what is tested
      const ProbeScores p = score_repeat_probe(model, probe, o);
      const std::string tag = std::string(m == ErrorMeasure::mul ? "mul" : "abs") + (excl ? "_excl" : "");
      r.s.probe[tag + "/previous_token"] = p.previous_token;
      r.s.probe[tag + "/duplicate_token"] = p.duplicate_token;
      r.s.probe[tag + "/induction"] = p.induction;
      if (m == ErrorMeasure::mul && !excl) r.s.base = p;
    }

  const CompositionKind kinds[3] = {CompositionKind::q, CompositionKind::k, CompositionKind::v};
  for (WeightProcessing wp : {WeightProcessing::none, WeightProcessing::transformer_lens}) {
    const HeadCircuits w = head_circuits(c, ck.params, wp);
    const int i = int(wp);
    r.s.copying[i] = copying_scores(w, *be);
    for (int k = 0; k < 3; ++k) r.s.composition[i][k] = composition_scores(w, kinds[k], *be);
  }

  SuccessionPairs pairs;
  for (int32_t t = 1; t <= 8; ++t) pairs.token.push_back(t), pairs.successor.push_back(t + 1);
  for (int32_t t = 1; t <= 9; ++t) pairs.candidates.push_back(t);
  r.s.successor = successor_scores(c, ck.params, pairs);

  const int64_t rn = 12, rT = std::min<int64_t>(c.n_ctx, 12);
  std::vector<int32_t> rrows, ranswer, rpos;
  retrieval_rows(model, rn, rT, seed + 7, rrows, ranswer, rpos);
  r.s.retrieval = retrieval_scores_on_rows(model, rrows.data(), rn, rT, ranswer.data(), rpos.data(), 5);

  const TaskData task = testing::task_of(testing::synthetic_task(5, 7, c.d_vocab, seed + 3));
  r.s.dla = direct_logit_attribution(model, task, 2);
  r.s.lens = logit_lens(model, task, 2);
  PatchOptions po;
  po.batch_size = 2;
  r.s.patch = run_patching(model, task, parse_patch_sweeps("resid_pre,z", c), po);

  r.ckpt = dir.path(v.name + "_model.h5");
  r.inputs = dir.path(v.name + "_inputs.h5");
  r.out = dir.path(v.name + "_ref.h5");
  write_checkpoint(r.ckpt, ck);
  write_inputs(r.inputs, probe, r.s.base, pairs, rrows, rn, rT, ranswer, rpos, task);
  return r;
}

std::vector<double> ref_array(const h5::File& f, const std::string& name) { return f.read<double>(name); }
double ref_scalar(const h5::File& f, const std::string& name) { return f.read<double>(name, h5::Shape{})[0]; }

// |a - b| <= tol for every element; reports the first few failures by index.
void expect_close(const std::vector<double>& ours, const std::vector<double>& ref, double tol,
                  const std::string& what) {
  ASSERT_EQ(ours.size(), ref.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < ours.size() && failures < 5; ++i)
    if (!(std::fabs(ours[i] - ref[i]) <= tol)) {
      ADD_FAILURE() << what << "[" << i << "]: headlab " << ours[i] << ", reference " << ref[i] << " (tolerance " << tol
                    << ")";
      ++failures;
    }
}
template <class T>
std::vector<double> as_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}
double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

void compare(const Prepared& p) {
  SCOPED_TRACE(p.v.name);
  const Scores& s = p.s;
  const ModelConfig& c = p.v.cfg;
  h5::File ref = h5::File::open(p.out);

  // Pattern scores: f32 patterns against f64, sums of at most T^2 terms.
  for (const auto& [name, values] : s.probe) {
    const bool abs_measure = name.rfind("abs", 0) == 0;
    // abs rounds to 3 decimals (TL's round(..., 3)): f32 and f64 may fall either side of a step.
    expect_close(values, ref_array(ref, "probe/" + name), abs_measure ? 1.001e-3 : 2e-5, name);
  }
  expect_close(s.base.induction_stripe, ref_array(ref, "probe/induction_stripe"), 2e-5, "induction_stripe");
  expect_close(s.base.first_token, ref_array(ref, "probe/first_token"), 2e-5, "first_token");
  expect_close(s.base.retrieval_repeat, ref_array(ref, "probe/retrieval_repeat"), 1e-9, "retrieval_repeat");
  EXPECT_NEAR(s.base.icl_score, ref_scalar(ref, "probe/icl_score"), 1e-4) << "icl_score";
  EXPECT_NEAR(s.base.loss_first_half, ref_scalar(ref, "probe/loss_first_half"), 1e-4);
  EXPECT_NEAR(s.base.loss_repeated_half, ref_scalar(ref, "probe/loss_repeated_half"), 1e-4);

  // Weight scores.
  for (WeightProcessing wp : {WeightProcessing::none, WeightProcessing::transformer_lens}) {
    const std::string tag = to_string(wp);
    const int i = int(wp);
    expect_close(s.copying[i], ref_array(ref, "copying/" + tag), 1e-4, "copying " + tag);
    const char* kinds[3] = {"q", "k", "v"};
    for (int k = 0; k < 3; ++k) {
      const std::string name = tag + "/" + kinds[k];
      const std::vector<double> elhage = ref_array(ref, "composition/" + name);
      // Elhage et al.'s column-vector formulas and TransformerLens' row-vector ones agree.
      expect_close(ref_array(ref, "composition_tl/" + name), elhage, 1e-12, "reference TL vs Elhage " + name);
      const double largest = std::max(1e-3, max_abs(elhage));
      expect_close(s.composition[i][k], elhage, 1e-4 * largest, "composition " + name);
    }
  }
  expect_close(s.successor, ref_array(ref, "successor"), 1e-9, "successor");
  expect_close(s.retrieval, ref_array(ref, "retrieval"), 1e-9, "retrieval");

  // DLA, logit lens, patching.
  const double scale = std::max({1.0, std::fabs(s.dla.logit_diff), max_abs(s.dla.heads)});
  EXPECT_NEAR(s.dla.logit_diff, ref_scalar(ref, "dla/logit_diff"), 1e-4 * scale);
  expect_close(s.dla.heads, ref_array(ref, "dla/heads"), 1e-4 * scale, "dla heads");
  if (!c.attn_only) {
    expect_close(s.dla.mlps, ref_array(ref, "dla/mlps"), 1e-4 * scale, "dla mlps");
  }
  EXPECT_NEAR(s.dla.embed, ref_scalar(ref, "dla/embed"), 1e-4 * scale);
  if (c.positional_embedding_type == PositionalEmbedding::standard) {
    EXPECT_NEAR(s.dla.pos_embed, ref_scalar(ref, "dla/pos_embed"), 1e-4 * scale);
  }
  const std::vector<double> ref_prob = ref_array(ref, "lens/prob");
  expect_close(as_double(s.lens.prob), ref_prob, 1e-5 + 1e-4 * max_abs(ref_prob), "logit lens prob");
  expect_close(as_double(s.lens.rank), ref_array(ref, "lens/rank"), 0.0, "logit lens rank");
  EXPECT_NEAR(s.patch.clean, ref_scalar(ref, "patch/clean"), 1e-4 * scale);
  EXPECT_NEAR(s.patch.corrupted, ref_scalar(ref, "patch/corrupted"), 1e-4 * scale);
  const double span = std::fabs(s.patch.clean - s.patch.corrupted);
  for (const PatchResult& r : s.patch.results)
    expect_close(r.normalised, ref_array(ref, "patch/" + r.sweep.name), 2e-4 * scale / span,
                 "patching " + r.sweep.name);
}

// Every variant scored by the library, then by the reference in one python run (its start-up,
// importing torch, is most of the reference's time).
TEST(CircuitsReferenceTest, EveryVariantMatchesThePublishedDefinitions) {
  if (!testing::python_reference_missing().empty()) GTEST_SKIP() << testing::python_reference_missing();
  testing::TempDir dir;
  std::vector<Prepared> prepared;
  std::string cmd =
      std::string(testing::kReferencePython) + " " HEADLAB_SOURCE_DIR "/tests/circuits/circuits_reference.py";
  uint64_t seed = 11;
  for (const testing::ReferenceVariant& v : variants()) {
    prepared.push_back(prepare(v, dir, seed++));
    cmd += " " + prepared.back().ckpt + " " + prepared.back().inputs + " " + prepared.back().out;
  }
  const std::string log = dir.path("python.log");
  ASSERT_EQ(std::system((cmd + " > " + log + " 2>&1").c_str()), 0) << cmd << "\n" << testing::read_file_text(log);
  for (const Prepared& p : prepared) compare(p);
  // The discrete scores compared above are not all 0: the comparisons say something.
  double successor = 0, retrieval = 0, retrieval_repeat = 0;
  for (const Prepared& p : prepared) {
    successor = std::max(successor, max_abs(p.s.successor));
    retrieval = std::max(retrieval, max_abs(p.s.retrieval));
    retrieval_repeat = std::max(retrieval_repeat, max_abs(p.s.base.retrieval_repeat));
  }
  EXPECT_GT(successor, 0.1);
  EXPECT_GT(retrieval, 0.1);
  EXPECT_GT(retrieval_repeat, 0.1);
  const Prepared& trained = prepared.back();
  EXPECT_GT(max_abs(trained.s.base.induction_stripe), 0.4) << "the trained model has no induction head";
}

}  // namespace
}  // namespace headlab
