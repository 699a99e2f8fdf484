// headlab-probes intervene: Inference-Time Intervention (Li et al. 2023) with headlab's per-head
// probes. The top-K heads by validation accuracy are shifted along their probe directions times
// α σ_h at every position (probes/head_shift.h) while a task is scored; for each α: the task metric
// (logit difference of the true answer over the corrupted one, or its probability), the share of
// rows where the true answer wins, and the next-token loss. With --random-heads, the same shift on
// K heads drawn at random, the control ITI reports beside it.
//
// Output PREFIX.h5 (format headlab.intervention): /alphas [A], /metric [A], /true_share [A],
// /loss [A], /random_metric, /random_loss [A] (with --random-heads), /heads [K, 2] (layer, head);
// attributes probes, checkpoint, data, metric, top_k. PREFIX.svg: metric and loss against α.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "circuits/interventions.h"
#include "circuits/metrics.h"
#include "circuits/svg_plot.h"
#include "circuits/task_data.h"
#include "core/errors.h"
#include "core/h5_file.h"
#include "core/lists.h"
#include "core/output_files.h"
#include "core/seeded_rng.h"
#include "data/token_dataset.h"
#include "probes/head_shift.h"
#include "tools/common/dataset_warning.h"
#include "tools/headlab-probes/commands.h"
#include "tools/headlab-probes/probes_options.h"

