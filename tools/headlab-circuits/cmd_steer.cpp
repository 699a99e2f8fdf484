// headlab-circuits steer: directional addition and subtraction at one hook point.
//
// The direction is mean(activation | --positive) - mean(activation | --negative) (FILE:corrupted
// takes a task's corrupted rows), or /direction of an earlier steer output (--direction FILE). It is added times each
// coefficient at every position while the task (--data) is scored and while continuations of its prompts are sampled.
// Output PREFIX.h5 (format headlab.steering): /direction (one position's slice), /coefficients,
// /metric, /loss [C]; root attributes hook, direction_source, direction_norm, unsteered_metric,
// unsteered_loss; /samples (JSON text: prompts and continuations per coefficient).
// PREFIX.svg: metric and loss against the coefficient.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "circuits/steering.h"
#include "circuits/svg_plot.h"
#include "core/errors.h"
#include "core/lists.h"
#include "core/output_files.h"
#include "tools/common/dataset_warning.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {
namespace {

struct SampleOptions {
  int count = 3, max_new = 10;
  float temperature = 0;
  uint64_t seed = 0;
  std::vector<float> coefficients;
};

// The longest continuation --max-new asks for: each token is one forward per coefficient and prompt.
constexpr int kMaxNewTokens = 4096;

// The width of one position's activation at `point`: [d_model], [n_heads, d_head] ... flattened.
int64_t slice_width(HookPoint point, const ModelConfig& c) {
  const std::vector<int64_t> shape = hook_shape(point, c, 1, 1);
  int64_t width = 1;
  for (size_t i = 2; i < shape.size(); ++i) width *= shape[i];
  return width;
}

std::optional<HookPoint> hook_point_of(const std::string& name, const ModelConfig& c) {
  try {
    return parse_hook_name(name, c);
  } catch (const InputError&) {
    return std::nullopt;
  }
}

// /direction of an earlier steer output, taken at --hook. A direction found at another kind of point
// (hook_z's [head, d_head] at hook_resid_pre's [d_model]) is refused even when the widths agree.
std::vector<float> read_direction(const std::string& path, HookPoint point, const ModelConfig& c) {
  const std::string what = "--direction " + path;
  h5::File f = reading("--direction", [&] { return h5::File::open(path); });
  reading("--direction", [&] { return h5::check_format(f, "headlab.steering", 1); });
  const int64_t expected = slice_width(point, c);
  if (f.has_attr("hook")) {
    const std::string from = reading("--direction", [&] { return f.attr_string("hook"); });
    // A point this model lacks (another model's layer) leaves only the width below to check.
    if (const std::optional<HookPoint> source = hook_point_of(from, c)) {
      const std::vector<int64_t> a = hook_shape(*source, c, 1, 1), b = hook_shape(point, c, 1, 1);
      if (std::vector<int64_t>(a.begin() + 2, a.end()) != std::vector<int64_t>(b.begin() + 2, b.end()))
        throw InputError(what, "was found at " + from + ", whose activations are shaped differently from " +
                                   hook_name(point) + "'s; use a direction from a point of the same kind");
    }
  }
  const std::vector<float> d = reading("--direction", [&] { return f.read<float>("direction", h5::Shape{-1}); });
  if (int64_t(d.size()) != expected)
    throw InputError(what + ": /direction", "has " + std::to_string(d.size()) + " values; --hook " + hook_name(point) +
                                                " needs " + std::to_string(expected));
  for (size_t i = 0; i < d.size(); ++i)
    if (!std::isfinite(d[i]))
      throw InputError(what + ": /direction",
                       "expected finite values; found " + std::to_string(d[i]) + " at [" + std::to_string(i) + "]");
  return d;
}

// Continuations of the first rows' prompts (up to answer_pos), unsteered and at each coefficient.
nlohmann::json sample_continuations(LoadedModel& m, const LoadedTask& t, HookPoint point,
                                    const std::vector<float>& direction, const SampleOptions& s) {
  nlohmann::json out = nlohmann::json::array();
  for (int64_t row = 0; row < std::min<int64_t>(s.count, t.task.n); ++row) {
    const int32_t* tokens = t.task.clean.data() + row * t.task.T;
    const std::vector<int32_t> prompt(tokens, tokens + t.task.answer_pos[size_t(row)] + 1);
    nlohmann::json entry;
    entry["prompt"] = token_text(prompt, m, t.dataset);
    entry["prompt_tokens"] = prompt;
    std::printf("prompt %lld: %s\n", (long long)row, entry["prompt"].get<std::string>().c_str());
    std::vector<float> coefficients = {0.0f};
    coefficients.insert(coefficients.end(), s.coefficients.begin(), s.coefficients.end());
    for (float coef : coefficients) {
      HookSet hooks;
      hooks.add_forward(point, add_direction(direction, coef));
      const std::vector<int32_t> seq = generate(*m.model, prompt, s.max_new, s.temperature, s.seed, &hooks);
      const std::vector<int32_t> added(seq.begin() + int64_t(prompt.size()), seq.end());
      const std::string text = token_text(added, m, t.dataset);
      entry["continuations"].push_back({{"coefficient", coef}, {"tokens", added}, {"text", text}});
      std::printf("  %+8.2f -> %s\n", coef, text.c_str());
    }
    out.push_back(entry);
  }
  return out;
}

// --positive / --negative: a dataset's /tokens rows, or its /corrupted rows with FILE:corrupted.
TokenDataset prompt_set(const std::string& arg, const std::string& option) {
  const std::string suffix = ":corrupted";
  const bool corrupted =
      arg.size() > suffix.size() && arg.compare(arg.size() - suffix.size(), suffix.size(), suffix) == 0;
  const std::string path = corrupted ? arg.substr(0, arg.size() - suffix.size()) : arg;
  TokenDataset ds = reading(option, [&] { return read_token_dataset(path); });
  cli::warn_assumed("headlab-circuits", ds);
  if (ds.kind != DatasetKind::sequences || ds.n_seq < 1 || ds.seq_len < 1)
    throw InputError(option + " " + path, "expected a dataset of sequences [n_seq, seq_len] with at least one row");
  if (corrupted) {
    if (!ds.has_pairs())
      throw InputError(option + " " + path + ": /corrupted", "asked for the corrupted rows, and the dataset has none");
    ds.tokens = ds.corrupted;
  }
  return ds;
}

svg::Picture against_coefficient(const std::string& title, const std::string& y, std::vector<float> coefs,
                                 std::vector<double> values, double unsteered) {
  coefs.push_back(0.0f);
  values.push_back(unsteered);
  std::vector<size_t> order(coefs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return coefs[a] < coefs[b]; });
  svg::LineChart c;
  c.title = title;
  c.x_title = "coefficient";
  c.y_title = y;
  svg::Series s{y, {}};
  for (size_t i : order) {
    c.x.push_back(coefs[i]);
    s.y.push_back(values[i]);
  }
  c.series = {s};
  return svg::line_chart(c);
}

