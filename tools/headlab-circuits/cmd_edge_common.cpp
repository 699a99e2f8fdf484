#include "tools/headlab-circuits/cmd_edge_common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "circuits/circuit_export.h"
#include "core/atomic_write.h"
#include "core/output_files.h"

namespace headlab::circuits_cli {

EdgeAttributionOptions attribution_options(const CommonOptions& o, bool ig_given, int ig, EdgeMethod ig_method) {
  EdgeAttributionOptions eopt;
  eopt.metric = parse_metric(o.metric);
  eopt.batch_size = o.batch_size;
  eopt.progress = progress;
  if (ig_given) {
    if (ig < 1 || ig > 1000)
      throw InputError("--ig", "expected a number of steps in [1, 1000], got " + std::to_string(ig));
    eopt.method = ig_method;
    eopt.ig_steps = ig;
  }
  return eopt;
}

void add_circuit_options(po::options_description& opts, CircuitChoice& c) {
  opts.add_options()("top-n", po::value<int64_t>(&c.top_n), "circuit: the N best edges (then pruned to paths)")(
      "top-percent", po::value<double>(&c.top_percent), "circuit: the best P% of edges (default 5)")(
      "threshold", po::value<double>(&c.threshold), "circuit: every edge whose score is >= T")(
      "absolute", po::bool_switch(&c.absolute), "rank edges by |score| (default: signed score)");
}

void check_circuit_choice(const po::variables_map& vm, CircuitChoice& c) {
  const int given = int(vm.count("top-n")) + int(vm.count("top-percent")) + int(vm.count("threshold"));
  if (given > 1) throw InputError("--top-n / --top-percent / --threshold", "give at most one of them");
  if (vm.count("top-n") && c.top_n < 0) throw InputError("--top-n", "expected a number of edges >= 0");
  if (vm.count("top-percent") && !(c.top_percent >= 0 && c.top_percent <= 100))
    throw InputError("--top-percent", "expected a percentage in [0, 100]");
  if (vm.count("threshold") && !std::isfinite(c.threshold)) throw InputError("--threshold", "expected a finite number");
  c.threshold_given = vm.count("threshold") > 0;
  if (given == 0) c.top_percent = 5;
}

EdgeMatrix choose_circuit(const EdgeGraph& g, const EdgeMatrix& scores, const CircuitChoice& c, std::string& how) {
  const Ranking r = c.absolute ? Ranking::absolute : Ranking::signed_score;
  const std::string by = c.absolute ? "|score|" : "score";
  EdgeMatrix keep;
  if (c.threshold_given) {
    keep = threshold_edges(g, scores, c.threshold, r);
    how = "edges with " + by + " >= " + std::to_string(c.threshold);
  } else {
    const int64_t n = c.top_n > 0 ? c.top_n : int64_t(c.top_percent / 100.0 * double(g.n_edges()));
    keep = top_edges(g, scores, n, r);
    how = "top " + std::to_string(n) + " edges by " + by;
  }
  how += ", pruned to input -> logits paths";
  return prune_to_paths(g, keep);
}

std::string json_path(const OutputPaths& out) { return out.prefix + ".json"; }
std::string dot_path(const OutputPaths& out) { return out.prefix + ".dot"; }

void check_circuit_outputs(const OutputPaths& out) {
  check_output_file(json_path(out), out.option);
  check_output_file(dot_path(out), out.option);
}

void write_edge_arrays(h5::Group& root, const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep) {
  root.write<float>("scores", scores.data(), {g.n_src(), g.n_dst()});
  root.write<float>("circuit", keep.data(), {g.n_src(), g.n_dst()});
  std::string src, dst;
  for (int s = 0; s < g.n_src(); ++s) src += g.src_name(s) + "\n";
  for (int d = 0; d < g.n_dst(); ++d) dst += g.dst_name(d) + "\n";
  root.write_string("source_names", src);
  root.write_string("destination_names", dst);
  root.set_attr("n_edges", int64_t(g.n_edges()));
  root.set_attr("n_edges_in_circuit", int64_t(count_edges(g, keep)));
}

void write_circuit_files(const OutputPaths& out, OutputFiles& written, const EdgeGraph& g, const EdgeMatrix& scores,
                         const EdgeMatrix& keep, const nlohmann::json& settings, const std::string& title,
                         const std::vector<svg::Picture>& extra) {
  write_text_file_atomically(json_path(out), circuit_json(g, scores, keep, settings).dump(1) + "\n");
  written.add(json_path(out));
  write_text_file_atomically(dot_path(out), circuit_dot(g, scores, keep, title));
  written.add(dot_path(out));
  std::vector<svg::Picture> pictures = {circuit_picture(g, scores, keep, title)};
  pictures.insert(pictures.end(), extra.begin(), extra.end());
  svg::write_svg(out.svg(), svg::stack(pictures));
  written.add(out.svg());
}

svg::Picture mib_picture(const std::vector<std::pair<std::string, MibCurve>>& curves, const std::string& title) {
  svg::LineChart chart;
  chart.title = title;
  chart.x_title = "log10(% of edges kept)";
  chart.y_title = "faithfulness";
  for (double p : mib_percentages()) chart.x.push_back(std::log10(p));
  for (const auto& [name, c] : curves) chart.series.push_back({name, c.faithfulness});
  return svg::line_chart(chart);
}

void print_top_edges(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep, int n) {
  std::vector<int64_t> cells;
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(s, d) && keep[size_t(g.cell(s, d))] != 0.0f) cells.push_back(g.cell(s, d));
  std::stable_sort(cells.begin(), cells.end(),
                   [&](int64_t a, int64_t b) { return std::fabs(scores[size_t(a)]) > std::fabs(scores[size_t(b)]); });
  for (size_t i = 0; i < cells.size() && int(i) < n; ++i) {
    const int s = int(cells[i] / g.n_dst()), d = int(cells[i] % g.n_dst());
    std::printf("  %-22s %+.4f\n", g.edge_name(s, d).c_str(), scores[size_t(cells[i])]);
  }
  if (int(cells.size()) > n) std::printf("  ... %zu more\n", cells.size() - size_t(n));
}

}  // namespace headlab::circuits_cli
