// Commands made of subcommands (headlab-circuits, headlab-probes): the table of subcommands, the main
// that picks one, and the command line of one subcommand. Header-only, as the rest of tools/common/.
#pragma once
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/message_text.h"
#include "tools/common/command_main.h"

namespace headlab::cli {

// One subcommand: its function gets argv from the subcommand's name on and returns the exit status
// (errors are thrown: run_command prints them).
struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
  // Whether it shares its work among the ranks of `mpirun -np N` (tools/common/rank_job.h); the
  // others refuse more than one rank.
  bool runs_on_ranks = false;
};

// The subcommand argv[1] names, run (throwing its errors); --help lists the table (names padded to
// name_width); anything else is an input error naming the choices; a Boost error inside a subcommand
// points at that subcommand's --help.
inline int run_subcommand(const char* tool, const std::vector<Subcommand>& table, int name_width, int argc,
                          char** argv) {
  auto names = [&] {
    std::string s;
    for (const Subcommand& c : table) s += std::string(s.empty() ? "" : ", ") + c.name;
    return s + " (see " + tool + " --help)";
  };
  if (argc < 2) throw InputError("command", "expected one of " + names());
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::printf("usage: %s <command> [options]\ncommands:\n", tool);
    for (const Subcommand& c : table) std::printf("  %-*s %s\n", name_width, c.name, c.summary);
    std::printf("Run %s <command> --help for the options of one command.\n", tool);
    return 0;
  }
  for (const Subcommand& c : table) {
    if (cmd != c.name) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const boost::program_options::error& e) {
      throw InputError("command line", std::string(e.what()) + " (see " + tool + " " + c.name + " --help)");
    }
  }
  throw InputError("command '" + printable_line(cmd, 100) + "'", "expected one of " + names());
}

// The whole main of a one-process `tool`.
inline int subcommand_main(const char* tool, const std::vector<Subcommand>& table, int name_width, int argc,
                           char** argv) {
  return run_command(tool, [&] { return run_subcommand(tool, table, name_width, argc, argv); });
}

// Parses a subcommand's command line into `opts`' variables. Returns false after printing the usage
// and the options when --help was given. Throws Boost errors (exit 2 through run_command) for bad
// options and for stray words that are no option's value. `vm_out`, when given, receives what was
// parsed.
inline bool parse_command_line(int argc, char** argv, const boost::program_options::options_description& opts,
                               const std::string& usage, boost::program_options::variables_map* vm_out = nullptr) {
  namespace po = boost::program_options;
  po::variables_map local;
  po::variables_map& vm = vm_out ? *vm_out : local;
  // An empty positional description makes Boost refuse stray words ("patch junk ...") instead of
  // ignoring them.
  po::store(po::command_line_parser(argc, argv).options(opts).positional(po::positional_options_description()).run(),
            vm);
  if (vm.count("help")) {
    std::cout << usage << "\n" << opts;
    return false;
  }
  po::notify(vm);
  return true;
}

}  // namespace headlab::cli
