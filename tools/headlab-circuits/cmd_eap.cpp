// headlab-circuits eap: edge attribution patching (EAP) and EAP-IG over every edge of the model's
// graph, the circuit it gives, and with --mib the MIB faithfulness curve with CPR and CMD.
// Outputs: PREFIX.h5 (format headlab.eap: /scores and /circuit [n_src, n_dst], node names, and with
// --mib /mib_percent, /cpr_faithfulness, /cmd_faithfulness), PREFIX.json, PREFIX.dot, PREFIX.svg.
// With --checkpoints DIR (a training run's folder) every checkpoint is scored instead: PREFIX.h5
// (format headlab.eap_steps: /steps [n], /scores [n, n_src, n_dst], /clean_metric and
// /corrupted_metric [n]) and PREFIX.svg (the strongest edges' scores over the steps).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "circuits/edge_attribution.h"
#include "circuits/ioi_classes.h"
#include "circuits/svg_plot.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "tools/common/rank_job.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/cmd_edge_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {

namespace {

constexpr const char* kUsage =
    "usage: headlab-circuits eap --checkpoint CKPT --data TASK.h5 (--out PREFIX | --out-dir DIR) [--ig [K]]\n"
    "       [--ig-mode inputs|activations|clean-corrupted] [--top-n N | --top-percent P | --threshold T] [--absolute] "
    "[--mib]\n"
    "       [--ioi-classes]\n"
    "Scores every edge u -> v of the graph (input, heads L{l}H{h}, MLPs M{l} -> q/k/v inputs, MLP inputs, logits)\n"
    "with (a_u^corrupted - a_u^clean) . d loss / d in_v, loss = -metric (KL for --metric kl): positive = the edge\n"
    "carries the behaviour. EAP: gradients at the clean run (2 forwards + 1 backward per batch). --ig K: EAP-IG,\n"
    "gradients averaged over inputs interpolated at the embeddings, alpha = k/K for k = 0..K-1 (left Riemann sum;\n"
    "K = 5 when --ig has no value). --ig-mode activations: EAP-IG-activations, each layer node's output (the input,\n"
    "a layer's heads, an MLP) interpolated in turn, alpha = k/K for k = 1..K ((1 + layers + MLPs) K runs).\n"
    "Clean and corrupted rows must have the same token count. --ioi-classes (an IOI dataset): the circuit's heads\n"
    "sorted into Wang et al.'s classes by path patching and attention at the role positions.\n"
    "--checkpoints DIR (instead of --checkpoint): every DIR/checkpoints/step_N.h5 (or DIR/step_N.h5) of a run.";

// Edge scores at every checkpoint of a run, and the strongest edges' rise.
int eap_over_checkpoints(CommonOptions o, const std::string& dir, const EdgeAttributionOptions& eopt) {
  const std::vector<StepCheckpoint> ckpts = find_checkpoints(dir);
  o.checkpoint = ckpts.front().path;
  check_common_options(o, "eap");
  const OutputPaths out = output_paths(o, "eap");
  for (const StepCheckpoint& c : ckpts) check_not_input(out.h5(), out.option, c.path, "--checkpoints");
  // Every rank reads the first checkpoint (the graph, the task); under mpirun each then scores the
  // checkpoints it owns and rank 0 gathers them.
  LoadedModel first = load_model(o);
  const ModelConfig first_cfg = first.checkpoint.config;
  const auto graph = std::make_unique<EdgeGraph>(first_cfg);
  LoadedTask t = load_task(o, eopt.metric, PairsNeeded::yes, first_cfg);
  cli::RankJob& job = cli::rank_job();
  std::string inputs = first.hash + " " + cli::file_fingerprint(o.data);
  for (const StepCheckpoint& c : ckpts) inputs += " " + c.path;
  job.agree(inputs);
  const int64_t n = int64_t(ckpts.size()), cells = graph->n_cells();
  // Per checkpoint: clean metric, corrupted metric, then the scores.
  const size_t width = size_t(cells) + 2;
  std::vector<double> rows(size_t(n) * width, 0.0);
  std::vector<int64_t> steps;
  for (size_t i = 0; i < ckpts.size(); ++i) {
    steps.push_back(ckpts[i].step);
    if (!job.shard().owns(int64_t(i))) continue;
    o.checkpoint = ckpts[i].path;
    LoadedModel m = i == 0 ? std::move(first) : load_model(o);
    if (m.checkpoint.config.n_layers != first_cfg.n_layers || m.checkpoint.config.n_heads != first_cfg.n_heads ||
        m.checkpoint.config.attn_only != first_cfg.attn_only)
      throw InputError("--checkpoints " + ckpts[i].path, "has another shape than " + ckpts.front().path);
    EdgeAttributionOptions quiet = eopt;
    quiet.progress = nullptr;
    const EdgeScores s = attribute_edges(*m.model, t.task, quiet);
    double* row = rows.data() + i * width;
    row[0] = s.clean_metric;
    row[1] = s.corrupted_metric;
    std::copy(s.scores.begin(), s.scores.end(), row + 2);
    progress("step " + std::to_string(ckpts[i].step) + ": " + to_string(eopt.metric) + " clean " +
             std::to_string(s.clean_metric) + ", corrupted " + std::to_string(s.corrupted_metric));
  }
  rows = cli::gather_owned(job, rows, width);
  if (!job.writes()) return 0;
  std::vector<float> all(size_t(n * cells));
  std::vector<double> clean, corrupted;
  for (int64_t k = 0; k < n; ++k) {
    const double* row = rows.data() + k * int64_t(width);
    clean.push_back(row[0]);
    corrupted.push_back(row[1]);
    for (int64_t c = 0; c < cells; ++c) all[size_t(k * cells + c)] = float(row[2 + c]);
  }
  const EdgeGraph& g = *graph;
  // The edges to draw: the largest |score| at any step.
  std::vector<int64_t> cells_by_peak;
  std::vector<double> peak(size_t(cells), 0.0);
  for (int64_t c = 0; c < cells; ++c) {
    for (int64_t k = 0; k < n; ++k)
      peak[size_t(c)] = std::max(peak[size_t(c)], std::fabs(double(all[size_t(k * cells + c)])));
    if (peak[size_t(c)] > 0) cells_by_peak.push_back(c);
  }
  std::stable_sort(cells_by_peak.begin(), cells_by_peak.end(),
                   [&](int64_t a, int64_t b) { return peak[size_t(a)] > peak[size_t(b)]; });
  if (cells_by_peak.size() > 8) cells_by_peak.resize(8);
  svg::LineChart chart;
  chart.title = to_string(eopt.method) + " edge scores over training (the 8 strongest edges)";
  chart.x_title = "log10(step)";
  chart.y_title = "score";
  for (int64_t st : steps) chart.x.push_back(std::log10(double(std::max<int64_t>(st, 1))));
  for (int64_t c : cells_by_peak) {
    svg::Series se;
    se.name = g.edge_name(int(c / g.n_dst()), int(c % g.n_dst()));
    for (int64_t k = 0; k < n; ++k) se.y.push_back(all[size_t(k * cells + c)]);
    chart.series.push_back(se);
  }
  svg::LineChart metric_chart;
  metric_chart.title = to_string(eopt.metric) + " of the clean and corrupted rows";
  metric_chart.x_title = chart.x_title;
  metric_chart.x = chart.x;
  metric_chart.series = {{"clean", clean}, {"corrupted", corrupted}};

  OutputFiles written;
  out.make_folders();
  h5::AtomicFile file(out.h5());
  h5::Group root = file.file();
  h5::set_format(root, "headlab.eap_steps", 1);
  root.set_attr("checkpoints", dir);
  root.set_attr("data", o.data);
  root.set_attr("n_rows", int64_t(t.task.n));
  root.set_attr("method", to_string(eopt.method));
  const bool ig = eopt.method == EdgeMethod::ig_inputs || eopt.method == EdgeMethod::ig_activations;
  root.set_attr("ig_steps", int64_t(ig ? eopt.ig_steps : 0));
  root.set_attr("metric", to_string(eopt.metric));
  root.write<int64_t>("steps", steps);
  root.write<float>("scores", all.data(), {n, g.n_src(), g.n_dst()});
  root.write<double>("clean_metric", clean);
  root.write<double>("corrupted_metric", corrupted);
  std::string src, dst;
  for (int a = 0; a < g.n_src(); ++a) src += g.src_name(a) + "\n";
  for (int d = 0; d < g.n_dst(); ++d) dst += g.dst_name(d) + "\n";
  root.write_string("source_names", src);
  root.write_string("destination_names", dst);
  file.commit();
  written.add(out.h5());
  svg::write_svg(out.svg(), svg::stack({svg::line_chart(chart), svg::line_chart(metric_chart)}));
  written.add(out.svg());
  written.keep();
  std::printf("%s over %lld checkpoints of %s (%lld rows): the strongest edges by step\n",
              to_string(eopt.method).c_str(), (long long)n, dir.c_str(), (long long)t.task.n);
  std::printf("  %-22s", "step");
  for (int64_t st : steps) std::printf(" %8lld", (long long)st);
  std::printf("\n");
  for (const svg::Series& se : chart.series) {
    std::printf("  %-22s", se.name.c_str());
    for (double y : se.y) std::printf(" %8.3f", y);
    std::printf("\n");
  }
  std::printf("  %-22s", "clean metric");
  for (double y : clean) std::printf(" %8.3f", y);
  std::printf("\nwrote %s and %s\n", out.h5().c_str(), out.svg().c_str());
  return 0;
}

}  // namespace

