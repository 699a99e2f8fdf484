// headlab-circuits acdc: ACDC (Conmy et al. 2023) on the masked-edge primitive, the slow baseline.
// Outputs: PREFIX.h5 (format headlab.acdc: /circuit [n_src, n_dst] the kept edges, /scores the
// loss change measured when each edge was tried), PREFIX.json, PREFIX.dot, PREFIX.svg.
#include <cstdio>

#include "circuits/acdc.h"
#include "circuits/edge_attribution.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/cmd_edge_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {

namespace {

constexpr const char* kUsage =
    "usage: headlab-circuits acdc --checkpoint CKPT --data TASK.h5 --threshold T (--out PREFIX | --out-dir DIR)\n"
    "Visits the destinations from the logits back; each incoming edge is patched from the corrupted run and\n"
    "stays patched when the loss (KL(clean || run) by default; -metric for logit_diff, prob, prob_diff) rises by less\n"
    "than T. One masked forward per edge tried.";

}  // namespace

int cmd_acdc(int argc, char** argv) {
  CommonOptions o;
  o.metric = "kl";
  o.batch_size = 64;
  double threshold = -1;
  bool mib = false;
  po::options_description opts("headlab-circuits acdc");
  add_common_options(opts, o);
  opts.add_options()("threshold", po::value<double>(&threshold),
                     "tau: an edge stays patched when the loss rises by less")(
      "mib", po::bool_switch(&mib), "also the MIB curve of the edges ranked by the loss change ACDC measured");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, opts, kUsage, &vm)) return 0;
  check_common_options(o, "acdc");
  if (!vm.count("threshold")) throw InputError("--threshold", "is required (e.g. 0.01)");
  if (!std::isfinite(threshold) || threshold < 0)
    throw InputError("--threshold", "expected a finite number >= 0, got " + std::to_string(threshold));
  AcdcOptions aopt;
  aopt.threshold = threshold;
  aopt.metric = parse_metric(o.metric);
  aopt.batch_size = o.batch_size;
  aopt.progress = progress;
  const OutputPaths out = output_paths(o, "acdc");
  check_circuit_outputs(out);
  LoadedModel m = load_model(o);
  LoadedTask t = load_task(o, aopt.metric, PairsNeeded::yes, m.checkpoint.config);

  const AcdcResult r = run_acdc(*m.model, t.task, aopt);
  const EdgeGraph& g = r.graph;
  const MaskedMetric fm = masked_metric(*m.model, t.task, r.keep, aopt.metric, o.batch_size);
  MibCurve cpr, cmd;
  if (mib) {
    cpr = mib_curve(*m.model, t.task, g, r.change, Ranking::signed_score, aopt.metric, o.batch_size, progress);
    cmd = mib_curve(*m.model, t.task, g, r.change, Ranking::absolute, aopt.metric, o.batch_size, progress);
  }
  const std::string how = "ACDC, threshold " + std::to_string(threshold);
  nlohmann::json settings = {{"method", "ACDC"},
                             {"threshold", threshold},
                             {"metric", to_string(aopt.metric)},
                             {"checkpoint", o.checkpoint},
                             {"data", o.data},
                             {"n_rows", t.task.n},
                             {"faithfulness", faithfulness(fm)},
                             {"edges_tested", r.edges_tested},
                             {"forwards", r.forwards}};
  if (mib) {
    settings["cpr"] = cpr.area;
    settings["cmd"] = cmd.area;
  }
  OutputFiles written;
  out.make_folders();
  h5::AtomicFile file(out.h5());
  h5::Group root = file.file();
  write_provenance(root, "headlab.acdc", o, m, t.task);
  root.set_attr("metric", to_string(aopt.metric));
  root.set_attr("threshold", threshold);
  root.set_attr("score", "loss change when the edge was tried (loss = KL(clean || run), or -metric)");
  root.set_attr("final_loss", r.final_loss);
  root.set_attr("clean_loss", r.clean_loss);
  root.set_attr("corrupted_loss", r.corrupted_loss);
  root.set_attr("faithfulness", faithfulness(fm));
  root.set_attr("edges_tested", int64_t(r.edges_tested));
  root.set_attr("forwards", int64_t(r.forwards));
  write_edge_arrays(root, g, r.change, r.keep);
  if (mib) {
    root.write<double>("mib_percent", cpr.percent);
    root.write<double>("cpr_faithfulness", cpr.faithfulness);
    root.write<double>("cmd_faithfulness", cmd.faithfulness);
    root.set_attr("cpr", cpr.area);
    root.set_attr("cmd", cmd.area);
  }
  file.commit();
  written.add(out.h5());
  std::vector<svg::Picture> extra;
  if (mib) extra.push_back(mib_picture({{"ACDC (signed)", cpr}, {"ACDC (abs)", cmd}}, "MIB curve"));
  write_circuit_files(out, written, g, r.change, r.keep, settings, how, extra);
  written.keep();

  std::printf("ACDC over %lld rows, loss %s, threshold %g: %lld of %lld edges kept (%lld tried, %lld forwards)\n",
              (long long)t.task.n,
              aopt.metric == MetricKind::kl ? "KL(clean || run)" : ("-" + to_string(aopt.metric)).c_str(), threshold,
              (long long)count_edges(g, r.keep), (long long)g.n_edges(), (long long)r.edges_tested,
              (long long)r.forwards);
  std::printf("loss: clean %.4f, corrupted %.4f, circuit %.4f; faithfulness %.4f\n", r.clean_loss, r.corrupted_loss,
              r.final_loss, faithfulness(fm));
  print_top_edges(g, r.change, r.keep, 12);
  if (mib) std::printf("MIB (edges ranked by ACDC's loss change): CPR %.4f, CMD %.4f\n", cpr.area, cmd.area);
  std::printf("wrote %s, %s, %s and %s\n", out.h5().c_str(), json_path(out).c_str(), dot_path(out).c_str(),
              out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
