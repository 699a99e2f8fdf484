// headlab-circuits path-patch: path patching from sender heads to receivers (Wang et al. 2022).
//
// Without --senders every head is a sender on its own: /effect, /normalised and /metric are
// [layer, head] (NaN where a head cannot reach the receivers). With --senders the listed heads are
// patched together: the arrays are [1]. Output PREFIX.h5 (format headlab.path_patch) with root
// attributes receivers, senders, clean_metric, corrupted_metric; PREFIX.svg (heatmap of the effect).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "circuits/heads_arg.h"
#include "circuits/path_patching.h"
#include "circuits/svg_plot.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {

namespace {

svg::Picture picture_of(const PathPatchReport& rep, const PathTarget& target, const ModelConfig& c, bool sweep,
                        const std::string& senders_text) {
  if (sweep) {
    svg::Heatmap h;
    h.title = "path patching: each head -> " + describe(target) + " (effect)";
    h.y_labels = svg::layer_labels(c.n_layers);
    h.x_labels = svg::head_labels(c.n_heads);
    h.y_title = "sender layer";
    h.x_title = "sender head";
    h.values = rep.effect;
    h.value_title = "effect";
    return svg::heatmap(h);
  }
  svg::BarChart b;
  b.title = "path patching: " + senders_text + " -> " + describe(target);
  b.y_title = "effect";
  b.labels = {senders_text};
  b.values = rep.effect;
  return svg::bar_chart(b);
}

// The ten sender sets with the largest |effect|.
void print_summary(const PathPatchReport& rep, const PathTarget& target,
                   const std::vector<std::vector<HeadRef>>& sets) {
  std::printf("metric %s: clean %.4f, corrupted %.4f over %lld rows (%lld forwards)\n",
              to_string(rep.metric_kind).c_str(), rep.clean, rep.corrupted, (long long)rep.n_rows,
              (long long)rep.forwards);
  std::printf("senders -> %s: effect = (patched - clean) / (clean - corrupted)\n", describe(target).c_str());
  std::vector<size_t> order;
  for (size_t i = 0; i < sets.size(); ++i)
    if (std::isfinite(rep.metric[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return std::fabs(rep.effect[a]) > std::fabs(rep.effect[b]); });
  if (order.size() > 10) order.resize(10);
  for (size_t i : order) {
    std::string name;
    for (HeadRef h : sets[i]) name += (name.empty() ? "" : ",") + head_label(h);
    std::printf("  %-10s effect %+.4f  metric %.4f\n", name.c_str(), rep.effect[i], rep.metric[i]);
  }
}

}  // namespace

int cmd_path_patch(int argc, char** argv) {
  CommonOptions o;
  std::string receivers_arg, senders_arg;
  po::options_description opts("headlab-circuits path-patch");
  add_common_options(opts, o);
  opts.add_options()("receivers", po::value<std::string>(&receivers_arg),
                     "'logits', or receiver heads and their inputs: L2H1:q,L2H3:kv,L3H0 (no suffix = q, k and v)")(
      "senders", po::value<std::string>(&senders_arg),
      "sender heads patched together (L0H1,L1H2); default: every head on its own, a [layer, head] sweep");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, opts,
                          "usage: headlab-circuits path-patch --checkpoint CKPT --data TASK.h5 --receivers SPEC "
                          "(--out PREFIX | --out-dir DIR) [options]",
                          &vm))
    return 0;
  check_common_options(o, "path_patch");
  if (receivers_arg.empty()) throw InputError("--receivers", "is required ('logits' or heads such as L2H1:q)");
  // "--senders ''" is a mistake, not a request for the every-head sweep that leaving it out gives.
  const bool senders_given = vm.count("senders") > 0;
  const MetricKind metric = parse_metric(o.metric);
  LoadedModel m = load_model(o);
  const ModelConfig& c = m.checkpoint.config;
  const PathTarget target = parse_path_target(receivers_arg, c, "--receivers");
  std::vector<std::vector<HeadRef>> sets;
  const bool sweep = !senders_given;
  if (sweep)
    for (HeadRef h : all_heads(c)) sets.push_back({h});
  else
    sets.push_back(parse_head_list(senders_arg, c, "--senders"));
  // Only heads in a layer before a receiver have a path to it: with none, every result would be NaN.
  bool any_path = false;
  for (const auto& set : sets)
    for (HeadRef h : set) any_path = any_path || sender_reaches(h, target, c);
  if (!any_path)
    throw InputError(sweep ? "--receivers " + receivers_arg : "--senders " + senders_arg,
                     "no sender sits in a layer before a receiver (the earliest is in layer " +
                         std::to_string(target.min_layer()) + "), so there is no path to patch");
  LoadedTask t = load_task(o, metric, PairsNeeded::yes, c);
  const OutputPaths out = output_paths(o, "path_patch");

  PathPatchOptions popt;
  popt.metric = metric;
  popt.batch_size = o.batch_size;
  popt.progress = progress;
  const PathPatchReport rep = run_path_patching(*m.model, t.task, sets, target, popt);

  const std::vector<int64_t> shape = sweep ? std::vector<int64_t>{c.n_layers, c.n_heads} : std::vector<int64_t>{1};
  OutputFiles written;  // the .h5 and the .svg, both or neither
  out.make_folders();
  h5::AtomicFile file(out.h5());
  h5::Group root = file.file();
  write_provenance(root, "headlab.path_patch", o, m, t.task);
  root.set_attr("metric", to_string(metric));
  root.set_attr("metric_description", metric_description(metric));
  root.set_attr("receivers", describe(target));
  std::string senders_text = "each head";
  if (!sweep) {
    senders_text.clear();
    for (HeadRef h : sets[0]) senders_text += (senders_text.empty() ? "" : ",") + head_label(h);
  }
  root.set_attr("senders", senders_text);
  root.set_attr("clean_metric", rep.clean);
  root.set_attr("corrupted_metric", rep.corrupted);
  root.set_attr("normalisation", "normalised = (patched - corrupted) / (clean - corrupted); effect = normalised - 1");
  root.set_attr("forwards", int64_t(rep.forwards));
  root.write<double>("effect", rep.effect.data(), shape);
  root.write<double>("normalised", rep.normalised.data(), shape);
  root.write<double>("metric", rep.metric.data(), shape);
  file.commit();
  written.add(out.h5());
  svg::write_svg(out.svg(), picture_of(rep, target, c, sweep, senders_text));
  written.add(out.svg());
  written.keep();
  print_summary(rep, target, sets);
  std::printf("wrote %s and %s\n", out.h5().c_str(), out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
