// One process's share of a job's items (patched cells, checkpoints, probes, batches) when several
// processes run the job: item i belongs to process i mod count. Round robin, so that items of
// different cost spread evenly, and any process can tell who owns an item without asking.
#pragma once
#include <cstdint>

namespace headlab {

struct WorkShard {
  int index = 0, count = 1;
  bool owns(int64_t item) const { return owner(item) == index; }
  int owner(int64_t item) const { return int(item % count); }
};

}  // namespace headlab
