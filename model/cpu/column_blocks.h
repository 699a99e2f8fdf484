// Parameter gradients are sums over rows (dbias[c] = Σ_n dout[n, c] ...). They are split among
// threads by output column, so each column is summed over the rows in order by one thread: the
// bits do not depend on the thread count or the schedule, and training is bitwise reproducible.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace headlab::cpu {

// Widest block handed to `body`, so callers can keep a block's sums in a stack array.
constexpr int64_t kMaxColumnBlock = 256;

// Calls body(c0, c1) for consecutive column blocks [c0, c1) covering [0, N), in parallel.
template <typename Body>
void for_each_column_block(int64_t N, Body&& body) {
  const int64_t threads = omp_get_max_threads();
  // About four blocks per thread for balance, each a whole number of 16-float vectors.
  int64_t width = (N + 4 * threads - 1) / (4 * threads);
  width = std::clamp<int64_t>((width + 15) / 16 * 16, 16, kMaxColumnBlock);
  const int64_t blocks = (N + width - 1) / width;
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t c0 = block * width;
    body(c0, std::min(N, c0 + width));
  }
}

}  // namespace headlab::cpu
