// headlab-probes linear: linear probes on an activation store, one per hook point and, with
// --per-head, one per head, each beside its majority baseline and control task (probes/linear_probe.h).
// Full batch when the hook point's matrix fits in memory, else (or with --solver minibatch) minibatch
// Adam streaming the store; "iterations" are L-BFGS iterations or epochs.
//
// Output folder (written whole, or not at all):
//   probes.h5   format headlab.probe: root attributes store, label, kind (classes | scalar), score
//               (accuracy | r2), model_hash, seed, split, l2_grid, solver (lbfgs | minibatch), class_names
//               (JSON); /split
//               [n_tokens] int8 (0 train, 1 validation, 2 test, -1 unlabelled); /classes [k];
//               /table/{layer, head, features, test_score, baseline, control_score, selectivity,
//               validation_score, train_score, l2, control_l2, iterations, seconds} [P] with attribute
//               names (JSON list of the P probe names); per probe /probes/<hook>[/H<h>]/W [k, d], b
//               [k] (for the raw activations) and, for two classes, direction [d] and attribute
//               projection_std
//   probes.txt  the table
//   probes.json the table for programs: format headlab.probe_table, store, label, score, solver, probes [one
//               object per probe: name, hook, layer, head (-1: the whole point), features, test_score,
//               baseline, control_score, selectivity (null without the control task),
//               validation_score, train_score, l2, control_l2, iterations, seconds]
//   heads.svg   accuracy and selectivity by layer and head, one pair of heatmaps per kind of hook
//               point (with --per-head)
//   directions/<probe>.h5  the probe's direction in headlab.steering form, for
//               headlab-circuits steer --direction (two classes, or --direction-class)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "circuits/svg_plot.h"
#include "core/atomic_write.h"
#include "core/errors.h"
#include "core/lists.h"
#include "core/memory.h"
#include "core/output_files.h"
#include "probes/linear_probe.h"
#include "tools/common/rank_job.h"
#include "tools/headlab-probes/commands.h"
#include "tools/headlab-probes/probes_options.h"

