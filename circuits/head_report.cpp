#include "circuits/head_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "circuits/composition.h"
#include "circuits/heads_arg.h"
#include "core/errors.h"
#include "data/tasks.h"
#include "data/token_dataset.h"
#include "data/tokenizer.h"
#include "model/backend.h"
#include "model/transformer.h"

namespace headlab {

// ---- roles --------------------------------------------------------------------------------------

const std::vector<RoleRule>& role_rules() {
  static const std::vector<RoleRule> rules = {
      {"previous_token", 0.4, false, "previous-token head", "In-Context Identification",
       "ARENA's previous-token detector threshold"},
      {"duplicate_token", 0.3, false, "duplicate-token head", "In-Context Identification",
       "headlab's cut-off for attention to earlier copies (Wang et al. 2022)"},
      {"induction_stripe", 0.4, false, "induction head", "Latent Reasoning",
       "ARENA's induction-head threshold (older versions: 0.3)"},
      {"successor", 0.5, false, "successor head", "Latent Reasoning",
       "headlab's cut-off: the head ranks the successor first for most pairs (Gould et al. 2023)"},
      {"retrieval", 0.1, false, "retrieval head", "In-Context Identification",
       "Wu et al. 2024: retrieval heads score above 0.1"},
      {"copying", -0.5, true, "copy-suppression head", "In-Context Identification",
       "headlab's cut-off: the OV circuit lowers the attended token's logit (Elhage et al. 2021); the survey "
       "files copy suppression (McDougall et al. 2023) with the name-mover heads"},
      {"first_token", 0.8, false, "first-token head", "no survey stage",
       "headlab's cut-off: most attention on position 0 (ARENA's solution code flags heads above 0.4)"},
  };
  return rules;
}

const HeadScoreTable* HeadReport::score(const std::string& name) const {
  for (const auto& s : scores)
    if (s.name == name) return &s;
  return nullptr;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string weights_phrase(WeightProcessing p) {
  return p == WeightProcessing::none ? "the checkpoint's weights as stored"
                                     : "TransformerLens-processed weights: fold_ln, center_writing_weights, "
                                       "center_unembed";
}

namespace {

// The scores a role line shows beside the role's own, when computed.
const char* const kContextScores[] = {"previous_token", "induction_stripe", "induction", "duplicate_token", "copying"};

std::string role_line(const HeadReport& r, int l, int h, const RoleRule& rule, double value) {
  const int64_t i = int64_t(l) * r.cfg.n_heads + h;
  const HeadScoreTable* own = r.score(rule.score);
  std::string line = head_label({l, h}) + "  " + rule.role + "  (" + rule.stage + ")  " + own->label + " " +
                     fixed(value) + (rule.below ? " < " : " > ") + fixed(rule.threshold, 1);
  std::string rest;
  for (const char* name : kContextScores) {
    const HeadScoreTable* s = r.score(name);
    if (!s || !s->computed || s->name == rule.score) continue;
    rest += (rest.empty() ? "" : ", ") + s->label + " " + fixed(s->values[size_t(i)]);
  }
  return rest.empty() ? line : line + "; " + rest;
}

}  // namespace

std::vector<HeadRole> name_roles(const HeadReport& report) {
  std::vector<HeadRole> roles;
  for (int l = 0; l < report.cfg.n_layers; ++l)
    for (int h = 0; h < report.cfg.n_heads; ++h)
      for (const RoleRule& rule : role_rules()) {
        const HeadScoreTable* s = report.score(rule.score);
        if (!s || !s->computed) continue;
        const double v = s->values[size_t(l * report.cfg.n_heads + h)];
        if (rule.below ? v < rule.threshold : v > rule.threshold)
          roles.push_back({l, h, &rule, v, role_line(report, l, h, rule, v)});
      }
  return roles;
}

std::vector<std::string> report_notes(const HeadReport& report) {
  std::vector<std::string> notes;
  std::string layer0;
  for (const HeadRole& role : report.roles)
    if (role.layer == 0 && role.rule->score == "induction_stripe")
      layer0 += (layer0.empty() ? "" : ", ") + head_label({role.layer, role.head});
  if (!layer0.empty())
    notes.push_back(layer0 +
                    " score as induction heads in layer 0, where no earlier head can tell them the previous "
                    "token: most likely positional heads attending n - 1 back (the probe's period, as in a model "
                    "trained on a single repeat length); rerun with another --seq-len to tell the two apart.");
  return notes;
}

// ---- computing ----------------------------------------------------------------------------------

namespace {

// A task dataset's rows checked against the model: InputError naming `what`.
void check_rows(const TokenDataset& ds, const ModelConfig& cfg, const std::string& what) {
  if (ds.kind != DatasetKind::sequences) throw InputError(what, "expected a sequences dataset (a task), got a stream");
  if (ds.answer.empty()) throw InputError(what, "has no /answer: a task dataset with answers is needed");
  if (ds.seq_len > cfg.n_ctx)
    throw InputError(what, "rows of " + std::to_string(ds.seq_len) +
                               " tokens exceed the model's n_ctx = " + std::to_string(cfg.n_ctx));
  for (int32_t t : ds.tokens)
    if (t >= cfg.d_vocab)
      throw InputError(
          what, "token id " + std::to_string(t) + " is outside the model's d_vocab = " + std::to_string(cfg.d_vocab));
  for (int32_t t : ds.answer)
    if (t < 0 || t >= cfg.d_vocab)
      throw InputError(what, "answer id " + std::to_string(t) + " is outside the model's vocabulary");
}

int32_t answer_position(const TokenDataset& ds, int64_t row) {
  return ds.answer_pos.empty() ? int32_t(ds.seq_len - 1) : ds.answer_pos[size_t(row)];
}

// A task's rows: from the file given, else built from the checkpoint's tokenizer. Empty optional
// and `why` set when neither is possible.
struct TaskSource {
  bool ok = false;
  TokenDataset data;
  std::string source, why;
};

TaskSource task_rows(const std::string& task, const std::string& file, const std::string& option,
                     const Checkpoint& ckpt, const std::string& checkpoint_path, uint64_t seed) {
  TaskSource t;
  if (!file.empty()) {
    t.data = read_token_dataset(file);
    check_rows(t.data, ckpt.config, option + " " + file);
    t.ok = true;
    t.source = file;
    return t;
  }
  if (ckpt.tokenizer_json.empty()) {
    t.why = "needs " + option + " (a " + task + " task dataset tokenized like the model, headlab-data task " + task +
            ") or a checkpoint with a tokenizer; this one has none";
    return t;
  }
  const std::unique_ptr<Tokenizer> tok = tokenizer_from_json(ckpt.tokenizer_json, checkpoint_path + ": /tokenizer");
  // Retrieval rows grow with the number of pairs: the most that fit the context.
  const std::vector<int64_t> pair_counts =
      task == "retrieval" ? std::vector<int64_t>{20, 16, 12, 8, 6, 4, 3, 2} : std::vector<int64_t>{0};
  for (int64_t pairs : pair_counts) {
    TaskOptions o;
    o.name = task;
    o.n = task == "retrieval" ? 64 : 256;
    o.seed = seed;
    o.pairs = pairs;
    try {
      TaskDataset built = make_task(o, *tok);
      if (built.data.seq_len > ckpt.config.n_ctx) {
        t.why = "the " + task + " task's rows (" + std::to_string(built.data.seq_len) +
                " tokens) exceed n_ctx = " + std::to_string(ckpt.config.n_ctx);
        continue;
      }
      check_rows(built.data, ckpt.config, task + " task");
      t.data = std::move(built.data);
      t.ok = true;
      t.source = "headlab-data task " + task + " --n " + std::to_string(o.n) + " --seed " + std::to_string(seed) +
                 (pairs > 0 ? " --pairs " + std::to_string(pairs) : "") + ", with the checkpoint's tokenizer";
      t.why.clear();
      return t;
    } catch (const InputError& e) {
      t.why = "the checkpoint's tokenizer cannot form the " + task + " task (" + e.what() + ")";
      if (task != "retrieval") break;
    }
  }
  return t;
}

SuccessionPairs succession_pairs(const TokenDataset& ds) {
  SuccessionPairs p;
  std::set<std::pair<int32_t, int32_t>> seen;
  std::set<int32_t> candidates;
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    const int32_t pos = answer_position(ds, r);
    if (pos < 0 || pos >= ds.seq_len) throw InputError("successor data", "answer_pos outside the row");
    const int32_t t = ds.tokens[size_t(r * ds.seq_len + pos)], s = ds.answer[size_t(r)];
    if (!seen.insert({t, s}).second) continue;
    p.token.push_back(t);
    p.successor.push_back(s);
    candidates.insert(t);
    candidates.insert(s);
  }
  p.candidates.assign(candidates.begin(), candidates.end());
  return p;
}

HeadScoreTable table(const std::string& name, const std::string& label, const std::string& description,
                     const std::string& source, std::vector<double> values) {
  HeadScoreTable t{name, label, description, source, true, "", std::move(values)};
  return t;
}
HeadScoreTable missing(const std::string& name, const std::string& label, const std::string& description,
                       const std::string& source, const std::string& why) {
  return {name, label, description, source, false, why, {}};
}

}  // namespace

namespace {

// The scores read off the probe's attention patterns.
void add_probe_scores(HeadReport& r) {
  const std::string tl = "TransformerLens head_detector (detect_head, " +
                         std::string(r.detect.measure == ErrorMeasure::mul ? "mul" : "abs") + ")";
  r.scores.push_back(table("previous_token", "prev-token", "attention on the previous position",
                           tl + "; Olsson et al. 2022", r.probe.previous_token));
  r.scores.push_back(table("duplicate_token", "duplicate", "attention on earlier copies of the current token",
                           tl + "; Wang et al. 2022", r.probe.duplicate_token));
  r.scores.push_back(table("induction", "induction",
                           "attention on the token after an earlier copy of the current token",
                           tl + "; Olsson et al. 2022", r.probe.induction));
  r.scores.push_back(table("induction_stripe", "induction-stripe",
                           "mean attention from each token of the second repeat to the token after its first "
                           "occurrence (pattern diagonal at offset 1 - n)",
                           "TransformerLens Main Demo; ARENA", r.probe.induction_stripe));
  r.scores.push_back(table("first_token", "first-token", "mean attention from every position to position 0",
                           "ARENA (first-token detector)", r.probe.first_token));
}

// The successor and retrieval scores, on task rows (or why they are missing).
void add_task_scores(HeadReport& r, const Checkpoint& ckpt, const std::string& checkpoint_path,
                     const HeadReportOptions& options, Transformer& model) {
  const std::string succ_desc =
      "share of successor pairs (t, s(t)) whose effective OV circuit on MLP0(W_E t) ranks s(t) "
      "first among the task's tokens";
  const TaskSource succ =
      task_rows("successor", options.successor_data, "--successor-data", ckpt, checkpoint_path, options.seed);
  if (succ.ok) {
    r.successor_source = succ.source;
    r.scores.push_back(table("successor", "successor", succ_desc, "Gould et al. 2023",
                             successor_scores(ckpt.config, ckpt.params, succession_pairs(succ.data))));
  } else {
    r.scores.push_back(missing("successor", "successor", succ_desc, "Gould et al. 2023", succ.why));
  }
  const std::string retr_desc =
      "share of needle tokens the head copy-pastes: its most-attended position holds the "
      "token the model emits (on the retrieval task)";
  const TaskSource retr =
      task_rows("retrieval", options.retrieval_data, "--retrieval-data", ckpt, checkpoint_path, options.seed);
  if (retr.ok) {
    r.retrieval_source = retr.source;
    std::vector<int32_t> pos(static_cast<size_t>(retr.data.n_seq));
    for (int64_t i = 0; i < retr.data.n_seq; ++i) pos[size_t(i)] = answer_position(retr.data, i);
    r.scores.push_back(
        table("retrieval", "retrieval", retr_desc, "Wu et al. 2024",
              retrieval_scores_on_rows(model, retr.data.tokens.data(), retr.data.n_seq, retr.data.seq_len,
                                       retr.data.answer.data(), pos.data(), options.probe.batch_size)));
  } else {
    r.scores.push_back(missing("retrieval", "retrieval", retr_desc, "Wu et al. 2024", retr.why));
  }
  r.scores.push_back(table("retrieval_repeat", "retrieval-repeat",
                           "the retrieval score on the probe: the first half is the needle, the second half the "
                           "decoded text",
                           "Wu et al. 2024, on repeated random tokens", r.probe.retrieval_repeat));
}

}  // namespace

HeadReport compute_head_report(const Checkpoint& ckpt, const std::string& checkpoint_path,
                               const HeadReportOptions& options) {
  if (options.half_len < 0) throw InputError("--seq-len", "expected a positive length (or 0 for the default)");
  const ModelConfig& c = ckpt.config;
  HeadReport r;
  r.cfg = c;
  r.checkpoint = checkpoint_path;
  r.model_hash = model_hash(c, ckpt.params);
  r.seed = options.seed;
  r.n_seq = options.n_seq;
  r.detect = options.probe.detect;
  r.ablated = options.probe.ablate;
  r.ablation = options.probe.ablation;
  r.half_len = options.half_len > 0 ? options.half_len : std::min<int64_t>(50, c.n_ctx / 2);

  // The forwards run on --device; the weight-space scores on a CPU backend (host memory).
  std::unique_ptr<Backend> be = make_backend(parse_device(options.device), options.threads);
  std::unique_ptr<Backend> cpu_own;
  Backend* cpu = be.get();
  if (be->device() != Device::cpu) {
    cpu_own = make_cpu_backend(options.threads);
    cpu = cpu_own.get();
  }
  Transformer model(c, *be);
  model.params_from_host(ckpt.params);

  const ProbeTokens pt = probe_tokens(c, ckpt.tokenizer_json, checkpoint_path + ": /tokenizer");
  const RepeatProbe probe = make_repeat_probe(r.n_seq, r.half_len, pt.lo, pt.hi, pt.bos, options.seed);
  r.probe = score_repeat_probe(model, probe, options.probe);
  add_probe_scores(r);

  r.weights = options.weights;
  const HeadCircuits w = head_circuits(c, ckpt.params, options.weights);
  r.scores.push_back(table("copying", "copying",
                           "sum(eigenvalues) / sum(|eigenvalues|) of the OV circuit W_E W_V W_O W_U (" +
                               weights_phrase(options.weights) + ")",
                           "Elhage et al. 2021", copying_scores(w, *cpu)));
  add_task_scores(r, ckpt, checkpoint_path, options, model);
  r.composition_q = composition_scores(w, CompositionKind::q, *cpu);
  r.composition_k = composition_scores(w, CompositionKind::k, *cpu);
  r.composition_v = composition_scores(w, CompositionKind::v, *cpu);
  r.roles = name_roles(r);
  r.notes = report_notes(r);
  return r;
}

}  // namespace headlab
