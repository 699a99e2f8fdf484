// headlab-circuits ablate: zero / mean / resample ablation of each head and each layer.
//
// Output PREFIX.h5 (format headlab.ablation): root attributes ablation, metric, clean_metric,
// clean_loss; /heads/metric, /heads/loss, /heads/metric_change, /heads/loss_change [layer, head];
// /attn/... and (with MLPs) /mlp/... [layer] for whole layers. PREFIX.svg: the heads' metric and
// loss changes as heatmaps, the layers' as bar charts.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "circuits/ablation.h"
#include "circuits/svg_plot.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "tools/common/dataset_warning.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {
namespace {

std::vector<double> minus(const std::vector<double>& v, double base) {
  std::vector<double> out;
  for (double x : v) out.push_back(x - base);
  return out;
}

void write_part(h5::Group& root, const std::string& name, const std::vector<double>& metric,
                const std::vector<double>& loss, const AblationReport& r, const std::vector<int64_t>& shape) {
  h5::Group g = root.create_group(name);
  g.write<double>("metric", metric.data(), shape);
  g.write<double>("loss", loss.data(), shape);
  g.write<double>("metric_change", minus(metric, r.clean_metric).data(), shape);
  g.write<double>("loss_change", minus(loss, r.clean_loss).data(), shape);
}

svg::Picture heads_heatmap(const std::string& title, const std::vector<double>& v, const ModelConfig& c) {
  svg::Heatmap h;
  h.title = title;
  h.y_labels = svg::layer_labels(c.n_layers);
  h.x_labels = svg::head_labels(c.n_heads);
  h.y_title = "layer";
  h.x_title = "head";
  h.values = v;
  h.value_title = "change";
  return svg::heatmap(h);
}

void write_ablation_file(const std::string& path, const CommonOptions& o, const LoadedModel& m, const TaskData& task,
                         const AblationReport& r, const std::string& reference) {
  const ModelConfig& c = m.checkpoint.config;
  const int64_t L = c.n_layers, H = c.n_heads;
  h5::AtomicFile file(path);
  h5::Group root = file.file();
  write_provenance(root, "headlab.ablation", o, m, task);
  root.set_attr("ablation", to_string(r.kind));
  root.set_attr("reference", reference);
  root.set_attr("metric", to_string(r.metric));
  root.set_attr("metric_description", metric_description(r.metric));
  root.set_attr("clean_metric", r.clean_metric);
  root.set_attr("clean_loss", r.clean_loss);
  write_part(root, "heads", r.head_metric, r.head_loss, r, {L, H});
  write_part(root, "attn", r.attn_metric, r.attn_loss, r, {L});
  if (!c.attn_only) write_part(root, "mlp", r.mlp_metric, r.mlp_loss, r, {L});
  file.commit();
}

svg::Picture ablation_picture(const AblationReport& r, const ModelConfig& c) {
  const int64_t L = c.n_layers;
  std::vector<svg::Picture> pictures;
  pictures.push_back(heads_heatmap(to_string(r.kind) + " ablation of each head: change in " + to_string(r.metric),
                                   minus(r.head_metric, r.clean_metric), c));
  pictures.push_back(
      heads_heatmap(to_string(r.kind) + " ablation of each head: change in loss", minus(r.head_loss, r.clean_loss), c));
  svg::BarChart layers;
  layers.title = to_string(r.kind) + " ablation of each layer: change in " + to_string(r.metric);
  layers.y_title = "change";
  for (int64_t l = 0; l < L; ++l) {
    layers.labels.push_back("L" + std::to_string(l) + " attn");
    layers.values.push_back(r.attn_metric[size_t(l)] - r.clean_metric);
    if (!c.attn_only) {
      layers.labels.push_back("L" + std::to_string(l) + " mlp");
      layers.values.push_back(r.mlp_metric[size_t(l)] - r.clean_metric);
    }
  }
  pictures.push_back(svg::bar_chart(layers));
  return svg::stack(pictures);
}

void print_summary(const AblationReport& r, const ModelConfig& c) {
  const int64_t L = c.n_layers, H = c.n_heads;
  std::printf("%s ablation, metric %s over %lld rows: clean metric %.4f, clean loss %.4f (%lld forwards)\n",
              to_string(r.kind).c_str(), to_string(r.metric).c_str(), (long long)r.n_rows, r.clean_metric, r.clean_loss,
              (long long)r.forwards);
  std::vector<size_t> order(r.head_metric.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::fabs(r.head_metric[a] - r.clean_metric) > std::fabs(r.head_metric[b] - r.clean_metric);
  });
  std::printf("heads by |metric change|:\n");
  for (size_t k = 0; k < std::min<size_t>(8, order.size()); ++k) {
    const size_t i = order[k];
    std::printf("  L%zuH%zu  metric %+.4f  loss %+.4f\n", i / size_t(H), i % size_t(H),
                r.head_metric[i] - r.clean_metric, r.head_loss[i] - r.clean_loss);
  }
  for (int64_t l = 0; l < L; ++l) {
    std::printf("  L%lld attn  metric %+.4f  loss %+.4f", (long long)l, r.attn_metric[size_t(l)] - r.clean_metric,
                r.attn_loss[size_t(l)] - r.clean_loss);
    if (!c.attn_only)
      std::printf("   L%lld mlp  metric %+.4f  loss %+.4f", (long long)l, r.mlp_metric[size_t(l)] - r.clean_metric,
                  r.mlp_loss[size_t(l)] - r.clean_loss);
    std::printf("\n");
  }
}

}  // namespace

