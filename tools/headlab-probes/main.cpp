// headlab-probes: activation stores, linear probes and probe-guided interventions. A thin main: it
// picks the subcommand from commands.h and turns errors into the one-line report.
#include <cstdio>
#include <string>

#include "core/errors.h"
#include "core/message_text.h"
#include "tools/common/command_main.h"
#include "tools/headlab-probes/commands.h"

using namespace headlab;

namespace {

std::string usage() {
  std::string s = "usage: headlab-probes <command> [options]\ncommands:\n";
  for (const auto& c : probes_cli::subcommands()) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-10s %s\n", c.name, c.summary);
    s += line;
  }
  return s + "Run headlab-probes <command> --help for the options of one command.\n";
}

std::string command_names() {
  std::string s;
  for (const auto& c : probes_cli::subcommands()) s += std::string(s.empty() ? "" : ", ") + c.name;
  return s;
}

int run_subcommand(const probes_cli::Subcommand& c, int argc, char** argv) {
  try {
    return c.run(argc, argv);
  } catch (const boost::program_options::error& e) {
    throw InputError("command line", printable_line(e.what()) + " (see headlab-probes " + c.name + " --help)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_command("headlab-probes", [&]() -> int {
    if (argc < 2) throw InputError("command", "expected one of " + command_names() + " (see headlab-probes --help)");
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::fputs(usage().c_str(), stdout);
      return 0;
    }
    for (const auto& c : probes_cli::subcommands())
      if (cmd == c.name) return run_subcommand(c, argc - 1, argv + 1);
    throw InputError("command '" + printable_line(cmd, 100) + "'",
                     "expected one of " + command_names() + " (see headlab-probes --help)");
  });
}
