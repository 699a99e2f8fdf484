#include "tools/headlab-probes/probes_options.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace headlab::probes_cli {

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