int cmd_ablate(int argc, char** argv) {
  CommonOptions o;
  std::string kind_arg, reference_path;
  int64_t seed = 0;
  po::options_description opts("headlab-circuits ablate");
  add_common_options(opts, o);
  opts.add_options()("ablation", po::value<std::string>(&kind_arg)->default_value("zero"), "zero | mean | resample")(
      "reference", po::value<std::string>(&reference_path),
      "dataset whose rows give the mean / the resampled activations (default: --data's clean rows)")(
      "seed", po::value<int64_t>(&seed)->default_value(0), "resample: which reference rows");
  if (!parse_command_line(
          argc, argv, opts,
          "usage: headlab-circuits ablate --checkpoint CKPT --data TASK.h5 (--out PREFIX | --out-dir DIR) "
          "[--ablation zero|mean|resample] [options]"))
    return 0;
  check_common_options(o, "ablate");
  const MetricKind metric = parse_metric(o.metric);
  const AblationKind kind = parse_ablation_kind(kind_arg, "--ablation");
  LoadedModel m = load_model(o);
  const ModelConfig& c = m.checkpoint.config;
  LoadedTask t = load_task(o, metric, PairsNeeded::no, c);
  TaskData reference;
  if (!reference_path.empty()) {
    if (kind == AblationKind::zero) throw InputError("--reference", "only mean and resample ablation use a reference");
    const TokenDataset reference_set = reading("--reference", [&] { return read_token_dataset(reference_path); });
    cli::warn_assumed("headlab-circuits", reference_set);
    reference = task_data_from(reference_set, "--reference " + reference_path, MetricKind::kl, PairsNeeded::no);
  }
  const OutputPaths out = output_paths(o, "ablate");
  check_not_input(out.h5(), out.option, reference_path, "--reference");

  AblationOptions aopt;
  aopt.kind = kind;
  aopt.metric = metric;
  aopt.batch_size = o.batch_size;
  aopt.reference = reference_path.empty() ? nullptr : &reference;
  aopt.seed = seed_value(seed);
  aopt.progress = progress;
  const AblationReport r = run_ablation(*m.model, t.task, aopt);

  OutputFiles written;  // the .h5 and the .svg, both or neither
  out.make_folders();
  write_ablation_file(out.h5(), o, m, t.task, r, reference_path.empty() ? o.data : reference_path);
  written.add(out.h5());
  svg::write_svg(out.svg(), ablation_picture(r, c));
  written.add(out.svg());
  written.keep();
  print_summary(r, c);
  std::printf("wrote %s and %s\n", out.h5().c_str(), out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
