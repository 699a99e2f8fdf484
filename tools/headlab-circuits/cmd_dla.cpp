// headlab-circuits dla: direct logit attribution.
//
// PREFIX.h5 (format headlab.dla): /heads [layer, head], /attn_bias [layer], /mlps [layer]
// (with MLPs); root attributes logit_diff (from the logits), embed, pos_embed, final_bias,
// remainder, sum_of_parts, direction. PREFIX.svg: the heads as a heatmap, every part as bars.
#include <cmath>
#include <cstdio>

#include "circuits/dla.h"
#include "circuits/svg_plot.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {
namespace {

const char* kDlaUsage =
    "usage: headlab-circuits dla --checkpoint CKPT --data TASK.h5 (--out PREFIX | --out-dir DIR) [options]\n"
    "Attributes logit(answer) - logit(wrong_answer) at answer_pos (the answer's logit when the dataset has\n"
    "no /wrong_answer) to each head, MLP and embedding, through ln_final with its scale frozen.";

svg::Picture parts_chart(const DlaReport& r, const ModelConfig& c) {
  svg::BarChart b;
  b.title = "direct logit attribution: every part (sum " +
            std::to_string(r.sum_of_parts() + r.remainder()).substr(0, 7) + ")";
  b.y_title = "contribution";
  b.labels.push_back("embed");
  b.values.push_back(r.embed);
  if (c.positional_embedding_type == PositionalEmbedding::standard) {
    b.labels.push_back("pos_embed");
    b.values.push_back(r.pos_embed);
  }
  for (int l = 0; l < c.n_layers; ++l) {
    double attn = 0;
    for (int h = 0; h < c.n_heads; ++h) attn += r.heads[size_t(l * c.n_heads + h)];
    b.labels.push_back("L" + std::to_string(l) + " heads");
    b.values.push_back(attn);
    if (!c.attn_only) {
      b.labels.push_back("L" + std::to_string(l) + " mlp");
      b.values.push_back(r.mlps[size_t(l)]);
    }
  }
  b.labels.push_back("biases");
  b.values.push_back(r.remainder());
  return svg::bar_chart(b);
}

}  // namespace

int cmd_dla(int argc, char** argv) {
  CommonOptions o;
  po::options_description opts("headlab-circuits dla");
  add_common_options(opts, o);
  if (!parse_command_line(argc, argv, opts, kDlaUsage)) return 0;
  check_common_options(o, "dla");
  if (parse_metric(o.metric) != MetricKind::logit_diff)
    throw InputError("--metric", "dla attributes the logit difference; leave --metric at logit_diff");
  LoadedModel m = load_model(o);
  const ModelConfig& c = m.checkpoint.config;
  // Only /answer is required: without /wrong_answer the answer's own logit is attributed.
  LoadedTask t = load_task(o, MetricKind::prob, PairsNeeded::no, c);
  const OutputPaths out = output_paths(o, "dla");
  const DlaReport r = direct_logit_attribution(*m.model, t.task, o.batch_size);
  const std::string direction = r.has_wrong_answer ? "W_U[:, answer] - W_U[:, wrong_answer]" : "W_U[:, answer]";

  OutputFiles written;  // the .h5 and the .svg, both or neither
  out.make_folders();
  h5::AtomicFile file(out.h5());
  h5::Group root = file.file();
  write_provenance(root, "headlab.dla", o, m, t.task);
  root.set_attr("direction", direction);
  root.set_attr("logit_diff", r.logit_diff);
  root.set_attr("embed", r.embed);
  root.set_attr("pos_embed", r.pos_embed);
  root.set_attr("final_bias", r.final_bias);
  root.set_attr("remainder", r.remainder());
  root.set_attr("sum_of_parts", r.sum_of_parts());
  root.write<double>("heads", r.heads.data(), {c.n_layers, c.n_heads});
  root.write<double>("attn_bias", r.attn_bias.data(), {c.n_layers});
  if (!c.attn_only) root.write<double>("mlps", r.mlps.data(), {c.n_layers});
  file.commit();
  written.add(out.h5());

  svg::Heatmap h;
  h.title = "direct logit attribution of each head onto " + direction;
  h.y_labels = svg::layer_labels(c.n_layers);
  h.x_labels = svg::head_labels(c.n_heads);
  h.y_title = "layer";
  h.x_title = "head";
  h.values = r.heads;
  h.value_title = "logits";
  svg::write_svg(out.svg(), svg::stack({svg::heatmap(h), parts_chart(r, c)}));
  written.add(out.svg());
  written.keep();

  std::printf("direct logit attribution onto %s at answer_pos, mean over %lld rows\n", direction.c_str(),
              (long long)r.n_rows);
  std::printf("  logit difference (from the logits) %.4f = parts %.4f + remainder (biases) %.4f\n", r.logit_diff,
              r.sum_of_parts(), r.remainder());
  std::printf("  embed %+.4f", r.embed);
  if (c.positional_embedding_type == PositionalEmbedding::standard) std::printf("  pos_embed %+.4f", r.pos_embed);
  std::printf("\n");
  for (int l = 0; l < c.n_layers; ++l) {
    std::printf("  L%d heads", l);
    for (int hh = 0; hh < c.n_heads; ++hh) std::printf(" %+.3f", r.heads[size_t(l * c.n_heads + hh)]);
    if (!c.attn_only) std::printf("   mlp %+.3f", r.mlps[size_t(l)]);
    std::printf("\n");
  }
  std::printf("wrote %s and %s\n", out.h5().c_str(), out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
