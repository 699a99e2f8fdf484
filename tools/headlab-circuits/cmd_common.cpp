#include "tools/headlab-circuits/cmd_common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <regex>

#include "core/errors.h"
#include "core/lists.h"
#include "core/output_files.h"
#include "data/dataset_annotations.h"
#include "data/tokenizer.h"
#include "model/backend.h"
#include "tools/common/dataset_warning.h"

namespace headlab::circuits_cli {

void add_common_options(po::options_description& opts, CommonOptions& o) {
  opts.add_options()("help", "this help")("checkpoint", po::value<std::string>(&o.checkpoint),
                                          "model checkpoint (.h5)")(
      "data", po::value<std::string>(&o.data),
      "task dataset (.h5): /tokens, /corrupted, /answer, /wrong_answer, /answer_pos")(
      "metric", po::value<std::string>(&o.metric)->default_value(o.metric),
      "logit_diff | prob | kl | prob_diff (greater-than: p(years > start) - p(years <= start))")(
      "out", po::value<std::string>(&o.out), "output prefix: writes PREFIX.h5 and PREFIX*.svg")(
      "out-dir", po::value<std::string>(&o.out_dir), "output folder (instead of --out): DIR/<command>.h5, .svg")(
      "batch-size", po::value<int>(&o.batch_size)->default_value(o.batch_size), "rows per forward")(
      "max-rows", po::value<int64_t>(&o.max_rows)->default_value(0), "use the first N rows only (0 = all)")(
      "device", po::value<std::string>(&o.device)->default_value(o.device), "cpu | cuda")(
      "threads", po::value<int>(&o.threads)->default_value(0), "CPU threads (0 = all cores)");
}

void check_common_options(const CommonOptions& o, const std::string& command) {
  if (o.checkpoint.empty()) throw InputError("--checkpoint", "is required");
  if (o.data.empty()) throw InputError("--data", "is required");
  parse_metric(o.metric);
  if (o.out.empty() == o.out_dir.empty()) throw InputError("--out / --out-dir", "give exactly one of them");
  if (o.batch_size < 1) throw InputError("--batch-size", "expected a positive integer");
  if (o.max_rows < 0) throw InputError("--max-rows", "expected 0 (all) or a positive number");
  require_cpu_threads(o.threads);
  // The destination is checked now, before the model runs; folders are made only when writing.
  const OutputPaths out = output_paths(o, command);
  check_not_input(out.h5(), out.option, o.data, "--data");
  check_not_input(out.h5(), out.option, o.checkpoint, "--checkpoint");
}

uint64_t seed_value(int64_t seed, const std::string& what) {
  if (seed < 0) throw InputError(what, "expected a seed >= 0, got " + std::to_string(seed));
  return uint64_t(seed);
}

LoadedModel load_model(const CommonOptions& o) { return cli::load_model(o.checkpoint, o.device, o.threads); }

LoadedTask load_task(const CommonOptions& o, MetricKind metric, PairsNeeded pairs, const ModelConfig& cfg) {
  LoadedTask t;
  t.path = o.data;
  t.dataset = reading("--data", [&] { return read_token_dataset(o.data); });
  cli::warn_assumed("headlab-circuits", t.dataset);
  DatasetAnnotations annotations;
  if (metric == MetricKind::prob_diff)
    annotations = reading("--data", [&] { return read_dataset_annotations(o.data); });
  t.task = task_data_from(t.dataset, "--data " + o.data, metric, pairs, o.max_rows, &annotations);
  check_task_fits_model(t.task, cfg);
  return t;
}

OutputPaths output_paths(const CommonOptions& o, const std::string& command) {
  if (!o.out.empty()) {
    if (o.out.back() == '/')
      throw InputError("--out " + o.out, "expected a file prefix (PREFIX.h5, PREFIX.svg); for a folder use --out-dir");
    check_output_file(o.out + ".h5", "--out");
    check_output_file(o.out + ".svg", "--out");
    return {o.out, "--out"};
  }
  check_output_dir(o.out_dir, "--out-dir");
  return {(std::filesystem::path(o.out_dir) / command).string(), "--out-dir"};
}

void OutputPaths::make_folders() const { make_parent_dirs(h5(), option); }

void write_provenance(h5::Group& root, const std::string& format, const CommonOptions& o, const LoadedModel& m,
                      const TaskData& task) {
  h5::set_format(root, format, 1);
  root.set_attr("checkpoint", o.checkpoint);
  root.set_attr("model_hash", m.hash);
  root.set_attr("data", o.data);
  root.set_attr("n_rows", int64_t(task.n));
  root.set_attr("seq_len", int64_t(task.T));
}

namespace {

std::unique_ptr<Tokenizer> tokenizer_of(const LoadedModel& m, const TokenDataset& ds) {
  try {
    if (!m.checkpoint.tokenizer_json.empty())
      return tokenizer_from_json(m.checkpoint.tokenizer_json, "checkpoint /tokenizer");
    if (!ds.tokenizer_json.empty()) return tokenizer_from_json(ds.tokenizer_json, "dataset tokenizer");
  } catch (const InputError&) {
    // Labels are a convenience: a tokenizer we cannot read only costs the words on the axes.
  }
  return nullptr;
}

std::string short_text(std::string s) {
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  if (s.size() > 10) s = s.substr(0, 9) + "~";
  return s;
}

}  // namespace

std::vector<std::string> position_labels(const LoadedTask& t, const LoadedModel& m) {
  const TaskData& task = t.task;
  std::vector<std::string> roles;
  auto role_it = t.dataset.labels.find("role");
  if (role_it != t.dataset.labels.end()) {
    try {
      DatasetAnnotations a = read_dataset_annotations(t.path);
      if (a.label_names.count("role")) roles = a.label_names["role"];
    } catch (const InputError&) {
    }
  }
  auto tok = tokenizer_of(m, t.dataset);
  std::vector<std::string> out;
  for (int p = 0; p < task.T; ++p) {
    std::string label = std::to_string(p);
    bool same_role = role_it != t.dataset.labels.end(), same_token = true;
    const int32_t role0 = same_role ? role_it->second[size_t(p)] : 0;
    const int32_t tok0 = task.clean[size_t(p)];
    for (int64_t r = 1; r < task.n; ++r) {
      if (same_role && role_it->second[size_t(r * t.dataset.seq_len + p)] != role0) same_role = false;
      if (task.clean[size_t(r * task.T + p)] != tok0) same_token = false;
    }
    if (same_role && role0 > 0 && size_t(role0) < roles.size())
      label += " " + roles[size_t(role0)];
    else if (same_token && tok)
      label += " " + short_text(tok->decode({tok0}));
    out.push_back(label);
  }
  return out;
}

std::string token_text(const std::vector<int32_t>& ids, const LoadedModel& m, const TokenDataset& ds) {
  auto tok = tokenizer_of(m, ds);
  if (tok) {
    try {
      return tok->decode(ids);
    } catch (const InputError&) {
    }
  }
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s;
}

void progress(const std::string& line) { std::fprintf(stderr, "headlab-circuits: %s\n", line.c_str()); }

std::vector<StepCheckpoint> find_checkpoints(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError("--checkpoints " + dir, "is not a folder");
  const std::regex name("step_([0-9]{1,15})\\.h5");
  std::vector<StepCheckpoint> out;
  for (const fs::path& folder : {fs::path(dir) / "checkpoints", fs::path(dir)}) {
    if (!fs::is_directory(folder, ec)) continue;
    for (const auto& e : fs::directory_iterator(folder, ec)) {
      std::smatch mt;
      const std::string file = e.path().filename().string();
      if (e.is_regular_file(ec) && std::regex_match(file, mt, name))
        out.push_back({std::stoll(mt[1]), e.path().string()});
    }
    if (!out.empty()) break;
  }
  if (out.empty())
    throw InputError("--checkpoints " + dir, "holds no checkpoints (expected checkpoints/step_N.h5 or step_N.h5)");
  std::sort(out.begin(), out.end(), [](const StepCheckpoint& a, const StepCheckpoint& b) { return a.step < b.step; });
  return out;
}

}  // namespace headlab::circuits_cli
