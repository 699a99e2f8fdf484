#include "train/metrics_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/atomic_write.h"
#include "core/errors.h"

namespace headlab {
namespace {

struct KeptLines {
  std::vector<std::string> lines;
  double last_elapsed_s = 0;
};

// The lines of an earlier run's log with step <= last_step, steps strictly increasing. Anything
// else is dropped: a line cut short by a kill, a step the resumed run will write again.
KeptLines lines_up_to(const std::string& path, int64_t last_step) {
  KeptLines kept;
  std::ifstream in(path);
  std::string line;
  int64_t previous = -1;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
    const int64_t step = j["step"].get<int64_t>();
    if (step > last_step || step <= previous) continue;
    previous = step;
    kept.lines.push_back(line);
    if (j.contains("elapsed_s") && j["elapsed_s"].is_number()) kept.last_elapsed_s = j["elapsed_s"].get<double>();
  }
  return kept;
}

// `lines` replace the file at `path` in one rename (a kill leaves the old file or the new one).
void replace_with(const std::string& path, const std::vector<std::string>& lines) {
  const std::string tmp = hidden_temporary_path(path);
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw InputError("--out " + path, std::string("cannot write the file: ") + std::strerror(errno));
  bool ok = true;
  for (const std::string& line : lines) ok = ok && std::fprintf(f, "%s\n", line.c_str()) >= 0;
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw InternalError("rewriting " + path + " for the resumed run: " + std::strerror(err));
  }
}

// NaN and inf have no JSON spelling: null.
nlohmann::json number(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

}  // namespace

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
  if (resume_step > 0) {
    const KeptLines kept = lines_up_to(path, resume_step);
    replace_with(path, kept.lines);
    elapsed_offset_ = kept.last_elapsed_s;
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | (resume_step > 0 ? 0 : O_TRUNC), 0644);
  if (fd_ < 0) throw InputError("--out " + path, std::string("cannot write the file: ") + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (fd_ >= 0) ::close(fd_);
}

// One write() per line: a kill lands before the line or after it, not inside it (short of a full
// disk, after which the next resume drops the torn line).
void MetricsLog::write_line(const std::string& json, int64_t step) {
  const std::string line = json + "\n";
  size_t done = 0;
  if (test_kill_due("metrics", step)) {  // the hook: die with half the line on disk
    done = size_t(::write(fd_, line.data(), line.size() / 2));
    kill_if_testing("metrics", step);
  }
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw InternalError("writing " + path_ + ": " + std::strerror(errno));
    done += size_t(n);
  }
}

void MetricsLog::on_step(const StepRecord& r, Transformer&) {
  if (!r.log) return;
  nlohmann::json j = {{"step", r.step},
                      {"loss", number(r.loss)},
                      {"lr", number(r.lr)},
                      {"grad_norm", number(r.grad_norm)},
                      {"tokens_per_s", number(r.tokens_per_s)},
                      {"tokens_seen", r.tokens_seen},
                      {"elapsed_s", number(elapsed_offset_ + r.elapsed_s)}};
  if (r.val_loss) j["val_loss"] = number(*r.val_loss);
  if (r.allreduce_s) j["allreduce_s"] = number(*r.allreduce_s);
  write_line(j.dump(), r.step);
}

void MetricsLog::on_eval(int64_t step, std::optional<float> val_loss, Transformer&) {
  if (step != 0) return;  // later evaluations ride on their step's line
  nlohmann::json j = {{"step", 0}};
  if (val_loss) j["val_loss"] = number(*val_loss);
  write_line(j.dump(), 0);
}

}  // namespace headlab
