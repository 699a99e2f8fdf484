// The processes of a multi-process job (data-parallel training, an analysis command sharded over
// ranks): which one this is, how many there are, and the few collective steps they need. One process
// is a group of one, and every step is then a no-op, so the single-process path is the same code.
//
// Under `mpirun -np N` (a build with MPI), make_rank_group() gives the N ranks of MPI_COMM_WORLD.
// Launched without mpirun, an MPI build is one rank and never initialises MPI.
//
// Gradients are summed either by MPI_Allreduce (Reduction::mpi: MPI picks the algorithm; fast) or in
// rank order (Reduction::ordered: each chunk gathered on rank 0, added rank 0 + rank 1 + ... in
// float, then broadcast; the same bits for a given number of ranks run after run, whatever MPI's
// algorithm choice), or by MPI_Iallreduce started part by part while the backward still runs
// (Reduction::overlap, or overlap_thread: on a thread; see train/gradient_sum.h). Either way every rank ends with the
// same values.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/backend.h"

namespace headlab {

enum class Reduction { mpi, ordered, overlap, overlap_thread };

class RankGroup {
 public:
  virtual ~RankGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // This rank's number among the ranks on its own machine (to pick its GPU).
  virtual int local_rank() const = 0;
  // In place, the sum over all ranks of `data` (n floats in `backend`'s memory), the same on every rank.
  // GPU memory is summed by the backend's own collectives (NCCL) where it has them and `how` is mpi;
  // otherwise it is staged through host memory.
  virtual void sum(float* data, int64_t n, Backend& backend, Reduction how) = 0;
  // Non-blocking in-place sums of host floats: start_sum begins one (MPI_Iallreduce; on_thread: a
  // blocking MPI_Allreduce on a thread of its own, where MPI allows threads), progress_sums lets MPI
  // move the started ones along (Open MPI advances non-blocking ones only inside MPI calls),
  // wait_sums returns when all are done; no other call of this group in between. Every rank starts
  // the same sums, of the same sizes, in the same order.
  virtual void start_sum(float* data, int64_t n, bool on_thread) = 0;
  virtual void progress_sums() = 0;
  virtual void wait_sums() = 0;
  // In place, the sum over all ranks of n host doubles (rank order: the same on every rank).
  virtual void sum(double* data, int64_t n) = 0;
  // The first rank (by number) whose `text` differs from rank 0's, or -1 when all agree.
  virtual int first_disagreeing(const std::string& text) = 0;
  // Rank by rank: every rank passes its error (empty when it has none); all get the first rank's
  // error that is not empty, as "rank R: <error>", or "" when none failed.
  virtual std::string first_error(const std::string& mine) = 0;
  // On rank 0, every rank's `mine` in rank order (its own first); on the others, nothing. For results
  // (a few MiB), not bulk data.
  virtual std::vector<std::string> gather(const std::string& mine) = 0;
  // Point to point, to rank 0 and on rank 0 from `from` (> 0): n host floats, in the order sent.
  virtual void send_to_root(const float* data, int64_t n) = 0;
  virtual void receive_from(int from, float* data, int64_t n) = 0;
  // Whether this build can run several ranks (was built with MPI).
  virtual bool is_mpi() const = 0;
  // Ends every rank now with exit status `code` (MPI_Abort): for an error one rank meets alone while
  // the others wait inside a collective.
  [[noreturn]] virtual void abort(int code) = 0;
};

std::unique_ptr<RankGroup> single_process_group();
// The ranks this process was launched among (see above).
std::unique_ptr<RankGroup> make_rank_group();
// Whether this headlab was built with MPI.
bool built_with_mpi();

}  // namespace headlab
