// The head report (`headlab-circuits heads`): every training-free score of every head of a
// checkpoint (circuits/head_scores.h, circuits/composition.h), the role each head earns where a
// score passes a stated threshold, named with the four stages of the attention-head survey
// (Zheng et al. 2024: Knowledge Recalling, In-Context Identification, Latent Reasoning,
// Expression Preparation), and the files people and programs read:
//
//   DIR/heads.h5    root attributes format = "headlab.head_scores", format_version = 1,
//                   checkpoint, model_hash, n_layers, n_heads, probe_* settings,
//                   weight_processing (none | transformer_lens), thresholds_json;
//                   /scores/<name> float32 [n_layers, n_heads] for each computed score (and
//                   /scores attributes <name>_description, <name>_source); /not_computed/<name>
//                   string: why a score is missing;
//                   /composition/{q,k,v} float32 [n_layers, n_heads, n_layers, n_heads] (0 where
//                   the second head is not in a later layer); /probe: attributes icl_score,
//                   icl_early, icl_late, loss_first_half, loss_repeated_half, loss_all;
//                   /roles string: the role lines.
//   DIR/heads.json  the same as one JSON object.
//   DIR/heads.txt   the role lines, the thresholds, a table of every score of every head, and the
//                   strongest composition pairs.
//   DIR/heads.html  the same tables, shaded.
//   DIR/heads_<score>.svg, DIR/composition_{q,k,v}.svg   heatmaps (circuits/svg_plot.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "circuits/composition.h"
#include "circuits/head_scores.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace headlab {

struct HeadReportOptions {
  int64_t half_len = 0;  // repeated length n of the probe (BOS + 2n tokens); 0: min(50, n_ctx / 2)
  int64_t n_seq = 10;    // probe sequences (TransformerLens' demo uses 10)
  uint64_t seed = 0;     // the probe's tokens, and the successor / retrieval rows built here
  ProbeOptions probe;
  // Task datasets (data/token_dataset.h sequences with /answer), tokenized like the model; empty:
  // built from the checkpoint's tokenizer with data/tasks.h, where it has one.
  std::string successor_data, retrieval_data;
  std::string device = "cpu";  // the model's forwards; the weight-space scores run on the CPU
  int threads = 0;
  // The weights copying and composition read (circuits/composition.h): as stored (the published
  // formulas; TransformerLens' model.OV on this state_dict) or TransformerLens-processed.
  WeightProcessing weights = WeightProcessing::none;
};

// One score of every head.
struct HeadScoreTable {
  std::string name;         // dataset name: previous_token, induction_stripe ...
  std::string label;        // short form in text: "prev-token"
  std::string description;  // what it measures, on what input
  std::string source;       // the paper or tool it follows
  bool computed = false;
  std::string not_computed;    // why, when not computed
  std::vector<double> values;  // [n_layers * n_heads], layer-major
};

// A role: a head whose score passes a threshold (above, or below for negative scores).
struct RoleRule {
  std::string score;  // HeadScoreTable::name
  double threshold = 0;
  bool below = false;  // the role is earned by a score < threshold
  std::string role;    // "induction head"
  std::string stage;   // the survey's stage, or "no survey stage"
  std::string basis;   // where the threshold comes from
};
// The rules, in the order roles are listed.
const std::vector<RoleRule>& role_rules();

struct HeadRole {
  int layer = 0, head = 0;
  const RoleRule* rule = nullptr;
  double value = 0;
  std::string line;  // "L1H3  induction head  (Latent Reasoning)  induction_stripe 0.93 > 0.4; ..."
};

struct HeadReport {
  ModelConfig cfg;
  std::string checkpoint, model_hash;
  int64_t half_len = 0, n_seq = 0;
  uint64_t seed = 0;
  DetectOptions detect;
  std::vector<HeadRef> ablated;  // heads ablated in the probe's forwards (ProbeOptions::ablate)
  ProbeAblation ablation = ProbeAblation::zero;
  WeightProcessing weights = WeightProcessing::none;  // what copying and composition read
  std::string successor_source, retrieval_source;     // where the task rows came from
  std::vector<HeadScoreTable> scores;
  std::vector<double> composition_q, composition_k, composition_v;  // [L, H, L, H]
  ProbeScores probe;
  std::vector<HeadRole> roles;
  std::vector<std::string> notes;  // caveats about the roles (report_notes)

  const HeadScoreTable* score(const std::string& name) const;  // nullptr when absent
};

// Loads nothing: the caller passes the checkpoint it read (and its path, for the record).
// InputError for options that do not fit the model (a probe longer than n_ctx, a task file whose
// tokens are outside the vocabulary or rows longer than n_ctx ...).
HeadReport compute_head_report(const Checkpoint& ckpt, const std::string& checkpoint_path,
                               const HeadReportOptions& options);

// The roles the scores earn (role_rules()), by layer, head, rule order.
std::vector<HeadRole> name_roles(const HeadReport& report);
// Caveats a reader needs beside the roles: an "induction head" in layer 0, where no earlier head can
// supply the previous token, is a positional head attending n - 1 back (the probe's period).
std::vector<std::string> report_notes(const HeadReport& report);

// Writes every file listed above into dir (created when missing). Each file atomically.
// InputError when dir cannot be created or written.
void write_head_report(const HeadReport& report, const std::string& dir);

// The text of heads.txt.
std::string head_report_text(const HeadReport& report);

// Shared by the report's computation, its renderers (head_report_files.cpp) and the formation report:
// a number with `digits` decimals; how the weights were read, in words.
std::string fixed(double v, int digits = 2);
std::string weights_phrase(WeightProcessing p);
// The heads ablated during the probe, in words ("L0H1, L0H3 mean-ablated (hook_z) in every probe forward").
std::string ablated_heads_phrase(const HeadReport& r);

// Shared with the formation report: a directory made with its parents (InputError when it cannot be).
void make_output_dir(const std::string& dir);

}  // namespace headlab
