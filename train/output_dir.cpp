#include "train/output_dir.h"

#include <filesystem>
#include <regex>
#include <string>
#include <system_error>
#include <vector>

#include "core/errors.h"
#include "core/h5_file.h"
#include "core/output_files.h"
#include "model/checkpoint.h"

// Policing a run's output folder before anything is written (train/output_dir.h); building the
// session itself is train/session.cpp.
namespace headlab {

namespace {

namespace fs = std::filesystem;

// The step of DIR/checkpoints/step_NNNNNN.h5, else -1.
int64_t checkpoint_name_step(const std::string& name) {
  static const std::regex pattern(R"(step_([0-9]{1,18})\.h5)");
  std::smatch m;
  return std::regex_match(name, m, pattern) ? std::stoll(m[1]) : -1;
}

// "" when `path` is a checkpoint of the run whose options are `options_json` (run_difference),
// else why not.
std::string foreign_run(const std::string& path, const std::string& options_json, const ModelConfig& config) {
  try {
    const ModelConfig other = read_checkpoint_config(path);
    const h5::File f = h5::File::open(path);
    if (!f.exists("train")) return "it has no training state";
    return run_difference(options_json, config, f.group("train").attr_string("options_json"), other);
  } catch (const InputError& e) {
    return std::string("it is not a checkpoint headlab-train can read: ") + e.what();
  }
}

// final.h5's step; -1 when it cannot be read.
int64_t final_step(const std::string& path) {
  try {
    return h5::File::open(path).group("train").attr_int("step");
  } catch (const InputError&) {
    return -1;
  }
}

// DIR's checkpoints and final.h5 must be this run's: those past its start step hold the same
// weights this run will write (the same options), the newest checkpoint before it (a resume) is
// the resumed run's own. Checked: the newest checkpoint on each side of the start, and final.h5
// when it is past the start.
void check_run_files(const TrainSession& s) {
  const std::string& dir = s.options.out;
  std::error_code ec;
  std::string later, earlier;
  int64_t later_step = s.step, earlier_step = -1;
  for (const auto& e : fs::directory_iterator(dir + "/checkpoints", ec)) {
    const int64_t step = checkpoint_name_step(e.path().filename().string());
    if (step < 0) continue;
    check_output_file(e.path().string(), "--out");
    if (step > later_step) later_step = step, later = e.path().string();
    if (step <= s.step && step > earlier_step) earlier_step = step, earlier = e.path().string();
  }
  std::vector<std::string> ahead, behind;
  if (!later.empty()) ahead.push_back(later);
  if (!earlier.empty() && s.step > 0) behind.push_back(earlier);
  const std::string final_path = dir + "/final.h5";
  if (fs::exists(fs::status(final_path, ec))) {
    const int64_t step = final_step(final_path);
    // One at or before the start is the end of an earlier stretch of the run (a resume from it
    // with a new --steps): its options may differ from the resumed checkpoint's.
    if (step < 0 || step > s.step) ahead.push_back(final_path);
  }
  std::string resumed_json;
  if (!behind.empty()) resumed_json = h5::File::open(s.options.resume).group("train").attr_string("options_json");
  auto refuse = [&](const std::string& path, const std::string& why, bool past) {
    const std::string from =
        past && s.step > 0 ? " past step " + std::to_string(s.step) + ", where this run starts," : "";
    throw InputError("--out " + dir, "holds " + path + from + " from another run (" + why +
                                         "); this run's checkpoints would mix with that run's. Give another --out, "
                                         "resume that run (--resume " +
                                         path + "), or remove its files");
  };
  for (const std::string& path : ahead) {
    const std::string why = foreign_run(path, checkpoint_options_json(s), s.model->config());
    if (!why.empty()) refuse(path, why, true);
  }
  for (const std::string& path : behind) {
    const std::string why = foreign_run(path, resumed_json, s.model->config());
    if (!why.empty()) refuse(path, why, false);
  }
}

// The same file, whatever the spelling ("run/./x.h5", a link to it).
bool same_file(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  std::error_code ec;
  if (fs::equivalent(a, b, ec)) return true;
  return fs::weakly_canonical(fs::absolute(a, ec), ec) == fs::weakly_canonical(fs::absolute(b, ec), ec);
}

}  // namespace

void check_output_paths(const TrainSession& s) {
  const TrainOptions& o = s.options;
  if (o.out.empty()) throw InputError("--out", "is required: the directory for checkpoints and metrics.jsonl");
  check_output_dir(o.out, "--out");
  check_output_dir((fs::path(o.out) / "checkpoints").string(), "--out");
  check_output_file((fs::path(o.out) / "metrics.jsonl").string(), "--out");
  check_output_file((fs::path(o.out) / "final.h5").string(), "--out");
  check_run_files(s);
  if (o.track_heads.empty()) return;
  check_output_file(o.track_heads, "--track-heads");
  const std::string track = "--track-heads " + o.track_heads;
  const std::vector<std::pair<std::string, std::string>> taken = {
      {o.data, "--data"},
      {o.val_data, "--val-data"},
      {o.init, "--init"},
      {o.resume, "--resume"},
      {o.out, "the --out directory"},
      {o.out + "/checkpoints", "the run's checkpoints directory"},
      {o.out + "/final.h5", "the run's final.h5"},
      {o.out + "/metrics.jsonl", "the run's metrics.jsonl"}};
  for (const auto& [path, role] : taken)
    if (same_file(o.track_heads, path))
      throw InputError(track, "is " + role + "; give the head scores a file of their own");
  if (same_file(fs::path(o.track_heads).parent_path().string(), o.out + "/checkpoints") &&
      checkpoint_name_step(fs::path(o.track_heads).filename().string()) >= 0)
    throw InputError(track, "is a checkpoint name of the run; give the head scores a file of their own");
}

}  // namespace headlab
