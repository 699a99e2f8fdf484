// Analysis commands over the ranks of `mpirun -np N` (headlab-circuits, headlab-probes): every rank
// sets the command up from the same command line, takes its share of the work items (WorkShard:
// item i to rank i mod N), and sends its results to rank 0, which alone prints and writes files. A
// plain launch is one rank and the same code runs with every step a no-op.
//
// Errors, as headlab-train has them: an error while setting up (before RankJob::agree) is agreed by
// every rank and printed once, by rank 0, naming the first rank that met it unless that is rank 0
// itself (exit 2 on all ranks);
// so is a rank started on another command line or other inputs than rank 0's. An error after that,
// during the work, is one rank's alone (the others wait inside a collective): that rank prints its
// line, naming itself, and ends the job (MPI_Abort). No rank waits without bound.
// Header-only, as the rest of tools/common/; the commands that include it link headlab_train.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/hash.h"
#include "core/work_shard.h"
#include "tools/common/command_main.h"
#include "tools/common/subcommands.h"
#include "train/rank_group.h"

namespace headlab::cli {

// A stop every rank has agreed on: rank 0 prints it, all exit 2.
struct AgreedStop {
  std::string message;
};

class RankJob {
 public:
  explicit RankJob(RankGroup& ranks) : ranks_(ranks) {}
  RankGroup& ranks() { return ranks_; }
  int rank() const { return ranks_.rank(); }
  int size() const { return ranks_.size(); }
  // Rank 0: prints, writes the output files, receives the others' results.
  bool writes() const { return ranks_.rank() == 0; }
  WorkShard shard() const { return {ranks_.rank(), ranks_.size()}; }
  bool agreed() const { return agreed_; }

  // Called once the command's inputs are checked and loaded, before its work: every rank gets here
  // or fails before (see above). `must_match` is what every rank must have the same of: the
  // command line and the fingerprints of its inputs (the model's hash, the data's path and size).
  void agree(const std::string& must_match) {
    if (agreed_) throw InternalError("RankJob::agree called twice");
    agreed_ = true;
    if (ranks_.size() == 1) return;
    const std::string error = ranks_.first_error("");
    if (!error.empty()) throw AgreedStop{error};
    const int other = ranks_.first_disagreeing(must_match + "\n" + command_line_);
    if (other >= 0)
      throw AgreedStop{"rank " + std::to_string(other) +
                       ": started on another command line, model or data than rank 0 (every rank must run the same "
                       "command on the same files)"};
  }
  void set_command_line(int argc, char** argv) {
    command_line_.clear();
    for (int i = 0; i < argc; ++i) command_line_ += std::string(argv[i]) + '\0';
  }

