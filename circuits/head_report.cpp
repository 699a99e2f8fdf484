#include "circuits/head_report.h"
#include "core/atomic_write.h"

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
#include "circuits/svg_plot.h"
#include "core/errors.h"
#include "core/h5_file.h"
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

namespace {

std::string fixed(double v, int digits = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

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

std::string weights_phrase(WeightProcessing p) {
  return p == WeightProcessing::none ? "the checkpoint's weights as stored"
                                     : "TransformerLens-processed weights: fold_ln, center_writing_weights, "
                                       "center_unembed";
}

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

// ---- text ---------------------------------------------------------------------------------------

namespace {

struct Pair {
  int l1, h1, l2, h2;
  double score;
};
// The strongest composition pairs, best first.
std::vector<Pair> top_pairs(const std::vector<double>& comp, const ModelConfig& c, size_t count) {
  std::vector<Pair> pairs;
  const int L = c.n_layers, H = c.n_heads;
  for (int l1 = 0; l1 < L; ++l1)
    for (int h1 = 0; h1 < H; ++h1)
      for (int l2 = l1 + 1; l2 < L; ++l2)
        for (int h2 = 0; h2 < H; ++h2)
          pairs.push_back({l1, h1, l2, h2, comp[size_t(((l1 * H + h1) * L + l2) * H + h2)]});
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.score > b.score; });
  if (pairs.size() > count) pairs.resize(count);
  return pairs;
}

std::string probe_summary(const HeadReport& r) {
  const DetectOptions& d = r.detect;
  return std::to_string(r.n_seq) + " sequences of BOS + 2 x " + std::to_string(r.half_len) + " random tokens (seed " +
         std::to_string(r.seed) + "); detect_head " + (d.measure == ErrorMeasure::mul ? "mul" : "abs") +
         ", exclude_bos " + (d.exclude_bos ? "yes" : "no") + ", exclude_current_token " +
         (d.exclude_current_token ? "yes" : "no");
}

}  // namespace

std::string head_report_text(const HeadReport& r) {
  const ModelConfig& c = r.cfg;
  std::ostringstream o;
  o << "headlab head report\n";
  o << "checkpoint: " << r.checkpoint << "  (model " << r.model_hash << ")\n";
  o << "model: " << c.n_layers << " layers x " << c.n_heads << " heads, d_model " << c.d_model << ", d_head "
    << c.d_head << ", d_vocab " << c.d_vocab << ", n_ctx " << c.n_ctx << (c.attn_only ? ", attention-only" : "")
    << ", norm " << to_string(c.normalization_type) << "\n";
  o << "probe: " << probe_summary(r) << "\n";
  o << "copying and composition read " << weights_phrase(r.weights) << "\n";
  o << "loss on the probe: first half " << fixed(r.probe.loss_first_half, 3) << ", repeated half "
    << fixed(r.probe.loss_repeated_half, 3) << "; in-context-learning score (loss at position " << r.probe.icl_late
    << " - loss at position " << r.probe.icl_early << ", Olsson et al. 2022) " << fixed(r.probe.icl_score, 3) << "\n\n";

  o << "roles (a head is named where a score passes its threshold; stages of Zheng et al. 2024's survey):\n";
  if (r.roles.empty()) o << "  (no head passes a threshold)\n";
  for (const HeadRole& role : r.roles) o << "  " << role.line << "\n";
  for (const std::string& note : r.notes) o << "  note: " << note << "\n";

  o << "\nthresholds:\n";
  for (const RoleRule& rule : role_rules()) {
    const HeadScoreTable* s = r.score(rule.score);
    o << "  " << (s ? s->label : rule.score) << (rule.below ? " < " : " > ") << fixed(rule.threshold, 1) << "  "
      << rule.role << " (" << rule.stage << "): " << rule.basis << "\n";
  }

  o << "\nscores:\n";
  for (const HeadScoreTable& s : r.scores)
    o << "  " << s.label << ": " << s.description << " [" << s.source << "]"
      << (s.computed ? "" : " -- not computed: " + s.not_computed) << "\n";
  o << "\n  head ";
  for (const HeadScoreTable& s : r.scores)
    if (s.computed) o << " " << std::string(std::max<size_t>(9, s.label.size()) - s.label.size(), ' ') << s.label;
  o << "\n";
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = 0; h < c.n_heads; ++h) {
      std::string label = head_label({l, h});
      o << "  " << label << std::string(label.size() < 5 ? 5 - label.size() : 0, ' ');
      for (const HeadScoreTable& s : r.scores)
        if (s.computed) {
          const std::string v = fixed(s.values[size_t(l * c.n_heads + h)], 3);
          const size_t width = std::max<size_t>(9, s.label.size());
          o << " " << std::string(width > v.size() ? width - v.size() : 0, ' ') << v;
        }
      o << "\n";
    }
  if (r.successor_source.size()) o << "\n  successor pairs from: " << r.successor_source << "\n";
  if (r.retrieval_source.size()) o << "  retrieval rows from: " << r.retrieval_source << "\n";

  o << "\nstrongest composition (earlier head -> later head; ||L R||_F / (||L||_F ||R||_F), Elhage et al. 2021):\n";
  if (c.n_layers < 2) o << "  (one layer: no pairs)\n";
  const std::pair<const char*, const std::vector<double>*> kinds[] = {
      {"K", &r.composition_k}, {"Q", &r.composition_q}, {"V", &r.composition_v}};
  if (c.n_layers >= 2)
    for (const auto& [name, comp] : kinds) {
      o << "  " << name << ":";
      for (const Pair& p : top_pairs(*comp, c, 5))
        o << "  " << head_label({p.l1, p.h1}) << "->" << head_label({p.l2, p.h2}) << " " << fixed(p.score, 3);
      o << "\n";
    }
  return o.str();
}

