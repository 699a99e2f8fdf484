// headlab-circuits patch: activation patching sweeps.
//
// Output PREFIX.h5 (format headlab.patch): root attributes clean_metric, corrupted_metric, metric,
// normalisation, position_labels (JSON); one group per direction and sweep,
// /<denoising|noising>/<sweep>/normalised and /metric (float64, [layer, position], [layer, head] or
// [layer, head, position]) with attributes hook and axes. PREFIX.svg: one heatmap per result.
// --positions role: the position axis is the dataset's roles (IO, S1, S2, END ...), each patched run
// patching that role's position in every row (templates of different lengths put it at different
// indices); attribute positions says which.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "circuits/patching.h"
#include "circuits/svg_plot.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "data/dataset_annotations.h"
#include "tools/common/rank_job.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {
namespace {

std::string axes_of(const PatchSweep& s) {
  std::string a = "layer";
  if (s.by_head) a += ",head";
  if (s.by_position) a += ",position";
  return a;
}

std::string element_label(const PatchSweep& s, size_t i, const ModelConfig& c, const std::vector<std::string>& pos) {
  const size_t P = s.by_position ? pos.size() : 1, H = s.by_head ? size_t(c.n_heads) : 1;
  const size_t l = i / (H * P), h = i / P % H, p = i % P;
  std::string t = "L" + std::to_string(l);
  if (s.by_head) t += "H" + std::to_string(h);
  if (s.by_position) t += " @" + pos[p];
  return t;
}

// The normalised value of a patch that changes nothing.
double no_effect(PatchDirection d) { return d == PatchDirection::denoising ? 0.0 : 1.0; }

svg::Picture result_heatmap(const PatchResult& r, const ModelConfig& c, const std::vector<std::string>& pos) {
  svg::Heatmap h;
  h.title = to_string(r.direction) + ": " + r.sweep.name + " (blocks.*." + hook_name({0, r.sweep.site}).substr(9) + ")";
  h.value_title = "normalised";
  h.values = r.normalised;
  // White where the patch changes nothing: 0 when denoising, 1 when noising.
  h.centre = no_effect(r.direction);
  double mx = 1;
  for (double v : r.normalised)
    if (std::isfinite(v)) mx = std::max(mx, std::fabs(v - h.centre));
  h.limit = mx;
  if (r.sweep.by_head && r.sweep.by_position) {
    for (int l = 0; l < c.n_layers; ++l)
      for (int hh = 0; hh < c.n_heads; ++hh) h.y_labels.push_back("L" + std::to_string(l) + "H" + std::to_string(hh));
    h.x_labels = pos;
    h.y_title = "head";
    h.x_title = "position";
  } else {
    h.y_labels = svg::layer_labels(c.n_layers);
    h.y_title = "layer";
    h.x_labels = r.sweep.by_head ? svg::head_labels(c.n_heads) : pos;
    h.x_title = r.sweep.by_head ? "head" : "position";
  }
  return svg::heatmap(h);
}

void print_summary(const PatchReport& rep, const ModelConfig& c, const std::vector<std::string>& pos) {
  std::printf("metric %s: clean %.4f, corrupted %.4f over %lld rows (%lld forwards)\n", to_string(rep.metric).c_str(),
              rep.clean, rep.corrupted, (long long)rep.n_rows, (long long)rep.forwards);
  for (const PatchResult& r : rep.results) {
    std::vector<size_t> order(r.normalised.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    const double centre = no_effect(r.direction);
    auto key = [&](size_t i) { return std::isfinite(r.normalised[i]) ? std::fabs(r.normalised[i] - centre) : -1.0; };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) > key(b); });
    std::printf("%-9s %-11s strongest:", to_string(r.direction).c_str(), r.sweep.name.c_str());
    for (size_t k = 0; k < std::min<size_t>(5, order.size()); ++k)
      std::printf("  %s %.3f", element_label(r.sweep, order[k], c, pos).c_str(), r.normalised[order[k]]);
    std::printf("\n");
  }
}

// --positions role: each row position's role (/labels/role) as its group, over the roles that occur at
// or before some row's answer position ("none" excluded); their names label the position axis.
struct RoleGroups {
  std::vector<int32_t> groups;  // [n, T], -1 where none
  std::vector<std::string> names;
};

RoleGroups role_groups(const LoadedTask& t) {
  const auto role = t.dataset.labels.find("role");
  if (role == t.dataset.labels.end())
    throw InputError("--positions role", "the dataset has no /labels/role (headlab-data task writes one)");
  const DatasetAnnotations a = reading("--data", [&] { return read_dataset_annotations(t.path); });
  const auto names = a.label_names.find("role");
  if (names == a.label_names.end())
    throw InputError("--positions role", "the dataset names no roles (label_names[\"role\"])");
  const TaskData& task = t.task;
  std::vector<int> group_of(names->second.size(), -1);
  RoleGroups g;
  g.groups.assign(size_t(task.n * task.T), -1);
  for (int64_t r = 0; r < task.n; ++r)
    for (int p = 0; p <= task.answer_pos[size_t(r)]; ++p) {
      const int32_t v = role->second[size_t(r * t.dataset.seq_len + p)];
      if (v <= 0 || size_t(v) >= names->second.size()) continue;  // none, or a value without a name
      if (group_of[size_t(v)] < 0) group_of[size_t(v)] = 0;
    }
  for (size_t v = 0; v < group_of.size(); ++v)
    if (group_of[v] == 0) {
      group_of[v] = int(g.names.size());
      g.names.push_back(names->second[v]);
    }
  if (g.names.empty()) throw InputError("--positions role", "no position of the rows has a named role");
  for (int64_t r = 0; r < task.n; ++r)
    for (int p = 0; p < task.T; ++p) {
      const int32_t v = role->second[size_t(r * t.dataset.seq_len + p)];
      if (v > 0 && size_t(v) < group_of.size()) g.groups[size_t(r * task.T + p)] = group_of[size_t(v)];
    }
  return g;
}

}  // namespace

