// What every headlab-circuits subcommand shares: the common options (--checkpoint, --data,
// --metric, --out / --out-dir, --batch-size, --device, --threads, --max-rows), loading the model
// and the task, where the output files go, the provenance attributes every output file carries,
// and axis labels for the pictures. Part of the command, not of the library (it uses Boost).
#pragma once
#include <boost/program_options.hpp>
#include <memory>
#include <string>
#include <vector>

#include "circuits/metrics.h"
#include "circuits/task_data.h"
#include "core/errors.h"
#include "core/h5_file.h"
#include "data/token_dataset.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "tools/common/loaded_model.h"
#include "tools/common/subcommands.h"

namespace headlab::circuits_cli {

namespace po = boost::program_options;

struct CommonOptions {
  std::string checkpoint, data, metric = "logit_diff", out, out_dir, device = "cpu";
  int batch_size = 16, threads = 0;
  int64_t max_rows = 0;
};

void add_common_options(po::options_description& opts, CommonOptions& o);
using cli::parse_command_line;
// InputError unless --checkpoint and --data are given, the metric parses, exactly one of --out and
// --out-dir is given and names a place the command's files (output_paths(o, command)) can be
// written without replacing an input, and --batch-size, --max-rows and --threads are in range.
void check_common_options(const CommonOptions& o, const std::string& command);
// Seeds are read as signed numbers (Boost would turn "-1" into 2^64 - 1 for an unsigned option) and
// must be >= 0.
uint64_t seed_value(int64_t seed, const std::string& what = "--seed");

using cli::LoadedModel;
using cli::reading;
// The model of --checkpoint on --device (cli::load_model).
LoadedModel load_model(const CommonOptions& o);

// --data as a task: read, checked against the metric and the model; pairs as the command needs.
struct LoadedTask {
  std::string path;
  TokenDataset dataset;
  TaskData task;
};
LoadedTask load_task(const CommonOptions& o, MetricKind metric, PairsNeeded pairs, const ModelConfig& cfg);

// Output files: --out PREFIX gives PREFIX.h5 and PREFIX<suffix>.svg; --out-dir DIR gives
// DIR/<command>.h5 and DIR/<command><suffix>.svg. Missing folders (DIR, or those above PREFIX) are
// created by make_folders(), which commands call just before writing; output_paths() only checks
// (InputError naming the option) that the files can be written there, so a bad destination fails
// before the work. Commands add each finished file to an OutputFiles (core/output_files.h): the
// .h5 and the .svg are left together or not at all.
struct OutputPaths {
  std::string prefix, option;  // option: "--out PREFIX" or "--out-dir DIR", for messages
  std::string h5() const { return prefix + ".h5"; }
  std::string svg(const std::string& suffix = "") const { return prefix + suffix + ".svg"; }
  void make_folders() const;
};
OutputPaths output_paths(const CommonOptions& o, const std::string& command);

// format / format_version, and the inputs: checkpoint, model_hash, data, metric, n_rows, seq_len.
void write_provenance(h5::Group& root, const std::string& format, const CommonOptions& o, const LoadedModel& m,
                      const TaskData& task);

// Labels for the positions of a task's rows: "3 S2" where the dataset's role label is the same at
// that position in every row, else "3 Mary" where every row has the same token there (decoded
// with the checkpoint's or the dataset's tokenizer), else "3".
std::vector<std::string> position_labels(const LoadedTask& t, const LoadedModel& m);

// Text of token ids with the checkpoint's or dataset's tokenizer; the ids themselves without one.
std::string token_text(const std::vector<int32_t>& ids, const LoadedModel& m, const TokenDataset& ds);

void progress(const std::string& line);

// A training run's checkpoints by step (--checkpoints DIR): DIR/checkpoints/step_N.h5, else
// DIR/step_N.h5. InputError when there are none.
struct StepCheckpoint {
  int64_t step;
  std::string path;
};
std::vector<StepCheckpoint> find_checkpoints(const std::string& dir);  // to stderr, prefixed with the tool's name

}  // namespace headlab::circuits_cli
