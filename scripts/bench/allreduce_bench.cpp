// The gradient sum of data-parallel training on its own: seconds per RankGroup::sum of N floats
// (MPI_Allreduce, and the rank-ordered sum), median of --repeats, for each size in --floats.
// Run under mpirun (scripts/bench/mpi_scaling.sh); rank 0 prints one line per size.
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <vector>

#include "model/backend.h"
#include "train/rank_group.h"

namespace po = boost::program_options;
using namespace headlab;

int main(int argc, char** argv) {
  std::vector<int64_t> sizes;
  int repeats = 5;
  po::options_description o("headlab-bench-allreduce");
  o.add_options()("floats", po::value(&sizes)->multitoken()->required(), "buffer sizes, in floats")(
      "repeats", po::value(&repeats)->default_value(5), "timed repeats per size (after one warm-up)");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, o), vm);
  po::notify(vm);
  std::unique_ptr<RankGroup> ranks = make_rank_group();
  std::unique_ptr<Backend> cpu = make_cpu_backend(1);
  for (const int64_t n : sizes) {
    std::vector<float> buf(size_t(n), 1.0f);
    for (const Reduction how : {Reduction::mpi, Reduction::ordered}) {
      std::vector<double> seconds;
      for (int r = 0; r <= repeats; ++r) {
        double barrier = 0;
        ranks->sum(&barrier, 1);  // start together
        const auto t0 = std::chrono::steady_clock::now();
        ranks->sum(buf.data(), n, *cpu, how);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) seconds.push_back(s);
      }
      std::sort(seconds.begin(), seconds.end());
      if (ranks->rank() == 0)
        std::printf("allreduce %s: %d ranks, %lld floats (%.1f MB): %.6f s (median of %d)\n",
                    how == Reduction::mpi ? "mpi" : "ordered", ranks->size(), (long long)n, double(n) * 4e-6,
                    seconds[seconds.size() / 2], repeats);
    }
  }
  return 0;
}