void write_steering_file(const std::string& path, const CommonOptions& o, const LoadedModel& m, const TaskData& task,
                         const std::string& hook, const std::string& source, const std::vector<float>& direction,
                         const SteeringReport& r, const nlohmann::json& samples) {
  h5::AtomicFile file(path);
  h5::Group root = file.file();
  write_provenance(root, "headlab.steering", o, m, task);
  root.set_attr("hook", hook);
  root.set_attr("metric", to_string(r.metric_kind));
  root.set_attr("metric_description", metric_description(r.metric_kind));
  root.set_attr("direction_source", source);
  root.set_attr("direction_norm", r.direction_norm);
  root.set_attr("unsteered_metric", r.unsteered_metric);
  root.set_attr("unsteered_loss", r.unsteered_loss);
  root.write<float>("direction", direction.data(), {int64_t(direction.size())});
  root.write<float>("coefficients", r.coefficients.data(), {int64_t(r.coefficients.size())});
  root.write<double>("metric", r.metric.data(), {int64_t(r.coefficients.size())});
  root.write<double>("loss", r.loss.data(), {int64_t(r.coefficients.size())});
  root.write_string("samples", samples.dump(1));
  file.commit();
}

}  // namespace

int cmd_steer(int argc, char** argv) {
  CommonOptions o;
  std::string hook_arg, positive_path, negative_path, direction_path, positions_arg, coefs_arg, sample_coefs_arg;
  SampleOptions s;
  int64_t seed = 0;
  po::options_description opts("headlab-circuits steer");
  add_common_options(opts, o);
  opts.add_options()("hook", po::value<std::string>(&hook_arg),
                     "hook point to steer at (e.g. blocks.1.hook_resid_pre)")(
      "positive", po::value<std::string>(&positive_path),
      "dataset of prompts on the + side of the direction (FILE, or FILE:corrupted for its /corrupted rows)")(
      "negative", po::value<std::string>(&negative_path), "dataset of prompts on the - side (FILE or FILE:corrupted)")(
      "direction", po::value<std::string>(&direction_path), "instead: /direction of an earlier steer output")(
      "direction-positions", po::value<std::string>(&positions_arg)->default_value("all"),
      "average the activations over all | last (answer_pos) positions")(
      "coefficients", po::value<std::string>(&coefs_arg)->default_value("-4,-2,-1,1,2,4"), "comma-separated")(
      "samples", po::value<int>(&s.count)->default_value(3), "prompts of --data to continue (0 = none)")(
      "max-new", po::value<int>(&s.max_new)->default_value(10), "tokens per continuation")(
      "temperature", po::value<float>(&s.temperature)->default_value(0.0f), "0 = greedy")(
      "seed", po::value<int64_t>(&seed)->default_value(0), "sampling seed")(
      "sample-coefficients", po::value<std::string>(&sample_coefs_arg),
      "coefficients to sample at (default: the smallest and largest of --coefficients)");
  if (!parse_command_line(argc, argv, opts,
                          "usage: headlab-circuits steer --checkpoint CKPT --data TASK.h5 --hook NAME "
                          "(--positive P.h5 --negative N.h5 | --direction STEER.h5) (--out PREFIX | --out-dir DIR)"))
    return 0;
  check_common_options(o, "steer");
  if (hook_arg.empty()) throw InputError("--hook", "is required (e.g. blocks.1.hook_resid_pre)");
  if (direction_path.empty() == (positive_path.empty() || negative_path.empty()))
    throw InputError("--positive / --negative / --direction", "give --positive and --negative, or --direction");
  s.seed = seed_value(seed);
  if (s.count < 0) throw InputError("--samples", "expected 0 or more prompts, got " + std::to_string(s.count));
  if (s.max_new < 0 || s.max_new > kMaxNewTokens)
    throw InputError("--max-new",
                     "expected 0 to " + std::to_string(kMaxNewTokens) + " tokens, got " + std::to_string(s.max_new));
  if (!(s.temperature >= 0) || !std::isfinite(s.temperature))
    throw InputError("--temperature", "expected a number >= 0");
  const MetricKind metric = parse_metric(o.metric);
  const std::vector<float> coefs = parse_number_list<float>(coefs_arg, "--coefficients");
  s.coefficients = sample_coefs_arg.empty() ? std::vector<float>{*std::min_element(coefs.begin(), coefs.end()),
                                                                 *std::max_element(coefs.begin(), coefs.end())}
                                            : parse_number_list<float>(sample_coefs_arg, "--sample-coefficients");
  if (s.coefficients.size() == 2 && s.coefficients[0] == s.coefficients[1]) s.coefficients.resize(1);
  const DirectionPositions positions = parse_direction_positions(positions_arg, "--direction-positions");
  LoadedModel m = load_model(o);
  const ModelConfig& c = m.checkpoint.config;
  const HookPoint point = parse_hook_name(hook_arg, c);
  if (point.site == HookSite::attn_pattern || point.site == HookSite::attn_scores)
    throw InputError("--hook " + hook_arg, "steering needs a point with a position axis, not an attention pattern");
  LoadedTask t = load_task(o, metric, PairsNeeded::no, c);
  const OutputPaths out = output_paths(o, "steer");
  check_not_input(out.h5(), out.option, direction_path, "--direction");

  const std::vector<float> direction =
      direction_path.empty()
          ? mean_difference_direction(*m.model, point, prompt_set(positive_path, "--positive"),
                                      "--positive " + positive_path, prompt_set(negative_path, "--negative"),
                                      "--negative " + negative_path, positions, o.batch_size)
          : read_direction(direction_path, point, c);
  const SteeringReport r = evaluate_steering(*m.model, t.task, point, direction, coefs, metric, o.batch_size);

  std::printf("steering at %s: direction norm %.4f, metric %s over %lld rows\n", hook_arg.c_str(), r.direction_norm,
              to_string(metric).c_str(), (long long)t.task.n);
  std::printf("  %12s %12s %12s %12s\n", "coefficient", "metric", "change", "loss");
  std::printf("  %12s %12.4f %12s %12.4f\n", "(none)", r.unsteered_metric, "", r.unsteered_loss);
  for (size_t k = 0; k < coefs.size(); ++k)
    std::printf("  %12.3f %12.4f %+12.4f %12.4f\n", coefs[k], r.metric[k], r.metric[k] - r.unsteered_metric, r.loss[k]);
  const nlohmann::json samples = sample_continuations(m, t, point, direction, s);

  const std::string source = direction_path.empty() ? "mean(" + positive_path + ") - mean(" + negative_path +
                                                          ") over " + positions_arg + " positions"
                                                    : direction_path;
  OutputFiles written;  // the .h5 and the .svg, both or neither
  out.make_folders();
  write_steering_file(out.h5(), o, m, t.task, hook_arg, source, direction, r, samples);
  written.add(out.h5());
  svg::write_svg(
      out.svg(),
      svg::stack({against_coefficient("steering at " + hook_arg + ": " + to_string(metric), to_string(metric), coefs,
                                      r.metric, r.unsteered_metric),
                  against_coefficient("steering at " + hook_arg + ": loss", "loss", coefs, r.loss, r.unsteered_loss)}));
  written.add(out.svg());
  written.keep();
  std::printf("wrote %s and %s\n", out.h5().c_str(), out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
