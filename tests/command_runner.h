// Runs a headlab command in a shell for the command-line tests: exit status, stdout and stderr.
#pragma once
#include <sys/wait.h>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace headlab::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal (a crash)
  std::string out, err;
  int err_lines() const {
    int n = 0;
    for (char c : err) n += c == '\n';
    return n;
  }
};

inline std::string read_file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `command` is a shell command line; stdout and stderr are captured through temporary files.
inline CommandResult run_command_line(const std::string& command) {
  static int counter = 0;
  const std::string base = "/tmp/headlab_cmd_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  const std::string full = "(" + command + ") >" + base + ".out 2>" + base + ".err";
  const int status = std::system(full.c_str());
  CommandResult r;
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = read_file_text(base + ".out");
  r.err = read_file_text(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

}  // namespace headlab::testing
