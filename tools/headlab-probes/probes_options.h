// What the headlab-probes subcommands share: the command line and the model of --checkpoint (as
// every command reads them: tools/common/), and the progress line on stderr. Part of the command (it
// uses Boost), not the library.
#pragma once
#include <boost/program_options.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/progress_text.h"
#include "model/hooks.h"
#include "tools/common/loaded_model.h"
#include "tools/common/subcommands.h"

namespace headlab::probes_cli {

namespace po = boost::program_options;

using cli::load_model;
using cli::LoadedModel;
using cli::parse_command_line;
using cli::reading;

// One progress line on stderr: redrawn in place on a terminal (at most 5 times a second), else
// one line every 10% of the work; always a last line at the end.
class ProgressLine {
 public:
  ProgressLine(std::string prefix, std::string unit);
  ~ProgressLine();
  void update(int64_t done, int64_t total);
  void finish();

 private:
  std::string prefix_, unit_;
  bool terminal_, open_ = false;
  int64_t last_decile_ = -1, last_done_ = 0, last_total_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace headlab::probes_cli
