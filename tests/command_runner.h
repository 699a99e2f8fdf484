// Runs a headlab command in a shell for the command-line tests: exit status, stdout and stderr.
#pragma once
#include <sys/resource.h>
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
  long peak_rss_kib = 0;  // the largest resident set of the command's processes
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

// `command` is a shell command line; stdout and stderr are captured through temporary files, and the
// peak resident memory of the shell and everything it ran comes from wait4.
inline CommandResult run_command_line(const std::string& command) {
  static int counter = 0;
  const std::string base = "/tmp/headlab_cmd_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  const std::string full = "(" + command + ") >" + base + ".out 2>" + base + ".err";
  CommandResult r;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  if (pid > 0 && ::wait4(pid, &status, 0, &usage) == pid) {
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.peak_rss_kib = usage.ru_maxrss;
  }
  r.out = read_file_text(base + ".out");
  r.err = read_file_text(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

}  // namespace headlab::testing
