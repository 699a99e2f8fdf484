// headlab-circuits heads: every training-free score of every head of a checkpoint, the roles they
// earn, and the files (circuits/head_report.h): DIR/heads.{h5,json,txt,html}, DIR/heads_<score>.svg,
// DIR/composition_{q,k,v}.svg.
#include <cstdio>
#include <filesystem>

#include "circuits/head_report.h"
#include "circuits/heads_arg.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "data/dataset_annotations.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {
namespace {

const char* kHeadsUsage =
    "usage: headlab-circuits heads --checkpoint CKPT [--out-dir DIR] [--seq-len N --n-seq N --seed S] [options]\n"
    "Scores every head on repeated random tokens (BOS, r_1..r_n, r_1..r_n): TransformerLens' previous-token,\n"
    "duplicate-token and induction detectors, ARENA's induction-stripe and first-token scores, the\n"
    "in-context-learning score; copying (OV eigenvalues), successor and retrieval scores; Q/K/V composition\n"
    "between heads. Names each head's role where a score passes its threshold, with the survey's stage.";

// More probe sequences than this only repeat the estimate (TransformerLens' demo uses 10).
constexpr int64_t kMaxProbeSequences = 100000;

// A --successor-data / --retrieval-data file made for another task (an ioi dataset passed as the
// retrieval task) would give a score that means nothing; the task attribute headlab-data writes says.
void check_task_file(const std::string& path, const std::string& task, const std::string& option) {
  if (path.empty()) return;
  reading(option, [&] { return read_token_dataset(path); });  // a damaged file is named by its option
  const DatasetAnnotations a = reading(option, [&] { return read_dataset_annotations(path); });
  const auto it = a.attributes.find("task");
  const std::string found = it == a.attributes.end() ? "" : it->second;
  if (!found.empty() && found != task)
    throw InputError(option + " " + path, "is a '" + found + "' task dataset; expected a " + task +
                                              " task dataset (headlab-data task " + task + ")");
}

struct HeadsOptions {
  std::string checkpoint, out_dir, error_measure = "mul", weights = "none", ablate, ablation = "zero";
  HeadReportOptions report;
  bool exclude_bos = false, exclude_current_token = false;
};

}  // namespace

