#include "train/rank_group.h"

#include <cstdlib>

namespace headlab {
namespace {

class SingleProcess : public RankGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  void sum(float*, int64_t, Backend&, Reduction) override {}
  void sum(double*, int64_t) override {}
  int first_disagreeing(const std::string&) override { return -1; }
  std::string first_error(const std::string& mine) override { return mine.empty() ? mine : "rank 0: " + mine; }
  bool is_mpi() const override { return false; }
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

}  // namespace

std::unique_ptr<RankGroup> single_process_group() { return std::make_unique<SingleProcess>(); }

#ifndef HEADLAB_HAVE_MPI
std::unique_ptr<RankGroup> make_rank_group() { return single_process_group(); }
bool built_with_mpi() { return false; }
#endif

}  // namespace headlab
