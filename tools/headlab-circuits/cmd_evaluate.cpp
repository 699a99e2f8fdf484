// headlab-circuits evaluate: the faithfulness of a circuit, f = (m(C) - m(empty)) / (m(full) - m(empty)),
// every edge outside the circuit patched from the corrupted run in one masked forward. The circuit is
// a JSON edge list (--circuit, as eap / acdc write it, or {"edges": ["L0H1->L1H2:k", ...]}) or the
// best edges of a scores file (--scores PREFIX.h5 from eap / acdc, with --top-n / --top-percent /
// --threshold); --mib adds the MIB curve, CPR and CMD of the scores. --scores may be given several
// times with --mib (EAP, EAP-IG and ACDC on the same task): one curve each, in one plot, and a table.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "circuits/circuit_export.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/cmd_edge_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {

namespace {

constexpr const char* kUsage =
    "usage: headlab-circuits evaluate --checkpoint CKPT --data TASK.h5 (--circuit C.json | --scores S.h5\n"
    "       [--top-n N | --top-percent P | --threshold T] [--absolute] [--mib] [--roc-truth T.json])\n"
    "       (--out PREFIX | --out-dir DIR)\n"
    "--roc-truth: the ROC AUC of each scores file's edge scores against T.json's edges as the true set (ACDC's\n"
    "kept edges, say): the chance that a true edge outranks a false one, by signed score and by |score|.";

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
  std::string circuit_path, truth_path;
  std::vector<std::string> scores_paths;
  bool mib = false;
  po::options_description opts("headlab-circuits evaluate");
  add_common_options(opts, o);
  add_circuit_options(opts, choice);
  opts.add_options()("circuit", po::value<std::string>(&circuit_path), "circuit file (.json): its in_graph edges")(
      "scores", po::value<std::vector<std::string>>(&scores_paths),
      "edge scores (.h5 from eap or acdc): the circuit from its best edges; several with --mib: one curve each")(
      "mib", po::bool_switch(&mib), "with --scores: the MIB curve, CPR and CMD")(
      "roc-truth", po::value<std::string>(&truth_path),
      "with --scores: ROC AUC of the scores against this circuit file's edges (.json) as the true set");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, opts, kUsage, &vm)) return 0;
  check_common_options(o, "evaluate");
  check_circuit_choice(vm, choice);
  if (circuit_path.empty() == scores_paths.empty())
    throw InputError("--circuit / --scores", "give exactly one of them");
  if (!circuit_path.empty() && (vm.count("top-n") || vm.count("top-percent") || vm.count("threshold") || mib))
    throw InputError("--circuit",
                     "evaluates the file's edges as they are; --top-n, --threshold and --mib need --scores");
  if (!truth_path.empty() && scores_paths.empty()) throw InputError("--roc-truth", "ranks edge scores: give --scores");
  if (scores_paths.size() > 1 && !mib)
    throw InputError("--scores", "several score files are compared by their MIB curves: add --mib");
  const MetricKind metric = parse_metric(o.metric);
  const OutputPaths out = output_paths(o, "evaluate");
  check_circuit_outputs(out);
  LoadedModel m = load_model(o);
  const EdgeGraph g(m.checkpoint.config);
  std::vector<EdgeMatrix> scores;
  EdgeMatrix keep;
  std::string how;
  if (!circuit_path.empty()) {
    keep = read_circuit(circuit_path, g);
    scores.push_back(keep);
    how = "edges of " + circuit_path;
  } else {
    for (const std::string& path : scores_paths) scores.push_back(read_scores(path, g));
    keep = choose_circuit(g, scores[0], choice, how);
  }
  EdgeMatrix truth;
  std::vector<double> auc_signed, auc_abs;
  if (!truth_path.empty()) {
    truth = read_circuit(truth_path, g);
    const int64_t n_true = count_edges(g, truth);
    if (n_true == 0 || n_true == g.n_edges())
      throw InputError("--roc-truth " + truth_path, "keeps " + std::to_string(n_true) + " of " +
                                                        std::to_string(g.n_edges()) +
                                                        " edges: a ROC AUC needs true and false edges");
    for (const EdgeMatrix& sc : scores) {
      auc_signed.push_back(edge_roc_auc(g, sc, truth, Ranking::signed_score));
      auc_abs.push_back(edge_roc_auc(g, sc, truth, Ranking::absolute));
    }
  }
  LoadedTask t = load_task(o, metric, PairsNeeded::yes, m.checkpoint.config);
  const MaskedMetric fm = masked_metric(*m.model, t.task, keep, metric, o.batch_size);
  std::vector<MibCurve> cpr, cmd;  // one per scores file
  if (mib)
    for (const EdgeMatrix& s : scores) {
      cpr.push_back(mib_curve(*m.model, t.task, g, s, Ranking::signed_score, metric, o.batch_size, progress));
      cmd.push_back(mib_curve(*m.model, t.task, g, s, Ranking::absolute, metric, o.batch_size, progress));
    }
  nlohmann::json settings = {{"circuit", how},
                             {"metric", to_string(metric)},
                             {"checkpoint", o.checkpoint},
                             {"data", o.data},
                             {"n_rows", t.task.n},
                             {"faithfulness", faithfulness(fm)},
                             {"circuit_metric", fm.masked},
                             {"clean_metric", fm.clean},
                             {"corrupted_metric", fm.corrupted}};
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
  write_edge_arrays(root, g, scores[0], keep);
  std::vector<std::string> names;
  for (const std::string& path : scores_paths) names.push_back(std::filesystem::path(path).stem().string());
  if (mib) {
    const int64_t n = int64_t(cpr.size()), p = int64_t(mib_percentages().size());
    std::vector<double> f_cpr, f_cmd, a_cpr, a_cmd;
    std::string files;
    for (size_t i = 0; i < cpr.size(); ++i) {
      f_cpr.insert(f_cpr.end(), cpr[i].faithfulness.begin(), cpr[i].faithfulness.end());
      f_cmd.insert(f_cmd.end(), cmd[i].faithfulness.begin(), cmd[i].faithfulness.end());
      a_cpr.push_back(cpr[i].area);
      a_cmd.push_back(cmd[i].area);
      files += scores_paths[i] + "\n";
    }
    root.write<double>("mib_percent", mib_percentages());
    root.write<double>("cpr_faithfulness", f_cpr.data(), {n, p});  // [scores file, percentage]
    root.write<double>("cmd_faithfulness", f_cmd.data(), {n, p});
    root.write<double>("cpr_all", a_cpr);
    root.write<double>("cmd_all", a_cmd);
    root.write_string("scores_files", files);
    root.set_attr("cpr", a_cpr[0]);
    root.set_attr("cmd", a_cmd[0]);
  }
  if (!truth_path.empty()) {
    root.set_attr("roc_truth", truth_path);
    root.write<double>("roc_auc_signed", auc_signed);
    root.write<double>("roc_auc_abs", auc_abs);
    settings["roc_truth"] = truth_path;
    settings["roc_auc_signed"] = auc_signed;
    settings["roc_auc_abs"] = auc_abs;
  }
  file.commit();
  written.add(out.h5());
  std::vector<svg::Picture> extra;
  if (mib) {
    std::vector<std::pair<std::string, MibCurve>> s_curves, a_curves;
    for (size_t i = 0; i < cpr.size(); ++i) {
      s_curves.push_back({names[i], cpr[i]});
      a_curves.push_back({names[i], cmd[i]});
    }
    extra.push_back(mib_picture(s_curves, "faithfulness, edges ranked by signed score (area: CPR)"));
    extra.push_back(mib_picture(a_curves, "faithfulness, edges ranked by |score| (area of |1 - f|: CMD)"));
  }
  write_circuit_files(out, written, g, scores[0], keep, settings, "circuit: " + how, extra);
  written.keep();

  std::printf("circuit: %s: %lld of %lld edges\n", how.c_str(), (long long)count_edges(g, keep),
              (long long)g.n_edges());
  std::printf("%s over %lld rows: circuit %.4f, clean %.4f, corrupted %.4f -> faithfulness %.4f\n",
              to_string(metric).c_str(), (long long)t.task.n, fm.masked, fm.clean, fm.corrupted, faithfulness(fm));
  if (mib) {
    std::printf("MIB (%s): CPR = area under f, signed ranking; CMD = area under |1 - f|, |score| ranking\n",
                to_string(metric).c_str());
    std::printf("  %-16s %7s %7s   f at", "scores", "CPR", "CMD");
    for (double p : mib_percentages()) std::printf(" %5g%%", p);
    std::printf(" (signed ranking)\n");
    for (size_t i = 0; i < cpr.size(); ++i) {
      std::printf("  %-16s %7.4f %7.4f       ", names[i].c_str(), cpr[i].area, cmd[i].area);
      for (double f : cpr[i].faithfulness) std::printf(" %6.3f", f);
      std::printf("\n");
    }
  }
  if (!truth_path.empty()) {
    std::printf("ROC AUC against the %lld edges of %s as the true set (of %lld):\n", (long long)count_edges(g, truth),
                truth_path.c_str(), (long long)g.n_edges());
    for (size_t i = 0; i < scores.size(); ++i)
      std::printf("  %-16s signed score %.4f   |score| %.4f\n", scores_paths[i].c_str(), auc_signed[i], auc_abs[i]);
  }
  std::printf("wrote %s, %s, %s and %s\n", out.h5().c_str(), json_path(out).c_str(), dot_path(out).c_str(),
              out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
