#include "tools/headlab-probes/probes_options.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace headlab::probes_cli {

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
  std::fprintf(stderr, "%s%s: %lld/%lld %s (%lld%%), %s %s/s, eta %s%s", terminal_ ? "\r" : "", prefix_.c_str(),
               (long long)done, (long long)total, unit_.c_str(), (long long)(total > 0 ? done * 100 / total : 100),
               format_rate(rate).c_str(), unit_.c_str(), format_duration(eta).c_str(), terminal_ ? "\x1b[K" : "\n");
  open_ = terminal_;
  std::fflush(stderr);
}

void ProgressLine::finish() {
  if (open_) std::fputc('\n', stderr);
  open_ = false;
}

}  // namespace headlab::probes_cli
