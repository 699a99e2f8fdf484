// What File::open's check in a child process costs per open: the same files opened with the check
// and without it, for a tiny checkpoint, a 40 MB one (contiguous arrays: the child reads their
// headers only) and a chunked, compressed token dataset of 4 M tokens (the child reads every chunk).
//   headlab-bench-h5-open [--dir DIR] [--repeat N]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/h5_file.h"

namespace {

using headlab::h5::AtomicFile;
using headlab::h5::File;

double children_cpu_seconds() {
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double seconds_per_open(const std::string& path, int repeat, bool check) {
  headlab::h5::OpenCheckLimits limits;
  limits.enabled = check;
  headlab::h5::set_open_check_limits(limits);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeat; ++i) {
    File f = File::open(path);
    f.attr_string("format");
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeat;
}

void write_file(const std::string& path, int64_t n_arrays, int64_t floats_each, int64_t tokens) {
  AtomicFile out(path);
  out.file().set_attr("format", "headlab.bench");
  std::vector<float> w(static_cast<size_t>(floats_each), 0.25f);
  for (int64_t i = 0; i < n_arrays; ++i) out.file().write<float>("params/w" + std::to_string(i), w);
  if (tokens > 0) {
    std::vector<uint16_t> t(static_cast<size_t>(tokens));
    for (int64_t i = 0; i < tokens; ++i) t[size_t(i)] = uint16_t((i * 2654435761u) % 50000);
    headlab::h5::DatasetOptions opt;
    opt.chunk_rows = 1 << 16;
    opt.deflate = 4;
    out.file().write<uint16_t>("tokens", t.data(), {tokens}, opt);
  }
  out.commit();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  int repeat = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    if (a == "--repeat") repeat = std::atoi(argv[i + 1]);
  }
  struct Case {
    const char* name;
    int64_t arrays, floats, tokens;
  };
  const Case cases[] = {{"tiny checkpoint (30 arrays, 50 k floats)", 30, 1700, 0},
                        {"40 MB checkpoint (100 arrays of 100 k floats)", 100, 100000, 0},
                        {"token dataset, 4 M tokens in 64 chunks, deflate", 0, 0, int64_t(1) << 22}};
  std::printf("%-50s %12s %12s %12s %14s\n", "file", "unchecked", "checked", "check costs", "child CPU");
  for (const Case& c : cases) {
    const std::string path = dir + "/headlab_bench_open.h5";
    write_file(path, c.arrays, c.floats, c.tokens);
    seconds_per_open(path, 2, true);  // warm the page cache
    const double plain = seconds_per_open(path, repeat, false);
    const double cpu_before = children_cpu_seconds();
    const double checked = seconds_per_open(path, repeat, true);
    const double child_cpu = (children_cpu_seconds() - cpu_before) / repeat;
    std::printf("%-50s %9.2f ms %9.2f ms %9.2f ms %11.2f ms\n", c.name, plain * 1e3, checked * 1e3,
                (checked - plain) * 1e3, child_cpu * 1e3);
    std::remove(path.c_str());
  }
  return 0;
}
