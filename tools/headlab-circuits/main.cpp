// headlab-circuits: the modeling-free methods and head studies on a trained model. A thin main: it
// picks the subcommand from commands.h and turns errors into the one-line report.
#include <cstdio>
#include <string>

#include "core/errors.h"
#include "core/message_text.h"
#include "tools/common/command_main.h"
#include "tools/headlab-circuits/commands.h"

using namespace headlab;

namespace {

std::string usage() {
  std::string s = "usage: headlab-circuits <command> [options]\ncommands:\n";
  for (const auto& c : circuits_cli::subcommands()) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-12s %s\n", c.name, c.summary);
    s += line;
  }
  return s + "Run headlab-circuits <command> --help for the options of one command.\n";
}

int run_subcommand(const circuits_cli::Subcommand& c, int argc, char** argv) {
  try {
    return c.run(argc, argv);
  } catch (const boost::program_options::error& e) {
    throw InputError("command line", std::string(e.what()) + " (see headlab-circuits " + c.name + " --help)");
  }
}

std::string command_names() {
  std::string s;
  for (const auto& c : circuits_cli::subcommands()) s += std::string(s.empty() ? "" : ", ") + c.name;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_command("headlab-circuits", [&]() -> int {
    if (argc < 2) throw InputError("command", "expected one of " + command_names() + " (see headlab-circuits --help)");
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::fputs(usage().c_str(), stdout);
      return 0;
    }
    for (const auto& c : circuits_cli::subcommands())
      if (cmd == c.name) return run_subcommand(c, argc - 1, argv + 1);
    throw InputError("command '" + printable_line(cmd, 100) + "'",
                     "expected one of " + command_names() + " (see headlab-circuits --help)");
  });
}