namespace headlab::probes_cli {
namespace {

struct Job {
  std::string hook;
  int layer = -1, head = -1;
};

std::string probe_name(const Job& j) { return j.head < 0 ? j.hook : j.hook + " H" + std::to_string(j.head); }
std::string probe_path(const Job& j) { return j.head < 0 ? j.hook : j.hook + "/H" + std::to_string(j.head); }
// The hook name without the layer, grouping the heatmaps: "attn.hook_z".
std::string hook_kind(const std::string& hook) {
  const size_t dot = hook.find('.', hook.find('.') + 1);
  return hook.rfind("blocks.", 0) == 0 && dot != std::string::npos ? hook.substr(dot + 1) : hook;
}
int layer_of(const std::string& hook) {
  if (hook.rfind("blocks.", 0) != 0) return -1;
  return std::atoi(hook.c_str() + 7);
}

// "L1H2" -> {1, 2}; InputError otherwise.
std::pair<int, int> parse_head(const std::string& text) {
  int l = -1, h = -1;
  char extra = 0;
  if (std::sscanf(text.c_str(), "L%dH%d%c", &l, &h, &extra) != 2 || l < 0 || h < 0)
    throw InputError("--heads", "expected heads written L<layer>H<head> (L1H4), got '" + text + "'");
  return {l, h};
}

std::string fmt(double v, const char* spec = "%.3f") {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

// A probe's result and back, exactly (CBOR keeps floats and NaN): how ranks hand theirs to rank 0.
nlohmann::json result_json(const ProbeResult& r) {
  return {{"hook", r.hook},
          {"layer", r.layer},
          {"head", r.head},
          {"features", r.features},
          {"d", r.fit.d},
          {"k", r.fit.k},
          {"W", r.fit.W},
          {"b", r.fit.b},
          {"objective", r.fit.objective},
          {"iterations", r.fit.iterations},
          {"converged", r.fit.converged},
          {"l2", r.l2},
          {"train_score", r.train_score},
          {"validation_score", r.validation_score},
          {"test_score", r.test_score},
          {"baseline", r.baseline},
          {"control_score", r.control_score},
          {"control_l2", r.control_l2},
          {"selectivity", r.selectivity},
          {"direction", r.direction},
          {"projection_std", r.projection_std},
          {"seconds", r.seconds}};
}

ProbeResult result_from_json(const nlohmann::json& j) {
  ProbeResult r;
  r.hook = j.at("hook").get<std::string>();
  r.layer = j.at("layer").get<int>();
  r.head = j.at("head").get<int>();
  r.features = j.at("features").get<int64_t>();
  r.fit.d = j.at("d").get<int64_t>();
  r.fit.k = j.at("k").get<int>();
  r.fit.W = j.at("W").get<std::vector<float>>();
  r.fit.b = j.at("b").get<std::vector<float>>();
  r.fit.objective = j.at("objective").get<double>();
  r.fit.iterations = j.at("iterations").get<int>();
  r.fit.converged = j.at("converged").get<bool>();
  r.l2 = j.at("l2").get<double>();
  r.train_score = j.at("train_score").get<double>();
  r.validation_score = j.at("validation_score").get<double>();
  r.test_score = j.at("test_score").get<double>();
  r.baseline = j.at("baseline").get<double>();
  r.control_score = j.at("control_score").get<double>();
  r.control_l2 = j.at("control_l2").get<double>();
  r.selectivity = j.at("selectivity").get<double>();
  r.direction = j.at("direction").get<std::vector<float>>();
  r.projection_std = j.at("projection_std").get<double>();
  r.seconds = j.at("seconds").get<double>();
  return r;
}

std::string bytes_of(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

std::string table_text(const std::vector<Job>& jobs, const std::vector<ProbeResult>& results, bool scalar) {
  std::string s;
  char line[512];
  std::snprintf(line, sizeof line, "%-34s %5s %4s %8s %9s %9s %9s %11s %8s %9s %6s %8s\n", "probe", "layer", "head",
                "features", scalar ? "R2" : "accuracy", "baseline", "control", "selectivity", "l2", "train", "iters",
                "seconds");
  s += line;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const ProbeResult& r = results[i];
    std::snprintf(line, sizeof line, "%-34s %5s %4s %8lld %9s %9s %9s %11s %8s %9s %6d %8.2f\n", jobs[i].hook.c_str(),
                  jobs[i].layer < 0 ? "-" : std::to_string(jobs[i].layer).c_str(),
                  jobs[i].head < 0 ? "-" : std::to_string(jobs[i].head).c_str(), (long long)r.features,
                  fmt(r.test_score).c_str(), fmt(r.baseline).c_str(), fmt(r.control_score).c_str(),
                  fmt(r.selectivity, "%+.3f").c_str(), fmt(r.l2, "%.0e").c_str(), fmt(r.train_score).c_str(),
                  r.fit.iterations, r.seconds);
    s += line;
  }
  return s;
}

svg::Picture head_heatmaps(const std::string& kind, const std::vector<Job>& jobs,
                           const std::vector<ProbeResult>& results, int n_layers, int n_heads, bool scalar) {
  svg::Heatmap acc, sel;
  acc.title = (scalar ? "R2 of a ridge probe on each head's " : "test accuracy of a probe on each head's ") + kind;
  sel.title = "selectivity (" + std::string(scalar ? "R2" : "accuracy") + " - control task) on each head's " + kind;
  for (svg::Heatmap* h : {&acc, &sel}) {
    h->x_title = "head";
    h->y_title = "layer";
    h->x_labels = svg::head_labels(n_heads);
    h->y_labels = svg::layer_labels(n_layers);
    h->values.assign(size_t(n_layers * n_heads), NAN);
    h->scale = svg::ColourScale::sequential;
  }
  acc.value_title = scalar ? "R2" : "accuracy";
  sel.value_title = "selectivity";
  sel.scale = svg::ColourScale::diverging;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].head < 0 || hook_kind(jobs[i].hook) != kind || jobs[i].layer < 0) continue;
    const size_t cell = size_t(jobs[i].layer * n_heads + jobs[i].head);
    acc.values[cell] = results[i].test_score;
    sel.values[cell] = results[i].selectivity;
  }
  return svg::stack({svg::heatmap(acc), svg::heatmap(sel)});
}

