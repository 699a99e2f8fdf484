// headlab-circuits attribute: node attribution patching (Nanda 2023): for each head and MLP,
// (a^corrupted - a^clean) . d loss / d a at its output, loss = -metric (KL for kl): the first-order
// effect of patching the node alone. Computed as the sum of the node's outgoing EAP edge scores
// (the same number: the gradient at a node's output is the sum over the inputs that read it).
// Output PREFIX.h5 (format headlab.attribute: /heads [layer, head], /mlps [layer], attribute input),
// PREFIX.svg (heatmap of the heads).
#include <cstdio>

#include "circuits/edge_attribution.h"
#include "circuits/svg_plot.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/cmd_edge_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {

int cmd_attribute(int argc, char** argv) {
  CommonOptions o;
  int ig = 0;
  po::options_description opts("headlab-circuits attribute");
  add_common_options(opts, o);
  opts.add_options()("ig", po::value<int>(&ig)->implicit_value(5),
                     "integrated gradients over K input interpolations (default 5) instead of the clean gradient");
  po::variables_map vm;
  if (!parse_command_line(
          argc, argv, opts,
          "usage: headlab-circuits attribute --checkpoint CKPT --data TASK.h5 (--out PREFIX | --out-dir "
          "DIR) [--ig [K]]",
          &vm))
    return 0;
  check_common_options(o, "attribute");
  const EdgeAttributionOptions eopt = attribution_options(o, vm.count("ig") > 0, ig, EdgeMethod::ig_inputs);
  const OutputPaths out = output_paths(o, "attribute");
  LoadedModel m = load_model(o);
  const ModelConfig& c = m.checkpoint.config;
  LoadedTask t = load_task(o, eopt.metric, PairsNeeded::yes, c);
  const EdgeScores s = attribute_edges(*m.model, t.task, eopt);
  const std::vector<double> nodes = node_scores(s);
  const EdgeGraph& g = s.graph;
  std::vector<double> heads, mlps;
  for (int l = 0; l < c.n_layers; ++l) {
    for (int h = 0; h < c.n_heads; ++h) heads.push_back(nodes[size_t(g.src_head(l, h))]);
    if (g.has_mlps()) mlps.push_back(nodes[size_t(g.src_mlp(l))]);
  }
  const std::string method =
      eopt.method == EdgeMethod::eap ? "attribution patching" : "integrated gradients (K=" + std::to_string(ig) + ")";
  OutputFiles written;
  out.make_folders();
  h5::AtomicFile file(out.h5());
  h5::Group root = file.file();
  write_provenance(root, "headlab.attribute", o, m, t.task);
  root.set_attr("method", method);
  root.set_attr("metric", to_string(eopt.metric));
  root.set_attr("score", "mean over rows of (a^corrupted - a^clean) . d loss / d a, loss = -metric (kl: KL)");
  root.set_attr("clean_metric", s.clean_metric);
  root.set_attr("corrupted_metric", s.corrupted_metric);
  root.set_attr("input", nodes[0]);
  root.write<double>("heads", heads.data(), {c.n_layers, c.n_heads});
  if (g.has_mlps()) root.write<double>("mlps", mlps.data(), {c.n_layers});
  file.commit();
  written.add(out.h5());
  svg::Heatmap hm;
  hm.title = "node " + method + ": first-order loss change when each head is patched";
  hm.y_labels = svg::layer_labels(c.n_layers);
  hm.x_labels = svg::head_labels(c.n_heads);
  hm.y_title = "layer";
  hm.x_title = "head";
  hm.values = heads;
  hm.value_title = "score";
  std::vector<svg::Picture> pics = {svg::heatmap(hm)};
  if (g.has_mlps()) {
    svg::BarChart b;
    b.title = "MLPs";
    b.y_title = "score";
    for (int l = 0; l < c.n_layers; ++l) b.labels.push_back("M" + std::to_string(l));
    b.values = mlps;
    pics.push_back(svg::bar_chart(b));
  }
  svg::write_svg(out.svg(), svg::stack(pics));
  written.add(out.svg());
  written.keep();
  std::printf("node %s over %lld rows, metric %s: clean %.4f, corrupted %.4f\n", method.c_str(), (long long)s.n_rows,
              to_string(eopt.metric).c_str(), s.clean_metric, s.corrupted_metric);
  std::printf("  input %+.4f\n", nodes[0]);
  for (int l = 0; l < c.n_layers; ++l) {
    std::printf("  L%d heads", l);
    for (int h = 0; h < c.n_heads; ++h) std::printf(" %+.4f", heads[size_t(l * c.n_heads + h)]);
    if (g.has_mlps()) std::printf("   mlp %+.4f", mlps[size_t(l)]);
    std::printf("\n");
  }
  std::printf("wrote %s and %s\n", out.h5().c_str(), out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
