// headlab-circuits task-eval: what a model (or every checkpoint of a run) has learned of a task, read
// at labelled positions: loss, answer accuracy, next-token accuracy per role set, the Markov
// strategies' KL and heads' attention hit rates (circuits/task_eval.h).
// PREFIX.h5 (format headlab.task_eval): /steps [S] (-1 for a single --checkpoint), /loss and
// /answer_accuracy [S]; /roles/accuracy, /roles/loss [S, R] and /roles/positions [R] (attribute
// names); /strategies/kl [S, 4] (attribute names); /attention/hit_rate and /attention/target_weight
// [S, L, H]. PREFIX.json holds the same numbers; PREFIX.svg draws them over the steps (or, for one
// checkpoint, the heads' hit rates).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "circuits/svg_plot.h"
#include "circuits/task_eval.h"
#include "core/atomic_write.h"
#include "core/errors.h"
#include "core/lists.h"
#include "core/output_files.h"
#include "data/dataset_annotations.h"
#include "tools/common/dataset_warning.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {

namespace {

constexpr const char* kUsage =
    "usage: headlab-circuits task-eval (--checkpoint CKPT | --checkpoints DIR) --data TASK.h5 (--out PREFIX | "
    "--out-dir DIR)\n"
    "       [--roles SET,SET...] [--strategies] [--attention-target LABEL]\n"
    "Loss (the dataset's loss mask), answer accuracy (argmax at answer_pos), and with --roles the next-token\n"
    "accuracy and loss at the positions whose /labels/role is in each set (a set: NAME or NAME+NAME).\n"
    "--strategies (a markov dataset): mean KL(strategy || model) over state positions for the uniform,\n"
    "in-context unigram, in-context bigram (Bayes-optimal) and true-transition predictors, the model's\n"
    "distribution renormalised over the states. --attention-target LABEL (e.g. attend_target): each head's\n"
    "share of labelled query positions whose most-attended key is the labelled one, and its weight there.\n"
    "--checkpoints DIR (instead of --checkpoint): every DIR/checkpoints/step_N.h5 (or DIR/step_N.h5) of a run.";

// JSON numbers cannot be NaN: null stands for "no value".
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

int cmd_task_eval(int argc, char** argv) {
  CommonOptions o;
  std::string checkpoints, roles, attention;
  bool strategies = false;
  po::options_description opts("headlab-circuits task-eval");
  add_common_options(opts, o);
  opts.add_options()("checkpoints", po::value(&checkpoints), "a training run's folder: score every checkpoint")(
      "roles", po::value(&roles), "role sets for next-token accuracy, e.g. trigger_repeat+END,bigram")(
      "strategies", po::bool_switch(&strategies), "markov: KL to the uniform, unigram, bigram and true predictors")(
      "attention-target", po::value(&attention), "label of the key position each query should attend to");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, opts, kUsage, &vm)) return 0;
  if (!vm["metric"].defaulted())
    throw InputError("--metric", "task-eval reports accuracy, loss and KL; it takes no --metric");
  if (vm.count("checkpoints") && vm.count("checkpoint"))
    throw InputError("--checkpoints", "give --checkpoint (one model) or --checkpoints (a run's folder), not both");
  std::vector<StepCheckpoint> ckpts;
  if (vm.count("checkpoints")) {
    ckpts = find_checkpoints(checkpoints);
    o.checkpoint = ckpts.front().path;
  } else {
    ckpts.push_back({-1, o.checkpoint});
  }
  check_common_options(o, "task_eval");
  const OutputPaths out = output_paths(o, "task_eval");
  const std::string json_path = out.prefix + ".json";
  check_output_file(json_path, out.option);
  for (const StepCheckpoint& c : ckpts) check_not_input(out.h5(), out.option, c.path, "--checkpoints");
  TaskEvalOptions eo;
  eo.batch_size = o.batch_size;
  eo.max_rows = o.max_rows;
  if (vm.count("roles")) {
    eo.roles = split_nonempty(roles, ',');
    if (eo.roles.empty()) throw InputError("--roles", "expected role names, e.g. --roles trigger_repeat+END,bigram");
  }
  eo.strategies = strategies;
  eo.attention_label = attention;
  const TokenDataset ds = reading("--data", [&] { return read_token_dataset(o.data); });
  cli::warn_assumed("headlab-circuits", ds);
  const DatasetAnnotations annotations = reading("--data", [&] { return read_dataset_annotations(o.data); });

  std::vector<TaskEvalResult> results;
  std::vector<int64_t> steps;
  ModelConfig first;
  for (size_t i = 0; i < ckpts.size(); ++i) {
    o.checkpoint = ckpts[i].path;
    LoadedModel m = load_model(o);
    if (i == 0) first = m.checkpoint.config;
    if (m.checkpoint.config.n_layers != first.n_layers || m.checkpoint.config.n_heads != first.n_heads)
      throw InputError("--checkpoints " + ckpts[i].path, "has another shape than " + ckpts.front().path);
    results.push_back(evaluate_task(*m.model, ds, annotations, eo, "--data " + o.data));
    steps.push_back(ckpts[i].step);
    const TaskEvalResult& r = results.back();
    std::string line = (ckpts[i].step >= 0 ? "step " + std::to_string(ckpts[i].step) : ckpts[i].path) + ": loss " +
                       std::to_string(r.loss) + ", answer accuracy " + std::to_string(r.answer_accuracy);
    if (ckpts.size() > 1) progress(line);
  }
  const TaskEvalResult& r0 = results.front();
  const int64_t S = int64_t(results.size()), R = int64_t(r0.roles.size()), L = r0.n_layers, H = r0.n_heads;
  const auto series = [&](auto get) {
    std::vector<double> v;
    for (const TaskEvalResult& r : results) v.push_back(get(r));
    return v;
  };

  OutputFiles written;
  out.make_folders();
  {
    h5::AtomicFile file(out.h5());
    h5::Group root = file.file();
    root.set_attr("format", "headlab.task_eval");
    root.set_attr("format_version", int64_t(1));
    root.set_attr("checkpoint", vm.count("checkpoints") ? checkpoints : ckpts.front().path);
    root.set_attr("data", o.data);
    root.set_attr("n_rows", r0.rows);
    root.write<int64_t>("steps", steps);
    root.write<double>("loss", series([](const TaskEvalResult& r) { return r.loss; }));
    root.write<double>("answer_accuracy", series([](const TaskEvalResult& r) { return r.answer_accuracy; }));
    if (R > 0) {
      h5::Group g = root.create_group("roles");
      std::vector<double> acc, loss;
      std::vector<int64_t> positions;
      std::vector<std::string> names;
      for (const TaskEvalResult& r : results)
        for (const RoleScore& s : r.roles) acc.push_back(s.accuracy), loss.push_back(s.loss);
      for (const RoleScore& s : r0.roles) positions.push_back(s.positions), names.push_back(s.name);
      g.write<double>("accuracy", acc.data(), {S, R});
      g.write<double>("loss", loss.data(), {S, R});
      g.write<int64_t>("positions", positions);
      g.set_attr("names", nlohmann::json(names).dump());
    }
    if (!r0.strategy_names.empty()) {
      h5::Group g = root.create_group("strategies");
      std::vector<double> kl;
      for (const TaskEvalResult& r : results) kl.insert(kl.end(), r.strategy_kl.begin(), r.strategy_kl.end());
      g.write<double>("kl", kl.data(), {S, int64_t(r0.strategy_names.size())});
      g.set_attr("names", nlohmann::json(r0.strategy_names).dump());
      g.set_attr("positions", r0.strategy_positions);
      g.set_attr("definition", "KL(strategy || model), model renormalised over the state tokens");
    }
    if (!r0.hit_rate.empty()) {
      h5::Group g = root.create_group("attention");
      std::vector<double> hit, weight;
      for (const TaskEvalResult& r : results) {
        hit.insert(hit.end(), r.hit_rate.begin(), r.hit_rate.end());
        weight.insert(weight.end(), r.target_weight.begin(), r.target_weight.end());
      }
      g.write<double>("hit_rate", hit.data(), {S, L, H});
      g.write<double>("target_weight", weight.data(), {S, L, H});
      g.set_attr("label", attention);
      g.set_attr("positions", r0.attention_positions);
    }
    file.commit();
  }
  written.add(out.h5());

  nlohmann::json j;
  j["format"] = "headlab.task_eval";
  j["data"] = o.data;
  j["rows"] = r0.rows;
  j["steps"] = steps;
  for (const TaskEvalResult& r : results) {
    j["loss"].push_back(number(r.loss));
    j["answer_accuracy"].push_back(number(r.answer_accuracy));
    for (const RoleScore& s : r.roles) {
      j["roles"][s.name]["accuracy"].push_back(number(s.accuracy));
      j["roles"][s.name]["loss"].push_back(number(s.loss));
      j["roles"][s.name]["positions"] = s.positions;
    }
    for (size_t k = 0; k < r.strategy_names.size(); ++k)
      j["strategies"][r.strategy_names[k]].push_back(number(r.strategy_kl[k]));
    if (!r.hit_rate.empty()) {
      nlohmann::json hit, weight;
      for (int64_t l = 0; l < L; ++l) {
        nlohmann::json hr, wr;
        for (int64_t h = 0; h < H; ++h) {
          hr.push_back(number(r.hit_rate[size_t(l * H + h)]));
          wr.push_back(number(r.target_weight[size_t(l * H + h)]));
        }
        hit.push_back(hr);
        weight.push_back(wr);
      }
      j["attention"]["hit_rate"].push_back(hit);
      j["attention"]["target_weight"].push_back(weight);
      j["attention"]["positions"] = r.attention_positions;
    }
  }
  write_text_file_atomically(json_path, j.dump(1) + "\n");
  written.add(json_path);

  // Pictures: over the steps, or the heads of one checkpoint.
  std::vector<svg::Picture> pictures;
  if (S > 1) {
    std::vector<double> x(steps.begin(), steps.end());
    svg::LineChart acc;
    acc.title = "accuracy over training";
    acc.x_title = "step";
    acc.y_title = "accuracy";
    acc.x = x;
    if (!ds.answer.empty())
      acc.series.push_back({"answer", series([](const TaskEvalResult& r) { return r.answer_accuracy; })});
    for (int64_t k = 0; k < R; ++k)
      acc.series.push_back(
          {r0.roles[size_t(k)].name, series([k](const TaskEvalResult& r) { return r.roles[size_t(k)].accuracy; })});
    pictures.push_back(svg::line_chart(acc));
    if (!r0.strategy_names.empty()) {
      svg::LineChart kl;
      kl.title = "KL(strategy || model) over training";
      kl.x_title = "step";
      kl.y_title = "KL (nats)";
      kl.x = x;
      for (size_t k = 0; k < r0.strategy_names.size(); ++k)
        kl.series.push_back({r0.strategy_names[k], series([k](const TaskEvalResult& r) { return r.strategy_kl[k]; })});
      pictures.push_back(svg::line_chart(kl));
    }
    if (!r0.hit_rate.empty()) {
      svg::LineChart hit;
      hit.title = "attention hit rate on /labels/" + attention + " over training";
      hit.x_title = "step";
      hit.y_title = "hit rate";
      hit.x = x;
      for (int64_t l = 0; l < L; ++l)
        for (int64_t h = 0; h < H; ++h)
          hit.series.push_back({"L" + std::to_string(l) + "H" + std::to_string(h),
                                series([&](const TaskEvalResult& r) { return r.hit_rate[size_t(l * H + h)]; })});
      pictures.push_back(svg::line_chart(hit));
    }
    svg::LineChart loss;
    loss.title = "loss over training";
    loss.x_title = "step";
    loss.y_title = "loss";
    loss.x = x;
    loss.series.push_back({"loss (mask)", series([](const TaskEvalResult& r) { return r.loss; })});
    pictures.push_back(svg::line_chart(loss));
  } else {
    svg::BarChart bars;
    bars.title = "accuracy";
    bars.y_title = "accuracy";
    if (!ds.answer.empty()) bars.labels.push_back("answer"), bars.values.push_back(r0.answer_accuracy);
    for (const RoleScore& s : r0.roles) bars.labels.push_back(s.name), bars.values.push_back(s.accuracy);
    if (!bars.labels.empty()) pictures.push_back(svg::bar_chart(bars));
    if (!r0.strategy_names.empty()) {
      svg::BarChart kl;
      kl.title = "KL(strategy || model)";
      kl.y_title = "KL (nats)";
      kl.labels = r0.strategy_names;
      kl.values = r0.strategy_kl;
      pictures.push_back(svg::bar_chart(kl));
    }
    if (!r0.hit_rate.empty()) {
      svg::Heatmap hm;
      hm.title = "attention hit rate on /labels/" + attention;
      hm.x_title = "head";
      hm.y_title = "layer";
      hm.x_labels = svg::head_labels(int(H));
      hm.y_labels = svg::layer_labels(int(L));
      hm.values = r0.hit_rate;
      hm.scale = svg::ColourScale::sequential;
      hm.limit = 1;
      hm.value_title = "hit rate";
      pictures.push_back(svg::heatmap(hm));
    }
  }
  if (pictures.empty()) {
    svg::BarChart loss;
    loss.title = "loss";
    loss.labels = {"loss"};
    loss.values = {r0.loss};
    pictures.push_back(svg::bar_chart(loss));
  }
  svg::write_svg(out.svg(), svg::stack(pictures));
  written.add(out.svg());
  written.keep();

  // The last checkpoint's numbers.
  const TaskEvalResult& r = results.back();
  std::printf("%s on %s (%lld rows)%s\n", ckpts.back().path.c_str(), o.data.c_str(), (long long)r.rows,
              S > 1 ? (", the last of " + std::to_string(S) + " checkpoints").c_str() : "");
  std::printf("  loss %.4f  answer accuracy %.4f\n", r.loss, r.answer_accuracy);
  for (const RoleScore& s : r.roles)
    std::printf("  role %-28s positions %8lld  accuracy %.4f  loss %.4f\n", s.name.c_str(), (long long)s.positions,
                s.accuracy, s.loss);
  for (size_t k = 0; k < r.strategy_names.size(); ++k)
    std::printf("  KL(%s || model) %.4f\n", r.strategy_names[k].c_str(), r.strategy_kl[k]);
  if (!r.hit_rate.empty()) {
    size_t best = 0;
    for (size_t i = 1; i < r.hit_rate.size(); ++i)
      if (r.hit_rate[i] > r.hit_rate[best]) best = i;
    std::printf("  attention on /labels/%s (%lld query positions): best head L%lldH%lld hit rate %.4f, weight %.4f\n",
                attention.c_str(), (long long)r.attention_positions, (long long)(int64_t(best) / H),
                (long long)(int64_t(best) % H), r.hit_rate[best], r.target_weight[best]);
  }
  std::printf("wrote %s, %s and %s\n", out.h5().c_str(), json_path.c_str(), out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
