#include "model/cpu/block_pool.h"

#include <cstdlib>

namespace headlab::cpu {

void BlockPool::release_kept_locked() {
  for (auto& [bytes, p] : kept_) std::free(p);
  kept_.clear();
  kept_bytes_ = 0;
}

}  // namespace headlab::cpu