int cmd_heads(int argc, char** argv) {
  HeadsOptions o;
  HeadReportOptions& r = o.report;
  int64_t seed = 0;
  po::options_description opts("headlab-circuits heads");
  opts.add_options()("help", "this help")("checkpoint", po::value(&o.checkpoint), "model checkpoint (.h5)")(
      "out-dir", po::value(&o.out_dir), "output directory (default: <checkpoint's folder>/heads)")(
      "seq-len", po::value(&r.half_len)->default_value(0),
      "n, the repeated length of the probe (BOS + 2n tokens); 0 = min(50, n_ctx / 2)")(
      "n-seq", po::value(&r.n_seq)->default_value(r.n_seq), "probe sequences")(
      "seed", po::value(&seed)->default_value(0), "seed of the probe's tokens and of the task rows built here")(
      "batch-size", po::value(&r.probe.batch_size)->default_value(r.probe.batch_size), "sequences per forward")(
      "exclude-bos", po::bool_switch(&o.exclude_bos), "detect_head: ignore attention to position 0")(
      "exclude-current-token", po::bool_switch(&o.exclude_current_token),
      "detect_head: ignore attention from a position to itself")(
      "error-measure", po::value(&o.error_measure)->default_value(o.error_measure), "detect_head: mul | abs")(
      "weights", po::value(&o.weights)->default_value(o.weights),
      "weights copying and composition read: none (as stored) | transformer_lens (fold_ln, centred, as "
      "from_pretrained)")("icl-early", po::value(&r.probe.icl_early)->default_value(-1),
                          "ICL score: the early query position (default max(1, n/2))")(
      "icl-late", po::value(&r.probe.icl_late)->default_value(-1),
      "ICL score: the late query position (default early + n: the same token, repeated)")(
      "successor-data", po::value(&r.successor_data),
      "successor task dataset for the successor score (default: built with the checkpoint's tokenizer)")(
      "retrieval-data", po::value(&r.retrieval_data),
      "retrieval task dataset for the retrieval score (default: built with the checkpoint's tokenizer)")(
      "ablate", po::value(&o.ablate),
      "heads (L0H1,L1H2) ablated at hook_z in every probe forward: the scores, losses and ICL score without them")(
      "ablation", po::value(&o.ablation)->default_value(o.ablation),
      "--ablate: zero | mean (each position's mean of hook_z over the probe's sequences) | first_token (attention "
      "to position 0 removed, the rest renormalised)")("device", po::value(&r.device)->default_value(r.device),
                                                       "cpu | cuda: the model's forwards")(
      "threads", po::value(&r.threads)->default_value(0), "CPU threads (0 = every core)");
  if (!parse_command_line(argc, argv, opts, kHeadsUsage)) return 0;
  if (o.checkpoint.empty()) throw InputError("--checkpoint", "is required");
  if (o.error_measure != "mul" && o.error_measure != "abs")
    throw InputError("--error-measure", "expected mul or abs, got '" + o.error_measure + "'");
  r.weights = parse_weight_processing(o.weights, "--weights");
  r.seed = seed_value(seed);
  if (r.n_seq < 1 || r.n_seq > kMaxProbeSequences)
    throw InputError("--n-seq", "expected 1 to " + std::to_string(kMaxProbeSequences) + " probe sequences, got " +
                                    std::to_string(r.n_seq));
  if (r.probe.icl_early < -1 || r.probe.icl_late < -1)
    throw InputError(r.probe.icl_early < -1 ? "--icl-early" : "--icl-late",
                     "expected a position >= 0 (or -1 for the default)");
  require_cpu_threads(r.threads);
  check_task_file(r.successor_data, "successor", "--successor-data");
  check_task_file(r.retrieval_data, "retrieval", "--retrieval-data");
  r.probe.detect.measure = o.error_measure == "mul" ? ErrorMeasure::mul : ErrorMeasure::abs;
  r.probe.detect.exclude_bos = o.exclude_bos;
  r.probe.detect.exclude_current_token = o.exclude_current_token;
  if (o.out_dir.empty()) {
    const std::filesystem::path parent = std::filesystem::path(o.checkpoint).parent_path();
    o.out_dir = (parent.empty() ? std::filesystem::path("heads") : parent / "heads").string();
  }

  if (o.ablation == "zero") {
    r.probe.ablation = ProbeAblation::zero;
  } else if (o.ablation == "mean") {
    r.probe.ablation = ProbeAblation::mean;
  } else if (o.ablation == "first_token") {
    r.probe.ablation = ProbeAblation::first_token;
  } else {
    throw InputError("--ablation", "expected zero, mean or first_token, got '" + o.ablation + "'");
  }

  check_output_dir(o.out_dir, "--out-dir");
  const Checkpoint ckpt = reading("--checkpoint", [&] { return read_checkpoint(o.checkpoint); });
  require_finite_params(ckpt, "--checkpoint " + o.checkpoint);
  if (!o.ablate.empty()) r.probe.ablate = parse_head_list(o.ablate, ckpt.config, "--ablate");
  // The default probe (n = min(50, n_ctx / 2), at least 2) needs n_ctx >= 4: say so in the model's
  // terms rather than in those of a --seq-len the user never gave.
  if (r.half_len == 0 && ckpt.config.n_ctx < 4)
    throw InputError("--checkpoint " + o.checkpoint,
                     "the model's context n_ctx = " + std::to_string(ckpt.config.n_ctx) +
                         " is too short for the induction probe (BOS + 2 x n random tokens, n >= 2, needs n_ctx >= 4)");
  const HeadReport report = compute_head_report(ckpt, o.checkpoint, r);
  // Written into a staging folder and moved into place whole: a failure leaves no half report.
  StagedDir staged(o.out_dir, "--out-dir");
  write_head_report(report, staged.path());
  staged.commit();
  if (!report.ablated.empty())
    std::printf("probe with %s; loss first half %.3f, repeated half %.3f, ICL score %.3f\n",
                ablated_heads_phrase(report).c_str(), report.probe.loss_first_half, report.probe.loss_repeated_half,
                report.probe.icl_score);
  std::printf("roles (thresholds and every score in %s/heads.txt):\n", o.out_dir.c_str());
  if (report.roles.empty()) std::printf("  (no head passes a threshold)\n");
  for (const HeadRole& role : report.roles) std::printf("  %s\n", role.line.c_str());
  for (const std::string& note : report.notes) std::printf("note: %s\n", note.c_str());
  for (const HeadScoreTable& s : report.scores)
    if (!s.computed) std::printf("not computed: %s: %s\n", s.name.c_str(), s.not_computed.c_str());
  std::printf(
      "wrote %s/heads.h5, heads.json, heads.txt, heads.html and the heatmaps heads_<score>.svg, "
      "composition_{q,k,v}.svg\n",
      o.out_dir.c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