// ---- files --------------------------------------------------------------------------------------

void make_output_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw InputError(dir, "cannot create the output directory (" + ec.message() + ")");
}

namespace {

nlohmann::json per_head_json(const std::vector<double>& v, const ModelConfig& c) {
  nlohmann::json rows = nlohmann::json::array();
  for (int l = 0; l < c.n_layers; ++l) {
    nlohmann::json row = nlohmann::json::array();
    for (int h = 0; h < c.n_heads; ++h) row.push_back(v[size_t(l * c.n_heads + h)]);
    rows.push_back(row);
  }
  return rows;
}

nlohmann::json composition_json(const std::vector<double>& v, const ModelConfig& c) {
  const int L = c.n_layers, H = c.n_heads;
  nlohmann::json a = nlohmann::json::array();
  for (int l1 = 0; l1 < L; ++l1) {
    nlohmann::json b = nlohmann::json::array();
    for (int h1 = 0; h1 < H; ++h1) {
      std::vector<double> slice(v.begin() + (l1 * H + h1) * L * H, v.begin() + (l1 * H + h1 + 1) * L * H);
      b.push_back(per_head_json(slice, c));
    }
    a.push_back(b);
  }
  return a;
}

nlohmann::json thresholds_json() {
  nlohmann::json t = nlohmann::json::array();
  for (const RoleRule& rule : role_rules())
    t.push_back({{"score", rule.score},
                 {"threshold", rule.threshold},
                 {"direction", rule.below ? "below" : "above"},
                 {"role", rule.role},
                 {"stage", rule.stage},
                 {"basis", rule.basis}});
  return t;
}

nlohmann::json report_json(const HeadReport& r) {
  const ModelConfig& c = r.cfg;
  nlohmann::json j;
  j["format"] = "headlab.head_scores";
  j["format_version"] = 1;
  j["checkpoint"] = r.checkpoint;
  j["model_hash"] = r.model_hash;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["weight_processing"] = to_string(r.weights);
  j["probe"] = {{"n_seq", r.n_seq},
                {"half_len", r.half_len},
                {"seed", r.seed},
                {"error_measure", r.detect.measure == ErrorMeasure::mul ? "mul" : "abs"},
                {"exclude_bos", r.detect.exclude_bos},
                {"exclude_current_token", r.detect.exclude_current_token},
                {"icl_score", r.probe.icl_score},
                {"icl_early", r.probe.icl_early},
                {"icl_late", r.probe.icl_late},
                {"loss_first_half", r.probe.loss_first_half},
                {"loss_repeated_half", r.probe.loss_repeated_half},
                {"loss_all", r.probe.loss_all}};
  j["thresholds"] = thresholds_json();
  for (const HeadScoreTable& s : r.scores) {
    nlohmann::json e = {
        {"label", s.label}, {"description", s.description}, {"source", s.source}, {"computed", s.computed}};
    if (s.computed)
      e["values"] = per_head_json(s.values, c);
    else
      e["not_computed"] = s.not_computed;
    j["scores"][s.name] = e;
  }
  if (!r.successor_source.empty()) j["scores"]["successor"]["data"] = r.successor_source;
  if (!r.retrieval_source.empty()) j["scores"]["retrieval"]["data"] = r.retrieval_source;
  j["composition"] = {{"shape", {c.n_layers, c.n_heads, c.n_layers, c.n_heads}},
                      {"q", composition_json(r.composition_q, c)},
                      {"k", composition_json(r.composition_k, c)},
                      {"v", composition_json(r.composition_v, c)}};
  j["notes"] = r.notes;
  j["roles"] = nlohmann::json::array();
  for (const HeadRole& role : r.roles)
    j["roles"].push_back({{"head", head_label({role.layer, role.head})},
                          {"layer", role.layer},
                          {"head_index", role.head},
                          {"role", role.rule->role},
                          {"stage", role.rule->stage},
                          {"score", role.rule->score},
                          {"value", role.value},
                          {"threshold", role.rule->threshold},
                          {"line", role.line}});
  return j;
}

void write_h5(const HeadReport& r, const std::string& path) {
  const ModelConfig& c = r.cfg;
  const int64_t L = c.n_layers, H = c.n_heads;
  h5::AtomicFile out(path);
  h5::File& f = out.file();
  h5::set_format(f, "headlab.head_scores", 1);
  f.set_attr("checkpoint", r.checkpoint);
  f.set_attr("model_hash", r.model_hash);
  f.set_attr("n_layers", int64_t(L));
  f.set_attr("n_heads", int64_t(H));
  f.set_attr("probe_n_seq", r.n_seq);
  f.set_attr("probe_half_len", r.half_len);
  f.set_attr("probe_seed", int64_t(r.seed));
  f.set_attr("probe_error_measure", r.detect.measure == ErrorMeasure::mul ? "mul" : "abs");
  f.set_attr("probe_exclude_bos", r.detect.exclude_bos);
  f.set_attr("probe_exclude_current_token", r.detect.exclude_current_token);
  f.set_attr("weight_processing", to_string(r.weights));
  f.set_attr("thresholds_json", thresholds_json().dump());
  h5::Group scores = f.create_group("scores");
  h5::Group not_computed = f.create_group("not_computed");
  for (const HeadScoreTable& s : r.scores) {
    if (!s.computed) {
      not_computed.write_string(s.name, s.not_computed);
      continue;
    }
    std::vector<float> v(s.values.begin(), s.values.end());
    scores.write<float>(s.name, v.data(), {L, H});
    scores.set_attr(s.name + "_description", s.description);
    scores.set_attr(s.name + "_source", s.source);
  }
  h5::Group comp = f.create_group("composition");
  const std::pair<const char*, const std::vector<double>*> kinds[] = {
      {"q", &r.composition_q}, {"k", &r.composition_k}, {"v", &r.composition_v}};
  for (const auto& [name, values] : kinds) {
    std::vector<float> v(values->begin(), values->end());
    comp.write<float>(name, v.data(), {L, H, L, H});
  }
  h5::Group probe = f.create_group("probe");
  probe.set_attr("icl_score", r.probe.icl_score);
  probe.set_attr("icl_early", r.probe.icl_early);
  probe.set_attr("icl_late", r.probe.icl_late);
  probe.set_attr("loss_first_half", r.probe.loss_first_half);
  probe.set_attr("loss_repeated_half", r.probe.loss_repeated_half);
  probe.set_attr("loss_all", r.probe.loss_all);
  std::string lines;
  for (const HeadRole& role : r.roles) lines += role.line + "\n";
  f.write_string("roles", lines);
  out.commit();
}

// A cell's background: white (0) to red (1) for scores in [0, 1]; blue for negative values.
std::string cell_colour(double v) {
  const double a = std::min(1.0, std::fabs(v));
  const int fade = int(std::lround(255 * (1 - 0.75 * a)));
  char buf[16];
  if (v >= 0)
    std::snprintf(buf, sizeof buf, "#ff%02x%02x", fade, fade);
  else
    std::snprintf(buf, sizeof buf, "#%02x%02xff", fade, fade);
  return buf;
}

std::string report_html(const HeadReport& r) {
  const ModelConfig& c = r.cfg;
  auto esc = [](const std::string& s) { return svg::escape_xml(s); };
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>headlab head report</title>\n"
    << "<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em;color:#222}"
    << "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    << "th{background:#f4f4f4}td.l{text-align:left}caption{text-align:left;font-weight:bold;margin-bottom:4px}"
    << "</style></head><body>\n";
  o << "<h1>Head report</h1>\n<p>checkpoint <code>" << esc(r.checkpoint) << "</code> (model " << esc(r.model_hash)
    << "): " << c.n_layers << " layers &times; " << c.n_heads << " heads, d_model " << c.d_model
    << ".<br>probe: " << esc(probe_summary(r)) << ".<br>copying and composition read " << esc(weights_phrase(r.weights))
    << ".<br>loss on the probe: first half " << fixed(r.probe.loss_first_half, 3) << ", repeated half "
    << fixed(r.probe.loss_repeated_half, 3) << "; in-context-learning score " << fixed(r.probe.icl_score, 3)
    << ".</p>\n";
  o << "<table><caption>Roles (stages of Zheng et al. 2024)</caption><tr><th>head</th><th>role</th><th>stage</th>"
    << "<th>score</th><th>value</th><th>threshold</th></tr>\n";
  for (const HeadRole& role : r.roles)
    o << "<tr><td class=l>" << head_label({role.layer, role.head}) << "</td><td class=l>" << esc(role.rule->role)
      << "</td><td class=l>" << esc(role.rule->stage) << "</td><td class=l>" << esc(r.score(role.rule->score)->label)
      << "</td><td>" << fixed(role.value, 3) << "</td><td>" << (role.rule->below ? "&lt; " : "&gt; ")
      << fixed(role.rule->threshold, 1) << "</td></tr>\n";
  if (r.roles.empty()) o << "<tr><td class=l colspan=6>no head passes a threshold</td></tr>\n";
  o << "</table>\n";
  for (const std::string& note : r.notes) o << "<p><b>Note:</b> " << esc(note) << "</p>\n";
  o << "<table><caption>Scores</caption><tr><th>head</th>";
  for (const HeadScoreTable& s : r.scores)
    if (s.computed)
      o << "<th title=\"" << esc(s.description + " [" + s.source + "]") << "\">" << esc(s.label) << "</th>";
  o << "</tr>\n";
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = 0; h < c.n_heads; ++h) {
      o << "<tr><td class=l>" << head_label({l, h}) << "</td>";
      for (const HeadScoreTable& s : r.scores)
        if (s.computed) {
          const double v = s.values[size_t(l * c.n_heads + h)];
          o << "<td style=\"background:" << cell_colour(v) << "\">" << fixed(v, 3) << "</td>";
        }
      o << "</tr>\n";
    }
  o << "</table>\n<ul>\n";
  for (const HeadScoreTable& s : r.scores)
    o << "<li><b>" << esc(s.label) << "</b>: " << esc(s.description) << " [" << esc(s.source) << "]"
      << (s.computed ? "" : " &mdash; <i>not computed: " + esc(s.not_computed) + "</i>") << "</li>\n";
  o << "</ul>\n<table><caption>Thresholds</caption><tr><th>score</th><th>threshold</th><th>role</th><th>stage</th>"
    << "<th>basis</th></tr>\n";
  for (const RoleRule& rule : role_rules())
    o << "<tr><td class=l>" << esc(rule.score) << "</td><td>" << (rule.below ? "&lt; " : "&gt; ")
      << fixed(rule.threshold, 1) << "</td><td class=l>" << esc(rule.role) << "</td><td class=l>" << esc(rule.stage)
      << "</td><td class=l>" << esc(rule.basis) << "</td></tr>\n";
  o << "</table>\n<p>Heatmaps: <code>heads_&lt;score&gt;.svg</code>, <code>composition_{q,k,v}.svg</code>.</p>\n"
    << "</body></html>\n";
  return o.str();
}

void write_svgs(const HeadReport& r, const std::string& dir) {
  const ModelConfig& c = r.cfg;
  for (const HeadScoreTable& s : r.scores) {
    if (!s.computed) continue;
    svg::Heatmap h;
    h.title = s.label + ": " + s.description;
    h.x_title = "head";
    h.y_title = "layer";
    h.x_labels = svg::head_labels(c.n_heads);
    h.y_labels = svg::layer_labels(c.n_layers);
    h.values = s.values;
    h.scale = s.name == "copying" ? svg::ColourScale::diverging : svg::ColourScale::sequential;
    h.limit = 1.0;
    h.value_title = s.label;
    svg::write_svg(dir + "/heads_" + s.name + ".svg", svg::heatmap(h));
  }
  if (c.n_layers < 2) return;
  const int L = c.n_layers, H = c.n_heads;
  std::vector<std::string> labels;
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < H; ++h) labels.push_back(head_label({l, h}));
  const std::pair<const char*, const std::vector<double>*> kinds[] = {
      {"q", &r.composition_q}, {"k", &r.composition_k}, {"v", &r.composition_v}};
  for (const auto& [name, comp] : kinds) {
    svg::Heatmap h;
    h.title = std::string(1, char(std::toupper(name[0]))) + "-composition: earlier head (row) -> later head (column)";
    h.x_title = "later head";
    h.y_title = "earlier head";
    h.x_labels = labels;
    h.y_labels = labels;
    h.values.assign(size_t(L * H * L * H), NAN);
    for (int l1 = 0; l1 < L; ++l1)
      for (int l2 = l1 + 1; l2 < L; ++l2)
        for (int h1 = 0; h1 < H; ++h1)
          for (int h2 = 0; h2 < H; ++h2) {
            const size_t i = size_t(((l1 * H + h1) * L + l2) * H + h2);
            h.values[i] = (*comp)[i];
          }
    h.scale = svg::ColourScale::sequential;
    h.value_title = "composition";
    svg::write_svg(dir + "/composition_" + name + ".svg", svg::heatmap(h));
  }
}

}  // namespace

void write_head_report(const HeadReport& report, const std::string& dir) {
  make_output_dir(dir);
  write_h5(report, dir + "/heads.h5");
  write_text_file_atomically(dir + "/heads.json", report_json(report).dump(1) + "\n");
  write_text_file_atomically(dir + "/heads.txt", head_report_text(report));
  write_text_file_atomically(dir + "/heads.html", report_html(report));
  write_svgs(report, dir);
}

}  // namespace headlab
