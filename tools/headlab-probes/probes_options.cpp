#include "tools/headlab-probes/probes_options.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace headlab::probes_cli {

bool parse_command_line(int argc, char** argv, const po::options_description& opts, const std::string& usage,
                        po::variables_map* vm_out) {
  po::variables_map local;
  po::variables_map& vm = vm_out ? *vm_out : local;
  // An empty positional description makes Boost refuse stray words instead of ignoring them.
  po::store(po::command_line_parser(argc, argv).options(opts).positional(po::positional_options_description()).run(),
            vm);
  if (vm.count("help")) {
    std::cout << usage << "\n" << opts;
    return false;
  }
  po::notify(vm);
  return true;
}

LoadedModel load_model(const std::string& path, const std::string& device, int threads) {
  LoadedModel m;
  m.checkpoint = reading("--checkpoint", [&] { return read_checkpoint(path); });
  require_finite_params(m.checkpoint, "--checkpoint " + path);
  m.hash = model_hash(m.checkpoint.config, m.checkpoint.params);
  m.backend = make_backend(parse_device(device), threads);
  m.model = std::make_unique<Transformer>(m.checkpoint.config, *m.backend);
  m.model->params_from_host(m.checkpoint.params);
  return m;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string format_seconds(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  if (t < 60)
    std::snprintf(buf, sizeof buf, "%lds", t);
  else if (t < 3600)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  return buf;
}

ProgressLine::ProgressLine(std::string prefix, std::string unit)
    : prefix_(std::move(prefix)), unit_(std::move(unit)), terminal_(isatty(STDERR_FILENO) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressLine::~ProgressLine() {
  if (open_) std::fputc('\n', stderr);
}

void ProgressLine::update(int64_t done, int64_t total) {
  last_done_ = done;
  last_total_ = total;
  const auto now = std::chrono::steady_clock::now();
  const int64_t decile = total > 0 ? done * 10 / total : 10;
  if (terminal_ ? now - last_draw_ < std::chrono::milliseconds(200) && done < total : decile == last_decile_) return;
  last_draw_ = now;
  last_decile_ = decile;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? double(done) / seconds : 0;
  const double eta = rate > 0 ? double(total - done) / rate : NAN;
  char rate_text[32];
  if (rate >= 1e6)
    std::snprintf(rate_text, sizeof rate_text, "%.2fM", rate / 1e6);
  else if (rate >= 1e3)
    std::snprintf(rate_text, sizeof rate_text, "%.1fk", rate / 1e3);
  else
    std::snprintf(rate_text, sizeof rate_text, "%.0f", rate);
  std::fprintf(stderr, "%s%s: %lld/%lld %s (%lld%%), %s %s/s, eta %s%s", terminal_ ? "\r" : "", prefix_.c_str(),
               (long long)done, (long long)total, unit_.c_str(), (long long)(total > 0 ? done * 100 / total : 100),
               rate_text, unit_.c_str(), format_seconds(eta).c_str(), terminal_ ? "\x1b[K" : "\n");
  open_ = terminal_;
  std::fflush(stderr);
}

void ProgressLine::finish() {
  if (open_) std::fputc('\n', stderr);
  open_ = false;
}

}  // namespace headlab::probes_cli
