#include "train/metrics_log.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "model/errors.h"

namespace headlab {
namespace {

// The lines of an earlier run's log with step <= last_step (malformed lines are dropped).
std::vector<std::string> lines_up_to(const std::string& path, int64_t last_step) {
  std::vector<std::string> kept;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() <= last_step)
      kept.push_back(line);
  }
  return kept;
}

// NaN and inf have no JSON spelling: null.
nlohmann::json number(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

}  // namespace

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
  std::vector<std::string> kept;
  if (resume_step > 0) kept = lines_up_to(path, resume_step);
  file_ = std::fopen(path.c_str(), "w");
  if (!file_) throw InputError("--out " + path, std::string("cannot write the file: ") + std::strerror(errno));
  for (const std::string& line : kept) write_line(line);
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write_line(const std::string& line) {
  if (std::fprintf(file_, "%s\n", line.c_str()) < 0 || std::fflush(file_) != 0)
    throw InternalError("writing " + path_ + ": " + std::strerror(errno));
}

void MetricsLog::on_step(const StepRecord& r, Transformer&) {
  if (!r.log) return;
  nlohmann::json j = {{"step", r.step},
                      {"loss", number(r.loss)},
                      {"lr", number(r.lr)},
                      {"grad_norm", number(r.grad_norm)},
                      {"tokens_per_s", number(r.tokens_per_s)},
                      {"tokens_seen", r.tokens_seen},
                      {"elapsed_s", number(r.elapsed_s)}};
  if (r.val_loss) j["val_loss"] = number(*r.val_loss);
  write_line(j.dump());
}

void MetricsLog::on_eval(int64_t step, std::optional<float> val_loss, Transformer&) {
  if (step != 0) return;  // later evaluations ride on their step's line
  nlohmann::json j = {{"step", 0}};
  if (val_loss) j["val_loss"] = number(*val_loss);
  write_line(j.dump());
}

}  // namespace headlab