 private:
  RankGroup& ranks_;
  bool agreed_ = false;
  std::string command_line_;
};

// What ranks compare of an input file: its size and a hash of its first and last MiB (all of it when
// smaller), so that a copy of the same file on another machine agrees and a different one does not
// (short of a change in the middle of a large file).
inline std::string file_fingerprint(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return path + " (unreadable)";
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  constexpr long kPart = 1 << 20;
  std::vector<char> bytes;
  uint64_t h = kFnv1aOffset;
  for (const long at : {0L, std::max(kPart, size - kPart)}) {
    if (at >= size) break;
    bytes.resize(size_t(std::min(kPart, size - at)));
    std::fseek(f, at, SEEK_SET);
    const size_t got = std::fread(bytes.data(), 1, bytes.size(), f);
    h = fnv1a(h, bytes.data(), got);
  }
  std::fclose(f);
  return std::to_string(size) + ":" + std::to_string(h);
}

// On rank 0, `mine` with each item's values taken from the rank that owns the item (WorkShard): the
// merge of a job whose items are runs of `item_width` elements of one array, item i at elements
// [i * item_width, (i + 1) * item_width). The other ranks get `mine` back.
inline std::vector<double> gather_owned(RankJob& job, const std::vector<double>& mine, size_t item_width = 1) {
  if (job.size() == 1) return mine;
  const std::string bytes(reinterpret_cast<const char*>(mine.data()), mine.size() * sizeof(double));
  const std::vector<std::string> all = job.ranks().gather(bytes);
  if (!job.writes()) return mine;
  for (const std::string& from : all)
    if (from.size() != bytes.size()) throw InternalError("gather_owned: the ranks' arrays differ in length");
  std::vector<double> out(mine.size());
  const WorkShard shard = job.shard();
  for (size_t i = 0; i < out.size(); ++i)
    std::memcpy(&out[i], all[size_t(shard.owner(int64_t(i / item_width)))].data() + i * sizeof(double), sizeof(double));
  return out;
}

namespace rank_job_detail {
inline RankJob*& current() {
  static RankJob* job = nullptr;
  return job;
}
}  // namespace rank_job_detail

// The job this process runs in (set up by rank_subcommand_main; InternalError outside it).
inline RankJob& rank_job() {
  RankJob* job = rank_job_detail::current();
  if (!job) throw InternalError("rank_job() outside rank_subcommand_main");
  return *job;
}

// The main of a tool whose subcommands marked runs_on_ranks share their work among the ranks of
// `mpirun -np N`; the other subcommands refuse more than one rank. Ranks other than 0 print nothing
// but the line of an error of their own.
inline int rank_subcommand_main(const char* tool, const std::vector<Subcommand>& table, int name_width, int argc,
                                char** argv) {
  std::unique_ptr<RankGroup> group;
  try {
    group = make_rank_group();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: internal: starting MPI: %s\n", tool, one_line(e.what()).c_str());
    return 1;
  }
  RankJob job(*group);
  job.set_command_line(argc, argv);
  rank_job_detail::current() = &job;
  auto run = [&] {
    if (group->size() > 1 && argc >= 2)
      for (const Subcommand& c : table)
        if (argv[1] == std::string(c.name) && !c.runs_on_ranks)
          throw InputError("mpirun -np " + std::to_string(group->size()),
                           std::string(tool) + " " + c.name + " runs in one process (launch it without mpirun)");
    return run_subcommand(tool, table, name_width, argc, argv);
  };
  if (group->size() == 1) return run_command(tool, run);

  // Only rank 0 speaks: the others' standard output and error go to /dev/null, their own error
  // lines to the real standard error.
  FILE* own_errors = stderr;
  if (!job.writes()) {
    std::fflush(stdout);
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    if (saved >= 0) own_errors = ::fdopen(saved, "w");
    // Kept open too: mpirun forwards each rank's output through pipes, and closing the last copy of
    // one before the rank ends makes its event loop warn.
    (void)::dup(STDOUT_FILENO);
    if (!own_errors) own_errors = stderr;
    if (std::FILE* null = std::fopen("/dev/null", "w")) {
      ::dup2(::fileno(null), STDOUT_FILENO);
      ::dup2(::fileno(null), STDERR_FILENO);
      std::fclose(null);
    }
  }
  try {
    return run();
  } catch (const AgreedStop& stop) {
    if (job.writes())
      std::fprintf(stderr, "%s: error: mpirun -np %d: %s\n", tool, group->size(),
                   one_line(stop.message.c_str()).c_str());
    return 2;
  } catch (...) {
    const ErrorReport r = report_current_exception(tool);
    if (!job.agreed()) {
      // Set-up: the others are on their way to agree() (or failed too): agree on the first error.
      // Rank 0's own error reads as one process's would; another rank's names the rank.
      std::string first = group->first_error(r.message);
      if (first.rfind("rank 0: ", 0) == 0) first.erase(0, 8);
      if (job.writes()) std::fprintf(stderr, "%s: error: %s\n", tool, first.c_str());
      return 2;
    }
    std::fprintf(own_errors, "%s: error: rank %d: %s\n", tool, group->rank(), r.message.c_str());
    std::fflush(own_errors);
    group->abort(r.status);
    return r.status;  // abort does not return
  }
}

}  // namespace headlab::cli