namespace headlab::probes_cli {
namespace {

struct Scored {
  double metric = 0, true_share = 0, loss = 0;
};

Scored score(Transformer& model, const TaskData& task, MetricKind metric, int batch_size,
             const std::map<int, std::vector<float>>& shifts, float alpha) {
  const ModelConfig& c = model.config();
  double metric_sum = 0;
  int64_t wins = 0;
  LossSum loss;
  std::vector<float> buffer;
  for (const TaskBatch& b : task_batches(task, batch_size)) {
    HookSet hooks;
    for (const auto& [layer, v] : shifts)
      if (alpha != 0.0f) hooks.add_forward({layer, HookSite::attn_z}, add_direction(v, alpha));
    const LossSum l = run_loss_sum(model, b, &hooks);
    loss.sum += l.sum;
    loss.count += l.count;
    const float* logits = host_logits(model, buffer);
    const std::vector<double> m = metric_per_sequence(metric, logits, b.metric_targets(c.d_vocab));
    for (double v : m) metric_sum += v;
    const std::vector<double> diff = metric_per_sequence(MetricKind::logit_diff, logits, b.metric_targets(c.d_vocab));
    for (double v : diff) wins += v > 0;
  }
  return {metric_sum / double(task.n), double(wins) / double(task.n), loss.mean()};
}

svg::Picture against_alpha(const std::string& title, const std::string& y, const std::vector<float>& alphas,
                           const std::vector<double>& top, const std::vector<double>& random) {
  svg::LineChart c;
  c.title = title;
  c.x_title = "alpha";
  c.y_title = y;
  c.x.assign(alphas.begin(), alphas.end());
  c.series.push_back({"top-K probe heads", top});
  if (!random.empty()) c.series.push_back({"K random heads", random});
  return svg::line_chart(c);
}

}  // namespace

int cmd_intervene(int argc, char** argv) {
  std::string checkpoint, data, probes_path, alphas_arg, metric_arg, out, device;
  int top_k = 8, batch_size = 16, threads = 0;
  int64_t max_rows = 0, seed = 0;
  bool random_heads = false;
  po::options_description opts("headlab-probes intervene");
  opts.add_options()("help,h", "this help")("checkpoint", po::value<std::string>(&checkpoint), "model checkpoint")(
      "data", po::value<std::string>(&data), "task dataset with /answer and /wrong_answer (headlab-data task facts)")(
      "probes", po::value<std::string>(&probes_path),
      "probes.h5 of headlab-probes linear --per-head on blocks.*.attn.hook_z, binary label")(
      "top-k", po::value<int>(&top_k)->default_value(8), "heads to shift")(
      "alphas", po::value<std::string>(&alphas_arg)->default_value("0,1,2,5,10,15"), "strengths, comma-separated")(
      "metric", po::value<std::string>(&metric_arg)->default_value("logit_diff"), "logit_diff | prob")(
      "random-heads", po::bool_switch(&random_heads), "also shift K random heads (the control)")(
      "seed", po::value<int64_t>(&seed)->default_value(0), "seed of --random-heads")(
      "batch-size", po::value<int>(&batch_size)->default_value(16), "rows per forward")(
      "max-rows", po::value<int64_t>(&max_rows)->default_value(0), "score only the first rows (0 = all)")(
      "device", po::value<std::string>(&device)->default_value("cpu"), "cpu | cuda")(
      "threads", po::value<int>(&threads)->default_value(0), "CPU threads (0 = all cores)")(
      "out", po::value<std::string>(&out), "output prefix: PREFIX.h5 and PREFIX.svg");
  if (!parse_command_line(argc, argv, opts,
                          "usage: headlab-probes intervene --checkpoint CKPT --data TASK.h5 --probes probes.h5 "
                          "[--top-k K] [--alphas ...] --out PREFIX"))
    return 0;
  for (const auto& [name, value] : {std::pair<const char*, std::string*>{"--checkpoint", &checkpoint},
                                    {"--data", &data},
                                    {"--probes", &probes_path},
                                    {"--out", &out}})
    if (value->empty()) throw InputError(name, "is required");
  if (top_k < 1) throw InputError("--top-k", "expected a positive number of heads");
  if (batch_size < 1) throw InputError("--batch-size", "expected a positive integer");
  if (max_rows < 0) throw InputError("--max-rows", "expected 0 (all) or a positive count");
  if (seed < 0) throw InputError("--seed", "expected a number >= 0");
  require_cpu_threads(threads);
  const MetricKind metric = parse_metric(metric_arg);
  if (metric == MetricKind::kl) throw InputError("--metric", "expected logit_diff or prob");
  std::vector<float> alphas;
  for (const std::string& a : split_nonempty(alphas_arg)) {
    size_t used = 0;
    float v = 0;
    try {
      v = std::stof(a, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != a.size() || !std::isfinite(v)) throw InputError("--alphas", "expected numbers, got '" + a + "'");
    alphas.push_back(v);
  }
  if (alphas.empty()) throw InputError("--alphas", "expected at least one strength");
  for (const std::string& path : {out + ".h5", out + ".svg"}) {
    check_output_file(path, "--out");
    for (const auto& [in, option] :
         {std::pair<std::string, const char*>{data, "--data"}, {checkpoint, "--checkpoint"}, {probes_path, "--probes"}})
      check_not_input(path, "--out", in, option);
  }

  LoadedModel m = load_model(checkpoint, device, threads);
  const ModelConfig& c = m.checkpoint.config;
  const std::vector<HeadProbe> all = reading("--probes", [&] { return read_head_probes(probes_path, c, m.hash); });
  const std::vector<HeadProbe> chosen = top_heads(all, top_k);
  const TokenDataset ds = reading("--data", [&] { return read_token_dataset(data); });
  cli::warn_assumed("headlab-probes", ds);
  const TaskData task = task_data_from(ds, "--data " + data, MetricKind::logit_diff, PairsNeeded::no, max_rows);
  check_task_fits_model(task, c);

  const auto shifts = hook_z_shifts(chosen, c);
  std::map<int, std::vector<float>> random_shifts;
  if (random_heads) {  // K heads at random, each along its own probe's direction
    std::vector<HeadProbe> pool = all;
    SeededRng rng{uint64_t(seed)};
    rng.shuffle(pool);
    pool.resize(std::min(pool.size(), chosen.size()));
    random_shifts = hook_z_shifts(pool, c);
  }
  std::printf("ITI on %s: top %zu of %zu heads by probe validation accuracy:", data.c_str(), chosen.size(), all.size());
  for (const HeadProbe& h : chosen)
    std::printf(" L%dH%d (%.3f, sigma %.3f)", h.layer, h.head, h.validation_score, h.sigma);
  std::printf("\n  %8s %12s %11s %9s", "alpha", to_string(metric).c_str(), "true wins", "loss");
  if (random_heads) std::printf(" %14s %12s", ("random " + to_string(metric)).c_str(), "random loss");
  std::printf("\n");
  std::vector<double> metric_v, share_v, loss_v, rmetric_v, rloss_v;
  for (float a : alphas) {
    const Scored s = score(*m.model, task, metric, batch_size, shifts, a);
    metric_v.push_back(s.metric), share_v.push_back(s.true_share), loss_v.push_back(s.loss);
    std::printf("  %8.2f %12.4f %11.3f %9.4f", a, s.metric, s.true_share, s.loss);
    if (random_heads) {
      const Scored r = score(*m.model, task, metric, batch_size, random_shifts, a);
      rmetric_v.push_back(r.metric), rloss_v.push_back(r.loss);
      std::printf(" %14.4f %12.4f", r.metric, r.loss);
    }
    std::printf("\n");
  }

  make_parent_dirs(out + ".h5", "--out");
  OutputFiles written;
  {
    h5::AtomicFile f(out + ".h5");
    h5::File& root = f.file();
    h5::set_format(root, "headlab.intervention", 1);
    root.set_attr("probes", probes_path);
    root.set_attr("checkpoint", checkpoint);
    root.set_attr("model_hash", m.hash);
    root.set_attr("data", data);
    root.set_attr("metric", to_string(metric));
    root.set_attr("top_k", int64_t(chosen.size()));
    root.write<float>("alphas", alphas);
    root.write<double>("metric", metric_v);
    root.write<double>("true_share", share_v);
    root.write<double>("loss", loss_v);
    if (random_heads) {
      root.write<double>("random_metric", rmetric_v);
      root.write<double>("random_loss", rloss_v);
    }
    std::vector<int32_t> heads;
    for (const HeadProbe& h : chosen) heads.push_back(h.layer), heads.push_back(h.head);
    root.write<int32_t>("heads", heads.data(), {int64_t(chosen.size()), 2});
    f.commit();
  }
  written.add(out + ".h5");
  svg::write_svg(out + ".svg",
                 svg::stack({against_alpha("ITI: " + to_string(metric) + " against alpha", to_string(metric), alphas,
                                           metric_v, rmetric_v),
                             against_alpha("ITI: next-token loss against alpha", "loss", alphas, loss_v, rloss_v)}));
  written.add(out + ".svg");
  written.keep();
  std::printf("wrote %s.h5 and %s.svg\n", out.c_str(), out.c_str());
  return 0;
}

}  // namespace headlab::probes_cli
