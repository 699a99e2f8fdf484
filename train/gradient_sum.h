// The sum of every rank's gradients, one step at a time (data-parallel training).
//
// mpi and ordered sum the whole gradient arena once the step's backward is done. overlap starts
// the sum during the step's last backward: the backward announces each part of the arena whose
// gradients are final (the unembedding, the blocks from the last, the embeddings last; see
// backward_stages), consecutive parts are grouped into buckets of at least `bucket_floats`, and
// each bucket's MPI_Iallreduce starts as soon as its last part is final, while the backward goes on
// through the layers below. MPI is given a chance to move the started sums along at every later
// announcement, and finish() waits for them all; the gradient norm and the update come after.
// overlap_thread hands each bucket instead to a thread that runs a blocking MPI_Allreduce on it, so
// the sum moves on between announcements too, at the cost of a thread that competes for cores.
//
// Every rank starts the same buckets in the same order, also a rank whose last micro-batch had
// nothing to learn from (no backward, no announcement): finish() starts what was not started.
// On a GPU backend overlap sums after the backward, as mpi does (NCCL where available): the kernels
// of an announced part may still be running when it is announced.
#pragma once
#include <cstdint>
#include <vector>

#include "model/transformer.h"
#include "train/rank_group.h"

namespace headlab {

class GradientSum {
 public:
  GradientSum(RankGroup& ranks, Transformer& model, Reduction how, int64_t bucket_floats);
  // What to pass the step's last backward (empty when nothing is overlapped). Begins a new step.
  GradientsFinal on_final();
  // Sums what was not summed yet and waits: every rank then holds the summed gradients.
  void finish();
  // Seconds of this step spent in the sum (starting, progressing and waiting for it).
  double seconds() const { return seconds_; }
  int n_buckets() const { return int(buckets_.size()); }

 private:
  struct Bucket {
    ArenaRange range;
    int last_stage = 0;  // the bucket is final once this stage is
  };
  void stage_final(int stage);
  void start_through(int stage);

  RankGroup& ranks_;
  Transformer& model_;
  Reduction how_;
  bool overlapped_ = false;
  std::vector<Bucket> buckets_;
  size_t next_bucket_ = 0;  // the first bucket not started this step
  double seconds_ = 0;
};

}  // namespace headlab