// A headlab.steering file: what headlab-circuits steer --direction reads.
void write_direction_file(const std::string& path, const std::string& hook, const std::vector<float>& direction,
                          const std::string& source) {
  h5::AtomicFile f(path);
  h5::File& root = f.file();
  h5::set_format(root, "headlab.steering", 1);
  root.set_attr("hook", hook);
  root.set_attr("direction_source", source);
  double norm = 0;
  for (float v : direction) norm += double(v) * v;
  root.set_attr("direction_norm", std::sqrt(norm));
  root.write<float>("direction", direction.data(), {int64_t(direction.size())});
  f.commit();
}

}  // namespace

int cmd_linear(int argc, char** argv) {
  std::string store_path, label, hooks_arg, heads_arg, split_arg, l2_arg, out_dir, direction_class, solver = "auto";
  bool per_head = false, no_control = false;
  int64_t seed = 0, batch_size = 256, max_memory_mib = 0;
  int max_iter = 1000, threads = 0, epochs = 100, patience = 3;
  double tol = 1e-4, lr = 1e-2;
  po::options_description opts("headlab-probes linear");
  opts.add_options()("help,h", "this help")("store", po::value<std::string>(&store_path), "activation store (extract)")(
      "label", po::value<std::string>(&label), "label to probe for (/labels/<name> of the store)")(
      "hooks", po::value<std::string>(&hooks_arg), "comma-separated hook names (default: every hook of the store)")(
      "per-head", po::bool_switch(&per_head), "one probe per head on each hook with a head axis (hook_z ...)")(
      "heads", po::value<std::string>(&heads_arg), "only these heads (L1H2,L0H3; implies --per-head)")(
      "split", po::value<std::string>(&split_arg)->default_value("0.6,0.2,0.2"),
      "train,validation,test fractions of the documents")("seed", po::value<int64_t>(&seed)->default_value(0),
                                                          "split, control-task and minibatch-order seed")(
      "l2", po::value<std::string>(&l2_arg)->default_value("1e-1,1e-2,1e-3,1e-4"),
      "L2 strengths to choose from on the validation set")("no-control", po::bool_switch(&no_control),
                                                           "skip the control task (halves the cost)")(
      "max-iter", po::value<int>(&max_iter)->default_value(1000), "L-BFGS iterations per fit")(
      "tol", po::value<double>(&tol)->default_value(1e-4, "1e-4"),
      "L-BFGS stops when max |gradient of the mean loss| <= tol")(
      "direction-class", po::value<std::string>(&direction_class),
      "with more than two classes: write directions for this class (its weights minus the mean of all)")(
      "solver", po::value<std::string>(&solver)->default_value("auto"),
      "lbfgs: full batch, each hook point's matrix in memory; minibatch: Adam with early stopping, streaming "
      "the store in chunks; auto: lbfgs when the full batch fits in memory, else minibatch")(
      "max-memory", po::value<int64_t>(&max_memory_mib)->default_value(0),
      "MiB the job may use (0 = the machine's: physical memory or ulimit -v); auto compares the full batch with it")(
      "batch-size", po::value<int64_t>(&batch_size)->default_value(256), "minibatch: rows per Adam step")(
      "lr", po::value<double>(&lr)->default_value(1e-2, "1e-2"), "minibatch: Adam's step size")(
      "epochs", po::value<int>(&epochs)->default_value(100),
      "minibatch: at most this many passes over the training rows")(
      "patience", po::value<int>(&patience)->default_value(3),
      "minibatch: stop after this many epochs without a lower validation loss")(
      "threads", po::value<int>(&threads)->default_value(0), "CPU threads (0 = all cores)")(
      "out", po::value<std::string>(&out_dir), "output folder");
  if (!parse_command_line(argc, argv, opts,
                          "usage: headlab-probes linear --store STORE.h5 --label NAME [--hooks ...] [--per-head] "
                          "[--solver auto|lbfgs|minibatch] --out DIR"))
    return 0;
  for (const auto& [name, value] :
       {std::pair<const char*, std::string*>{"--store", &store_path}, {"--label", &label}, {"--out", &out_dir}})
    if (value->empty()) throw InputError(name, "is required");
  require_cpu_threads(threads);
  if (seed < 0) throw InputError("--seed", "expected a number >= 0");
  if (max_iter < 1) throw InputError("--max-iter", "expected a positive count");
  if (!(tol > 0)) throw InputError("--tol", "expected a positive number");
  if (solver != "auto" && solver != "lbfgs" && solver != "minibatch")
    throw InputError("--solver " + solver, "expected auto, lbfgs or minibatch");
  if (max_memory_mib < 0) throw InputError("--max-memory", "expected MiB >= 0 (0: the machine's memory)");
  if (batch_size < 1) throw InputError("--batch-size", "expected a positive count");
  if (!(lr > 0) || !std::isfinite(lr)) throw InputError("--lr", "expected a positive number");
  if (epochs < 1) throw InputError("--epochs", "expected a positive count");
  if (patience < 1) throw InputError("--patience", "expected a positive count");
  const std::vector<double> split = parse_number_list<double>(split_arg, "--split");
  if (split.size() != 3 || split[0] <= 0 || split[1] <= 0 || split[2] <= 0)
    throw InputError("--split", "expected three positive fractions train,validation,test (0.6,0.2,0.2)");
  ProbeOptions po_;
  po_.l2_grid = parse_number_list<double>(l2_arg, "--l2");
  for (double v : po_.l2_grid)
    if (!(v > 0)) throw InputError("--l2", "expected positive L2 strengths");
  po_.lbfgs.max_iterations = max_iter;
  po_.lbfgs.gradient_tolerance = tol;
  po_.control = !no_control;
  po_.minibatch.batch_rows = batch_size;
  po_.minibatch.learning_rate = lr;
  po_.minibatch.max_epochs = epochs;
  po_.minibatch.patience = patience;
  po_.minibatch.seed = uint64_t(seed);
  check_output_dir(out_dir, "--out");
  check_not_input(out_dir, "--out", store_path, "--store");

  const ActivationStore store = reading("--store", [&] { return ActivationStore(store_path); });
  const int n_layers = store.provenance().config ? store.provenance().config->n_layers : 0;
  std::vector<std::string> hooks = hooks_arg.empty() ? store.hooks() : split_nonempty(hooks_arg);
  if (hooks.empty()) throw InputError("--store " + store_path, "holds no hook points");
  for (const std::string& h : hooks) reading("--hooks", [&] { return store.shape(h); });
  if (!store.has_label(label)) reading("--label", [&] { return store.class_label(label); });  // names what exists
  std::vector<std::pair<int, int>> only_heads;
  for (const std::string& h : split_nonempty(heads_arg)) only_heads.push_back(parse_head(h));
  if (!only_heads.empty()) per_head = true;

  std::vector<Job> jobs;
  for (const std::string& h : hooks) {
    const h5::Shape s = store.shape(h);
    const bool has_heads = s.size() == 3;
    if (per_head && has_heads) {
      for (int head = 0; head < int(s[1]); ++head) {
        if (!only_heads.empty() &&
            std::find(only_heads.begin(), only_heads.end(), std::make_pair(layer_of(h), head)) == only_heads.end())
          continue;
        jobs.push_back({h, layer_of(h), head});
      }
    } else {
      jobs.push_back({h, layer_of(h), -1});
    }
  }
  for (const auto& [l, h] : only_heads) {
    bool found = false;
    int most = -1;
    for (const std::string& hook : hooks)
      if (layer_of(hook) == l && store.shape(hook).size() == 3) {
        most = int(store.shape(hook)[1]);
        found = found || h < most;
      }
    if (!found)
      throw InputError("--heads L" + std::to_string(l) + "H" + std::to_string(h),
                       most < 0 ? "no hook point of layer " + std::to_string(l) + " with a head axis is probed"
                                : "head index out of range: layer " + std::to_string(l) + " has heads 0.." +
                                      std::to_string(most - 1));
  }

  const double fractions[3] = {split[0], split[1], split[2]};
  const ProbeTask task = prepare_probe_task(store, label, fractions, uint64_t(seed), po_.control);
  const std::vector<std::string> names = store.class_names(label);
  int direction_index = -1;
  if (!direction_class.empty()) {
    for (size_t c = 0; c < task.classes.size(); ++c) {
      const int32_t v = task.classes[c];
      if (direction_class == std::to_string(v) || (size_t(v) < names.size() && names[size_t(v)] == direction_class))
        direction_index = int(c);
    }
    if (task.scalar || direction_index < 0)
      throw InputError("--direction-class " + direction_class, "is not a class of the label's training tokens");
  }
  double widest = 0;
  for (const std::string& h : hooks) widest = std::max(widest, double(store.row_width(h)));
  // The full batch holds the hook point's matrix, a head's slice of it and the standardised sets.
  const double full_batch = double(store.n_tokens()) * widest * 4.0 * 3.0;
  double usable = usable_memory_bytes();
  if (max_memory_mib > 0) {
    const double limit = double(max_memory_mib) * double(1 << 20);
    usable = usable > 0 ? std::min(usable, limit) : limit;
  }
  const auto gib = [](double bytes) { return fmt(bytes / double(1 << 30), "%.3g") + " GiB"; };
  const std::string memory_what =
      max_memory_mib > 0 ? "--max-memory " + std::to_string(max_memory_mib) : "--store " + store_path;
  if (solver == "auto") solver = usable > 0 && full_batch > usable ? "minibatch" : "lbfgs";
  if (solver == "lbfgs" && usable > 0 && full_batch > usable)
    throw InputError(memory_what, "probing " + std::to_string(store.n_tokens()) +
                                      " tokens of the widest hook point in full batch needs about " + gib(full_batch) +
                                      " of memory, more than the " + gib(usable) + " usable: use --solver minibatch");
  if (solver == "minibatch") {
    // One chunk of rows (read, and standardised) in an eighth of the memory, at most 64 MiB: the
    // rest is for the program itself and the per-token labels; past 64 MiB larger reads buy nothing.
    const double chunk_budget = std::min(usable > 0 ? usable / 8 : 1e18, double(64 << 20));
    po_.minibatch.chunk_rows =
        std::max<int64_t>(batch_size, std::min<int64_t>(1 << 20, int64_t(chunk_budget / (8.0 * widest))));
    // Per token the job keeps labels, split and control labels; the store's ids are read once.
    const double streaming = double(po_.minibatch.chunk_rows) * widest * 8.0 + double(store.n_tokens()) * 40.0;
    if (usable > 0 && streaming > usable)
      throw InputError(memory_what, "the minibatch solver needs about " + gib(streaming) + " (chunks of " +
                                        std::to_string(po_.minibatch.chunk_rows) + " rows and " +
                                        std::to_string(store.n_tokens()) + " tokens' labels), more than the " +
                                        gib(usable) + " usable");
    std::fprintf(stderr,
                 "headlab-probes linear: solver minibatch (Adam, batches of %lld rows, chunks of %lld rows read from "
                 "the store; the full batch would need about %s of the %s usable)\n",
                 (long long)batch_size, (long long)po_.minibatch.chunk_rows, gib(full_batch).c_str(),
                 gib(usable).c_str());
  } else {
    std::fprintf(stderr, "headlab-probes linear: solver lbfgs (full batch, about %s of the %s usable)\n",
                 gib(full_batch).c_str(), gib(usable).c_str());
  }

  // Under mpirun each rank trains the probes it owns; rank 0 gathers them and writes.
  cli::RankJob& job = cli::rank_job();
  job.agree(cli::file_fingerprint(store_path));
  auto be = make_cpu_backend(threads);
  std::vector<ProbeResult> results(jobs.size());
  std::vector<float> X, slice;
  std::string loaded;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    if (!job.shard().owns(int64_t(i))) continue;
    if (solver == "minibatch") {
      results[i] = train_probe_streaming(*be, store, j.hook, j.head, task, po_);
    } else {
      const int64_t width = store.row_width(j.hook);
      if (loaded != j.hook) {
        X.resize(size_t(store.n_tokens() * width));
        store.read_rows(j.hook, 0, store.n_tokens(), X.data());
        loaded = j.hook;
      }
      const float* features = X.data();
      int64_t d = width;
      if (j.head >= 0) {
        const h5::Shape s = store.shape(j.hook);
        d = s[2];
        slice.resize(size_t(store.n_tokens() * d));
        for (int64_t t = 0; t < store.n_tokens(); ++t)
          std::copy_n(X.data() + t * width + j.head * d, d, slice.data() + t * d);
        features = slice.data();
      }
      results[i] = train_probe(*be, features, d, task, po_);
    }
    results[i].hook = j.hook;
    results[i].layer = j.layer;
    results[i].head = j.head;
    std::fprintf(stderr, "headlab-probes linear: %zu/%zu %s: %s %.3f (baseline %.3f, control %s), %.2fs\n", i + 1,
                 jobs.size(), probe_name(j).c_str(), task.scalar ? "R2" : "accuracy", results[i].test_score,
                 results[i].baseline, fmt(results[i].control_score).c_str(), results[i].seconds);
  }
  if (job.size() > 1) {
    nlohmann::json mine = nlohmann::json::array();
    for (size_t i = 0; i < jobs.size(); ++i)
      if (job.shard().owns(int64_t(i))) mine.push_back(result_json(results[i]));
    const std::vector<std::string> all = job.ranks().gather(bytes_of(nlohmann::json::to_cbor(mine)));
    if (!job.writes()) return 0;
    std::vector<nlohmann::json> from(all.size());
    std::vector<size_t> next(all.size(), 0);
    for (size_t r = 0; r < all.size(); ++r) from[r] = nlohmann::json::from_cbor(all[r]);
    for (size_t i = 0; i < jobs.size(); ++i) {
      const size_t r = size_t(job.shard().owner(int64_t(i)));
      results[i] = result_from_json(from[r].at(next[r]++));
    }
  }

  // ---- outputs, staged and moved into place whole
  StagedDir staged(out_dir, "--out");
  const std::string dir = staged.path();
  {
    h5::AtomicFile f(dir + "/probes.h5");
    h5::File& root = f.file();
    h5::set_format(root, "headlab.probe", 1);
    root.set_attr("store", store_path);
    root.set_attr("label", label);
    root.set_attr("kind", task.scalar ? "scalar" : "classes");
    root.set_attr("score", task.scalar ? "r2" : "accuracy");
    root.set_attr("model_hash", store.provenance().model_hash);
    root.set_attr("seed", seed);
    root.set_attr("split", split_arg);
    root.set_attr("l2_grid", l2_arg);
    root.set_attr("solver", solver);
    root.set_attr("class_names", nlohmann::json(names).dump());
    root.set_attr("control_task", po_.control ? "random label per token type (Hewitt & Liang 2019)" : "none");
    root.write<int32_t>("split", std::vector<int32_t>(task.split.set.begin(), task.split.set.end()));
    if (!task.scalar) root.write<int32_t>("classes", task.classes);
    const size_t P = jobs.size();
    std::map<std::string, std::vector<double>> cols;
    std::vector<int32_t> layer(P), head(P), features(P), iterations(P);
    nlohmann::json probe_names = nlohmann::json::array();
    for (size_t i = 0; i < P; ++i) {
      const ProbeResult& r = results[i];
      layer[i] = jobs[i].layer, head[i] = jobs[i].head, features[i] = int32_t(r.features);
      iterations[i] = r.fit.iterations;
      probe_names.push_back(probe_name(jobs[i]));
      cols["test_score"].push_back(r.test_score);
      cols["baseline"].push_back(r.baseline);
      cols["control_score"].push_back(r.control_score);
      cols["selectivity"].push_back(r.selectivity);
      cols["validation_score"].push_back(r.validation_score);
      cols["train_score"].push_back(r.train_score);
      cols["l2"].push_back(r.l2);
      cols["control_l2"].push_back(r.control_l2);
      cols["seconds"].push_back(r.seconds);
      const std::string g = "probes/" + probe_path(jobs[i]);
      root.write<float>(g + "/W", r.fit.W.data(), {r.fit.k, r.fit.d});
      root.write<float>(g + "/b", r.fit.b);
      if (!r.direction.empty()) {
        root.write<float>(g + "/direction", r.direction);
        root.group(g).set_attr("projection_std", r.projection_std);
      }
      root.group(g).set_attr("test_score", r.test_score);
      root.group(g).set_attr("validation_score", r.validation_score);
    }
    h5::Group table = root.create_group("table");
    table.set_attr("names", probe_names.dump());
    table.write<int32_t>("layer", layer);
    table.write<int32_t>("head", head);
    table.write<int32_t>("features", features);
    table.write<int32_t>("iterations", iterations);
    for (const auto& [name, values] : cols) table.write<double>(name, values);
    f.commit();
  }
  const std::string text = table_text(jobs, results, task.scalar);
  write_text_file_atomically(dir + "/probes.txt", text);
  {
    // The table for programs: NaN (no control task) is written as null.
    nlohmann::json probes = nlohmann::json::array();
    for (size_t i = 0; i < jobs.size(); ++i) {
      const ProbeResult& r = results[i];
      auto number = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
      probes.push_back({{"name", probe_name(jobs[i])},
                        {"hook", jobs[i].hook},
                        {"layer", jobs[i].layer},
                        {"head", jobs[i].head},
                        {"features", r.features},
                        {"test_score", r.test_score},
                        {"baseline", r.baseline},
                        {"control_score", number(r.control_score)},
                        {"selectivity", number(r.selectivity)},
                        {"validation_score", r.validation_score},
                        {"train_score", r.train_score},
                        {"l2", r.l2},
                        {"control_l2", number(r.control_l2)},
                        {"iterations", r.fit.iterations},
                        {"seconds", r.seconds}});
    }
    const nlohmann::json j = {
        {"format", "headlab.probe_table"},          {"format_version", 1}, {"store", store_path}, {"label", label},
        {"score", task.scalar ? "r2" : "accuracy"}, {"solver", solver},    {"probes", probes}};
    write_text_file_atomically(dir + "/probes.json", j.dump(1) + "\n");
  }

  std::vector<svg::Picture> maps;
  std::vector<std::string> kinds;
  for (const Job& j : jobs)
    if (j.head >= 0 && std::find(kinds.begin(), kinds.end(), hook_kind(j.hook)) == kinds.end())
      kinds.push_back(hook_kind(j.hook));
  for (const std::string& kind : kinds) {
    int layers = std::max(n_layers, 1), heads = 1;
    for (const Job& j : jobs)
      if (j.head >= 0) layers = std::max(layers, j.layer + 1), heads = std::max(heads, j.head + 1);
    maps.push_back(head_heatmaps(kind, jobs, results, layers, heads, task.scalar));
  }
  if (!maps.empty()) svg::write_svg(dir + "/heads.svg", svg::stack(maps));

  int directions = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const ProbeResult& r = results[i];
    std::vector<float> dir_vec;
    if (!r.direction.empty() && direction_index < 0) {
      dir_vec = r.direction;
    } else if (direction_index >= 0) {  // one class against the average of all
      dir_vec.assign(size_t(r.fit.d), 0.0f);
      for (int64_t j = 0; j < r.fit.d; ++j) {
        double mean = 0;
        for (int c = 0; c < r.fit.k; ++c) mean += r.fit.W[size_t(c * r.fit.d + j)] / double(r.fit.k);
        dir_vec[size_t(j)] = float(r.fit.W[size_t(direction_index * r.fit.d + j)] - mean);
      }
    }
    if (dir_vec.empty()) continue;
    std::vector<float> full = dir_vec;
    if (jobs[i].head >= 0) {  // the head's slice of the whole point, zero for the other heads
      const int64_t width = store.row_width(jobs[i].hook);
      full.assign(size_t(width), 0.0f);
      std::copy(dir_vec.begin(), dir_vec.end(), full.begin() + jobs[i].head * r.fit.d);
    }
    if (directions == 0) make_parent_dirs(dir + "/directions/x", "--out");
    const std::string file =
        jobs[i].hook + (jobs[i].head >= 0 ? ".H" + std::to_string(jobs[i].head) : std::string()) + ".h5";
    write_direction_file(dir + "/directions/" + file, jobs[i].hook, full,
                         "linear probe for " + label + " on " + probe_name(jobs[i]) + " (" + store_path + ")");
    ++directions;
  }
  staged.commit();

  std::printf(
      "%s probes for %s on %s: %lld / %lld / %lld tokens (train / validation / test) from %lld / %lld / %lld "
      "documents, %zu classes\n",
      task.scalar ? "ridge" : "logistic", label.c_str(), store_path.c_str(), (long long)task.split.tokens[0],
      (long long)task.split.tokens[1], (long long)task.split.tokens[2], (long long)task.split.documents[0],
      (long long)task.split.documents[1], (long long)task.split.documents[2], task.classes.size());
  std::fputs(text.c_str(), stdout);
  std::printf("wrote %s/probes.h5, probes.json, probes.txt%s%s\n", out_dir.c_str(), maps.empty() ? "" : ", heads.svg",
              directions ? (", " + std::to_string(directions) + " directions in directions/").c_str() : "");
  return 0;
}

}  // namespace headlab::probes_cli