int cmd_eap(int argc, char** argv) {
  CommonOptions o;
  CircuitChoice choice;
  int ig = 0;
  std::string ig_mode = "inputs", checkpoints;
  bool mib = false, ioi_classes = false;
  double ioi_threshold = 0.1;
  po::options_description opts("headlab-circuits eap");
  add_common_options(opts, o);
  add_circuit_options(opts, choice);
  opts.add_options()("ig", po::value<int>(&ig)->implicit_value(5), "EAP-IG with K interpolation steps (default 5)")(
      "ig-mode", po::value<std::string>(&ig_mode)->default_value(ig_mode),
      "inputs (interpolate the embeddings) | activations (interpolate each layer's outputs in turn) | "
      "clean-corrupted (gradients at the two end points)")(
      "mib", po::bool_switch(&mib), "also the MIB curve: faithfulness at 0.1..100% of edges, CPR and CMD")(
      "ioi-classes", po::bool_switch(&ioi_classes),
      "sort the circuit's heads into IOI classes (name mover, S-inhibition, induction / duplicate token)")(
      "ioi-threshold", po::value<double>(&ioi_threshold)->default_value(ioi_threshold),
      "|path-patching effect| (a fraction of clean - corrupted) a head needs for an IOI class")(
      "checkpoints", po::value<std::string>(&checkpoints),
      "a training run's folder: score every checkpoint (instead of --checkpoint); the scores over steps");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, opts, kUsage, &vm)) return 0;
  if (vm.count("checkpoints") && vm.count("checkpoint"))
    throw InputError("--checkpoints", "give --checkpoint (one model) or --checkpoints (a run's folder), not both");
  if (!vm.count("checkpoints")) check_common_options(o, "eap");
  if (!vm.count("checkpoints") && cli::rank_job().size() > 1)
    throw InputError("mpirun -np " + std::to_string(cli::rank_job().size()),
                     "eap shares its work among ranks over the checkpoints of a run (--checkpoints); for one model "
                     "launch it without mpirun");
  check_circuit_choice(vm, choice);
  EdgeAttributionOptions eopt = attribution_options(o, vm.count("ig") > 0, ig, EdgeMethod::ig_inputs);
  if (vm.count("ig"))
    eopt.method = parse_ig_mode(ig_mode);  // after the steps are checked, as the options are read
  else if (!vm["ig-mode"].defaulted())
    throw InputError("--ig-mode", "only with --ig (EAP-IG)");
  if (!(ioi_threshold > 0 && ioi_threshold < 1))
    throw InputError("--ioi-threshold", "expected a fraction in (0, 1), got " + std::to_string(ioi_threshold));
  if (vm.count("checkpoints")) {
    if (ioi_classes) throw InputError("--ioi-classes", "sorts one model's circuit; not with --checkpoints");
    if (mib) throw InputError("--mib", "scores one model; with --checkpoints the scores over steps are written");
    return eap_over_checkpoints(o, checkpoints, eopt);
  }
  const OutputPaths out = output_paths(o, "eap");
  check_circuit_outputs(out);
  LoadedModel m = load_model(o);
  const ModelConfig& c = m.checkpoint.config;
  LoadedTask t = load_task(o, eopt.metric, PairsNeeded::yes, c);
  IoiPositions ioi_pos;
  if (ioi_classes)
    ioi_pos = ioi_positions(t.dataset, reading("--data", [&] { return read_dataset_annotations(o.data); }),
                            "--data " + o.data, t.task.n);

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

  IoiClasses classes;
  if (ioi_classes) {
    const std::vector<HeadRef> heads = circuit_heads(g, keep);
    // A circuit without heads is a result (an early checkpoint, a tight budget), not a bad input.
    if (heads.empty()) {
      progress("--ioi-classes: the circuit has no heads to sort (keep more edges to include some)");
    } else {
      IoiClassOptions io;
      io.metric = eopt.metric;
      io.threshold = ioi_threshold;
      io.batch_size = o.batch_size;
      classes = classify_ioi_heads(*m.model, t.task, ioi_pos, heads, io);
    }
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
  if (ioi_classes) {
    nlohmann::json list = nlohmann::json::array();
    auto num = [](double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); };
    for (const IoiHead& h : classes.heads)
      list.push_back({{"head", head_label(h.head)},
                      {"class", h.ioi_class},
                      {"direct_effect", num(h.direct_effect)},
                      {"via_name_movers_q", num(h.via_name_movers)},
                      {"via_s_inhibition_kv", num(h.via_s_inhibition)},
                      {"end_to_io", h.end_to_io},
                      {"end_to_s", h.end_to_s},
                      {"s2_to_s1", h.s2_to_s1},
                      {"s2_to_s1_plus_1", h.s2_to_after_s1},
                      {"duplicate_token_score", h.duplicate},
                      {"induction_score", h.induction}});
    settings["ioi_classes"] = list;
    settings["ioi_threshold"] = ioi_threshold;
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
  if (ioi_classes) {
    std::printf(
        "IOI classes of the circuit's %zu heads (path-patching effect <= -%g of clean - corrupted; "
        "%lld forwards):\n",
        classes.heads.size(), ioi_threshold, (long long)classes.forwards);
    for (const IoiHead& h : classes.heads) std::printf("  %s\n", describe(h).c_str());
  }
  std::printf("wrote %s, %s, %s and %s\n", out.h5().c_str(), json_path(out).c_str(), dot_path(out).c_str(),
              out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
