// headlab-circuits evaluate: the faithfulness of a circuit, f = (m(C) - m(empty)) / (m(full) - m(empty)),
// every edge outside the circuit patched from the corrupted run in one masked forward. The circuit is
// a JSON edge list (--circuit, as eap / acdc write it, or {"edges": ["L0H1->L1H2:k", ...]}) or the
// best edges of a scores file (--scores PREFIX.h5 from eap / acdc, with --top-n / --top-percent /
// --threshold); --mib adds the MIB curve, CPR and CMD of the scores.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "circuits/circuit_export.h"
#include "circuits/cmd_common.h"
#include "circuits/cmd_edge_common.h"
#include "circuits/commands.h"
#include "data/output_files.h"
#include "model/errors.h"

namespace headlab::circuits_cli {

namespace {

constexpr const char* kUsage =
    "usage: headlab-circuits evaluate --checkpoint CKPT --data TASK.h5 (--circuit C.json | --scores S.h5\n"
    "       [--top-n N | --top-percent P | --threshold T] [--absolute] [--mib]) (--out PREFIX | --out-dir DIR)";

EdgeMatrix read_circuit(const std::string& path, const EdgeGraph& g) {
  std::ifstream in(path);
  if (!in) throw InputError("--circuit " + path, "cannot be opened");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw InputError("--circuit " + path, std::string("not JSON: ") + e.what());
  }
  return circuit_from_json(g, j, "--circuit " + path);
}

EdgeMatrix read_scores(const std::string& path, const EdgeGraph& g) {
  return reading("--scores", [&] {
    const h5::File f = h5::File::open(path);
    std::vector<float> s = f.read<float>("scores", {g.n_src(), g.n_dst()});
    for (float v : s)
      if (!std::isfinite(v)) throw InputError(path + ": /scores", "holds NaN or inf");
    return s;
  });
}

}  // namespace

int cmd_evaluate(int argc, char** argv) {
  CommonOptions o;
  CircuitChoice choice;
  std::string circuit_path, scores_path;
  bool mib = false;
  po::options_description opts("headlab-circuits evaluate");
  add_common_options(opts, o);
  add_circuit_options(opts, choice);
  opts.add_options()("circuit", po::value<std::string>(&circuit_path), "circuit file (.json): its in_graph edges")(
      "scores", po::value<std::string>(&scores_path),
      "edge scores (.h5 from eap or acdc): the circuit from its best edges")(
      "mib", po::bool_switch(&mib), "with --scores: the MIB curve, CPR and CMD");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, opts, kUsage, &vm)) return 0;
  check_common_options(o, "evaluate");
  check_circuit_choice(vm, choice);
  if (circuit_path.empty() == scores_path.empty()) throw InputError("--circuit / --scores", "give exactly one of them");
  if (!circuit_path.empty() && (vm.count("top-n") || vm.count("top-percent") || vm.count("threshold") || mib))
    throw InputError("--circuit",
                     "evaluates the file's edges as they are; --top-n, --threshold and --mib need --scores");
  const MetricKind metric = parse_metric(o.metric);
  const OutputPaths out = output_paths(o, "evaluate");
  check_circuit_outputs(out);
  LoadedModel m = load_model(o);
  const EdgeGraph g(m.checkpoint.config);
  EdgeMatrix scores, keep;
  std::string how;
  if (!circuit_path.empty()) {
    keep = read_circuit(circuit_path, g);
    scores = keep;
    how = "edges of " + circuit_path;
  } else {
    scores = read_scores(scores_path, g);
    keep = choose_circuit(g, scores, choice, how);
  }
  LoadedTask t = load_task(o, metric, PairsNeeded::yes, m.checkpoint.config);
  const MaskedMetric fm = masked_metric(*m.model, t.task, keep, metric, o.batch_size);
  MibCurve cpr, cmd;
  if (mib) {
    cpr = mib_curve(*m.model, t.task, g, scores, Ranking::signed_score, metric, o.batch_size, progress);
    cmd = mib_curve(*m.model, t.task, g, scores, Ranking::absolute, metric, o.batch_size, progress);
  }
  nlohmann::json settings = {{"circuit", how}, {"metric", to_string(metric)}, {"checkpoint", o.checkpoint},
                             {"data", o.data}, {"n_rows", t.task.n},          {"faithfulness", faithfulness(fm)}};
  OutputFiles written;
  out.make_folders();
  h5::AtomicFile file(out.h5());
  h5::Group root = file.file();
  write_provenance(root, "headlab.evaluate", o, m, t.task);
  root.set_attr("metric", to_string(metric));
  root.set_attr("circuit_choice", how);
  root.set_attr("faithfulness", faithfulness(fm));
  root.set_attr("circuit_metric", fm.masked);
  root.set_attr("clean_metric", fm.clean);
  root.set_attr("corrupted_metric", fm.corrupted);
  write_edge_arrays(root, g, scores, keep);
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
  if (mib) extra.push_back(mib_picture({{"signed ranking", cpr}, {"|score| ranking", cmd}}, "MIB curve"));
  write_circuit_files(out, written, g, scores, keep, settings, "circuit: " + how, extra);
  written.keep();

  std::printf("circuit: %s: %lld of %lld edges\n", how.c_str(), (long long)count_edges(g, keep),
              (long long)g.n_edges());
  std::printf("%s over %lld rows: circuit %.4f, clean %.4f, corrupted %.4f -> faithfulness %.4f\n",
              to_string(metric).c_str(), (long long)t.task.n, fm.masked, fm.clean, fm.corrupted, faithfulness(fm));
  if (mib) {
    std::printf("MIB: CPR %.4f, CMD %.4f\n", cpr.area, cmd.area);
    for (size_t i = 0; i < cpr.percent.size(); ++i)
      std::printf("  %6.1f%%  f(signed) %+.4f  f(abs) %+.4f\n", cpr.percent[i], cpr.faithfulness[i],
                  cmd.faithfulness[i]);
  }
  std::printf("wrote %s, %s, %s and %s\n", out.h5().c_str(), json_path(out).c_str(), dot_path(out).c_str(),
              out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
