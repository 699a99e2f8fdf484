// What the edge-circuit subcommands (eap, acdc, evaluate) share: how a circuit is chosen from
// scores (--top-n / --top-percent / --threshold, --absolute), the files a circuit is written to
// (PREFIX.json, PREFIX.dot, PREFIX.svg beside PREFIX.h5), the MIB curve's picture, and the summary.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "circuits/circuit_eval.h"
#include "circuits/edge_attribution.h"
#include "circuits/edge_graph.h"
#include "circuits/svg_plot.h"
#include "core/output_files.h"
#include "tools/headlab-circuits/cmd_common.h"

namespace headlab::circuits_cli {

struct CircuitChoice {
  int64_t top_n = 0;
  double top_percent = 0, threshold = 0;
  bool absolute = false;
  bool threshold_given = false;
};
// The attribution settings attribute and eap share: the metric, batch size and progress of the
// common options; with `ig_given`, integrated gradients by `ig_method` over `ig` steps (in [1, 1000]).
EdgeAttributionOptions attribution_options(const CommonOptions& o, bool ig_given, int ig, EdgeMethod ig_method);

void add_circuit_options(po::options_description& opts, CircuitChoice& c);
// InputError unless at most one of --top-n, --top-percent, --threshold is given, each in range.
void check_circuit_choice(const po::variables_map& vm, CircuitChoice& c);
// The chosen edges, pruned to input -> logits paths; `how` describes the choice for reports.
EdgeMatrix choose_circuit(const EdgeGraph& g, const EdgeMatrix& scores, const CircuitChoice& c, std::string& how);

// Output files beyond PREFIX.h5 / PREFIX.svg, checked before the work.
std::string json_path(const OutputPaths& out);
std::string dot_path(const OutputPaths& out);
void check_circuit_outputs(const OutputPaths& out);

// Writes PREFIX.h5's edge arrays (/scores, /circuit [n_src, n_dst], /source_names, /destination_names
// as newline-separated text), and returns nothing: the caller owns the file.
void write_edge_arrays(h5::Group& root, const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep);
// Writes PREFIX.json, PREFIX.dot and PREFIX.svg (the circuit, then `extra` pictures), adding each to
// `written`.
void write_circuit_files(const OutputPaths& out, OutputFiles& written, const EdgeGraph& g, const EdgeMatrix& scores,
                         const EdgeMatrix& keep, const nlohmann::json& settings, const std::string& title,
                         const std::vector<svg::Picture>& extra = {});

svg::Picture mib_picture(const std::vector<std::pair<std::string, MibCurve>>& curves, const std::string& title);
void print_top_edges(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep, int n);

}  // namespace headlab::circuits_cli