int cmd_patch(int argc, char** argv) {
  CommonOptions o;
  std::string sweeps_arg, direction_arg, positions_arg = "absolute";
  po::options_description opts("headlab-circuits patch");
  add_common_options(opts, o);
  opts.add_options()(
      "sweeps", po::value<std::string>(&sweeps_arg)->default_value("resid_pre,attn_out,mlp_out,z"),
      "comma-separated: resid_pre resid_mid resid_post attn_out mlp_out (layer x position); z q k v pattern "
      "(layer x head); z_pos q_pos k_pos v_pos pattern_pos (layer x head x position)")(
      "direction", po::value<std::string>(&direction_arg)->default_value("denoising"), "denoising | noising | both")(
      "positions", po::value<std::string>(&positions_arg)->default_value("absolute"),
      "absolute (the position index) | role (the dataset's /labels/role: IO, S1, S2, END ...)");
  if (!parse_command_line(
          argc, argv, opts,
          "usage: headlab-circuits patch --checkpoint CKPT --data TASK.h5 (--out PREFIX | --out-dir DIR) [options]"))
    return 0;
  check_common_options(o, "patch");
  const MetricKind metric = parse_metric(o.metric);
  const std::vector<PatchDirection> directions = parse_patch_directions(direction_arg, "--direction");
  LoadedModel m = load_model(o);
  const ModelConfig& c = m.checkpoint.config;
  // The default list names mlp_out; an attention-only model simply has none to sweep.
  if (c.attn_only && sweeps_arg == "resid_pre,attn_out,mlp_out,z") sweeps_arg = "resid_pre,attn_out,z";
  const std::vector<PatchSweep> sweeps = parse_patch_sweeps(sweeps_arg, c);
  if (positions_arg != "absolute" && positions_arg != "role")
    throw InputError("--positions", "expected absolute or role, got '" + positions_arg + "'");
  LoadedTask t = load_task(o, metric, PairsNeeded::yes, c);
  const OutputPaths out = output_paths(o, "patch");
  RoleGroups roles;
  if (positions_arg == "role") roles = role_groups(t);

  PatchOptions popt;
  if (positions_arg == "role") {
    popt.position_groups = &roles.groups;
    popt.n_groups = int(roles.names.size());
  }
  popt.metric = metric;
  popt.batch_size = o.batch_size;
  popt.directions = directions;
  popt.progress = progress;
  // Under mpirun each rank patches its share of the cells; rank 0 merges and writes.
  cli::RankJob& job = cli::rank_job();
  job.agree(m.hash + " " + cli::file_fingerprint(o.data));
  popt.shard = job.shard();
  PatchReport rep = run_patching(*m.model, t.task, sweeps, popt);
  if (job.size() > 1) {
    std::vector<double> metrics;
    for (const PatchResult& r : rep.results) metrics.insert(metrics.end(), r.metric.begin(), r.metric.end());
    metrics = cli::gather_owned(job, metrics);
    double forwards = double(rep.forwards);
    job.ranks().sum(&forwards, 1);
    if (!job.writes()) return 0;
    rep.forwards = int64_t(forwards);
    size_t k = 0;
    for (PatchResult& r : rep.results)
      for (size_t i = 0; i < r.metric.size(); ++i, ++k) {
        r.metric[i] = metrics[k];
        r.normalised[i] = normalise_patched(r.metric[i], rep.clean, rep.corrupted);
      }
  }
  const std::vector<std::string> pos = positions_arg == "role" ? roles.names : position_labels(t, m);

  OutputFiles written;  // the .h5 and the .svg, both or neither
  out.make_folders();
  h5::AtomicFile file(out.h5());
  h5::Group root = file.file();
  write_provenance(root, "headlab.patch", o, m, t.task);
  root.set_attr("metric", to_string(metric));
  root.set_attr("metric_description", metric_description(metric));
  root.set_attr("clean_metric", rep.clean);
  root.set_attr("corrupted_metric", rep.corrupted);
  root.set_attr("normalisation", "(patched - corrupted) / (clean - corrupted)");
  root.set_attr("position_labels", nlohmann::json(pos).dump());
  root.set_attr("positions", positions_arg);
  root.set_attr("forwards", int64_t(rep.forwards));
  std::vector<svg::Picture> pictures;
  for (const PatchResult& r : rep.results) {
    h5::Group g = root.create_group(to_string(r.direction) + "/" + r.sweep.name);
    g.write<double>("normalised", r.normalised.data(), r.shape);
    g.write<double>("metric", r.metric.data(), r.shape);
    g.set_attr("hook", "blocks.{layer}." + hook_name({0, r.sweep.site}).substr(9));
    g.set_attr("axes", axes_of(r.sweep));
    pictures.push_back(result_heatmap(r, c, pos));
  }
  file.commit();
  written.add(out.h5());
  svg::write_svg(out.svg(), svg::stack(pictures));
  written.add(out.svg());
  written.keep();
  print_summary(rep, c, pos);
  if (!std::isfinite(normalise_patched(0, rep.clean, rep.corrupted)))
    std::printf("warning: clean and corrupted metrics are equal, so the normalised values are NaN\n");
  std::printf("wrote %s and %s\n", out.h5().c_str(), out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
