#include "train/rank_group.h"

#include <cstdlib>

#include "core/errors.h"

namespace headlab {
namespace {

class SingleProcess : public RankGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  void sum(float*, int64_t, Backend&, Reduction) override {}
  void start_sum(float*, int64_t, bool) override {}
  void progress_sums() override {}
  void wait_sums() override {}
  void sum(double*, int64_t) override {}
  int first_disagreeing(const std::string&) override { return -1; }
  std::string first_error(const std::string& mine) override { return mine.empty() ? mine : "rank 0: " + mine; }
  std::vector<std::string> gather(const std::string& mine) override { return {mine}; }
  void send_to_root(const float*, int64_t) override {
    throw InternalError("send_to_root: a single process has no rank 0 but itself");
  }
  void receive_from(int from, float*, int64_t) override {
    throw InternalError("receive_from: a single process has no rank " + std::to_string(from));
  }
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
