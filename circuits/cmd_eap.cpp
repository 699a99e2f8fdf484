// headlab-circuits eap: edge attribution patching (EAP) and EAP-IG over every edge of the model's
// graph, the circuit it gives, and with --mib the MIB faithfulness curve with CPR and CMD.
// Outputs: PREFIX.h5 (format headlab.eap: /scores and /circuit [n_src, n_dst], node names, and with
// --mib /mib_percent, /cpr_faithfulness, /cmd_faithfulness), PREFIX.json, PREFIX.dot, PREFIX.svg.
#include <cstdio>

#include "circuits/cmd_common.h"
#include "circuits/cmd_edge_common.h"
#include "circuits/commands.h"
#include "circuits/edge_attribution.h"
#include "data/output_files.h"
#include "model/errors.h"

namespace headlab::circuits_cli {

namespace {

constexpr const char* kUsage =
    "usage: headlab-circuits eap --checkpoint CKPT --data TASK.h5 (--out PREFIX | --out-dir DIR) [--ig [K]]\n"
    "       [--ig-mode inputs|clean-corrupted] [--top-n N | --top-percent P | --threshold T] [--absolute] [--mib]\n"
    "Scores every edge u -> v of the graph (input, heads L{l}H{h}, MLPs M{l} -> q/k/v inputs, MLP inputs, logits)\n"
    "with (a_u^corrupted - a_u^clean) . d loss / d in_v, loss = -metric (KL for --metric kl): positive = the edge\n"
    "carries the behaviour. EAP: gradients at the clean run (2 forwards + 1 backward per batch). --ig K: EAP-IG,\n"
    "gradients averaged over inputs interpolated at the embeddings, alpha = k/K for k = 0..K-1 (left Riemann sum;\n"
    "K = 5 when --ig has no value). Clean and corrupted rows must have the same token count.";

}  // namespace

int cmd_eap(int argc, char** argv) {
  CommonOptions o;
  CircuitChoice choice;
  int ig = 0;
  std::string ig_mode = "inputs";
  bool mib = false;
  po::options_description opts("headlab-circuits eap");
  add_common_options(opts, o);
  add_circuit_options(opts, choice);
  opts.add_options()("ig", po::value<int>(&ig)->implicit_value(5), "EAP-IG with K interpolation steps (default 5)")(
      "ig-mode", po::value<std::string>(&ig_mode)->default_value(ig_mode),
      "inputs (interpolate the embeddings) | clean-corrupted (gradients at the two end points)")(
      "mib", po::bool_switch(&mib), "also the MIB curve: faithfulness at 0.1..100% of edges, CPR and CMD");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, opts, kUsage, &vm)) return 0;
  check_common_options(o, "eap");
  check_circuit_choice(vm, choice);
  EdgeAttributionOptions eopt;
  eopt.metric = parse_metric(o.metric);
  eopt.batch_size = o.batch_size;
  eopt.progress = progress;
  if (vm.count("ig")) {
    if (ig < 1 || ig > 1000)
      throw InputError("--ig", "expected a number of steps in [1, 1000], got " + std::to_string(ig));
    eopt.method = parse_ig_mode(ig_mode);
    eopt.ig_steps = ig;
  } else if (!vm["ig-mode"].defaulted()) {
    throw InputError("--ig-mode", "only with --ig (EAP-IG)");
  }
  const OutputPaths out = output_paths(o, "eap");
  check_circuit_outputs(out);
  LoadedModel m = load_model(o);
  const ModelConfig& c = m.checkpoint.config;
  LoadedTask t = load_task(o, eopt.metric, PairsNeeded::yes, c);

  const EdgeScores s = attribute_edges(*m.model, t.task, eopt);
  const EdgeGraph& g = s.graph;
  std::string how;
  const EdgeMatrix keep = choose_circuit(g, s.scores, choice, how);
  const MetricKind faith_metric = eopt.metric;  // f of KL: 1 - KL(C) / KL(empty)
  const MaskedMetric fm = masked_metric(*m.model, t.task, keep, faith_metric, o.batch_size);
  MibCurve cpr, cmd;
  if (mib) {
    cpr = mib_curve(*m.model, t.task, g, s.scores, Ranking::signed_score, faith_metric, o.batch_size, progress);
    cmd = mib_curve(*m.model, t.task, g, s.scores, Ranking::absolute, faith_metric, o.batch_size, progress);
  }

  const std::string method = to_string(s.method) + (s.ig_steps ? " (K=" + std::to_string(s.ig_steps) + ")" : "");
  nlohmann::json settings = {{"method", method},
                             {"metric", to_string(eopt.metric)},
                             {"checkpoint", o.checkpoint},
                             {"data", o.data},
                             {"n_rows", t.task.n},
                             {"circuit", how},
                             {"faithfulness", faithfulness(fm)},
                             {"faithfulness_metric", to_string(faith_metric)}};
  if (mib) {
    settings["cpr"] = cpr.area;
    settings["cmd"] = cmd.area;
  }
  OutputFiles written;
  out.make_folders();
  h5::AtomicFile file(out.h5());
  h5::Group root = file.file();
  write_provenance(root, "headlab.eap", o, m, t.task);
  root.set_attr("method", method);
  root.set_attr("ig_steps", int64_t(s.ig_steps));
  root.set_attr("metric", to_string(eopt.metric));
  root.set_attr("score",
                "mean over rows of (a_src^corrupted - a_src^clean) . d loss / d in_dst, loss = -metric (kl: KL)");
  root.set_attr("clean_metric", s.clean_metric);
  root.set_attr("corrupted_metric", s.corrupted_metric);
  root.set_attr("circuit_choice", how);
  root.set_attr("faithfulness", faithfulness(fm));
  root.set_attr("faithfulness_metric", to_string(faith_metric));
  write_edge_arrays(root, g, s.scores, keep);
  if (mib) {
    root.write<double>("mib_percent", cpr.percent);
    root.write<double>("cpr_faithfulness", cpr.faithfulness);
    root.write<double>("cmd_faithfulness", cmd.faithfulness);
    root.write<int64_t>("cpr_edges_kept", cpr.kept);
    root.write<int64_t>("cmd_edges_kept", cmd.kept);
    root.set_attr("cpr", cpr.area);
    root.set_attr("cmd", cmd.area);
  }
  file.commit();
  written.add(out.h5());
  std::vector<svg::Picture> extra;
  if (mib) extra.push_back(mib_picture({{method + " (signed)", cpr}, {method + " (abs)", cmd}}, "MIB curve"));
  write_circuit_files(out, written, g, s.scores, keep, settings, method + " circuit: " + how, extra);
  written.keep();

  std::printf("%s over %lld rows, metric %s: clean %.4f, corrupted %.4f (%lld forwards, %lld backwards)\n",
              method.c_str(), (long long)s.n_rows, to_string(eopt.metric).c_str(), s.clean_metric, s.corrupted_metric,
              (long long)s.forwards, (long long)s.backwards);
  std::printf("graph: %d sources, %d destinations, %lld edges\n", g.n_src(), g.n_dst(), (long long)g.n_edges());
  std::printf("circuit: %s: %lld edges, faithfulness %.4f (%s: circuit %.4f, clean %.4f, corrupted %.4f)\n",
              how.c_str(), (long long)count_edges(g, keep), faithfulness(fm), to_string(faith_metric).c_str(),
              fm.masked, fm.clean, fm.corrupted);
  print_top_edges(g, s.scores, keep, 12);
  if (mib) {
    std::printf("MIB: CPR %.4f (signed ranking, higher is better), CMD %.4f (|score| ranking, 0 is best)\n", cpr.area,
                cmd.area);
    for (size_t i = 0; i < cpr.percent.size(); ++i)
      std::printf("  %6.1f%%  f(signed) %+.4f (%lld edges)  f(abs) %+.4f (%lld edges)\n", cpr.percent[i],
                  cpr.faithfulness[i], (long long)cpr.kept[i], cmd.faithfulness[i], (long long)cmd.kept[i]);
  }
  std::printf("wrote %s, %s, %s and %s\n", out.h5().c_str(), json_path(out).c_str(), dot_path(out).c_str(),
              out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
