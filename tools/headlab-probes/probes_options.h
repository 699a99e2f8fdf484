// What the headlab-probes subcommands share: parsing a command line, the model of --checkpoint,
// hook lists, and the progress line on stderr. Part of the command (it uses Boost), not the library.
#pragma once
#include <boost/program_options.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/hooks.h"
#include "model/transformer.h"

namespace headlab::probes_cli {

namespace po = boost::program_options;

// Parses into `opts`' variables; false (after printing usage and options) for --help. Stray words
// are refused (Boost error, exit 2).
bool parse_command_line(int argc, char** argv, const po::options_description& opts, const std::string& usage,
                        po::variables_map* vm_out = nullptr);

// Runs `read` (a reader whose InputErrors start with the file's path) and names the option that gave
// the file: "--store s.h5: /labels/pos_tag: ...".
template <class Read>
auto reading(const std::string& option, Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const InputError& e) {
    throw InputError(option, e.what());
  }
}

struct LoadedModel {
  Checkpoint checkpoint;
  std::string hash;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> model;
};
// InputError for a checkpoint that cannot be read or holds NaN/inf weights.
LoadedModel load_model(const std::string& path, const std::string& device, int threads);

std::vector<std::string> split_list(const std::string& text);  // comma-separated, empty items dropped

// "42s", "3m05s", "1h02m".
std::string format_seconds(double seconds);

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
