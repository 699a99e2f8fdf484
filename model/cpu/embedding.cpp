#include "model/cpu/embedding.h"

#include <cstring>

#include "model/cpu/column_blocks.h"

namespace headlab::cpu {

void embedding_forward(float* out, const int32_t* tokens, const float* W_E, int64_t BT, int64_t D) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < BT; ++i) std::memcpy(out + i * D, W_E + int64_t{tokens[i]} * D, D * sizeof(float));
}

void embedding_backward(float* dW_E, const float* dout, const int32_t* tokens, int64_t BT, int64_t D) {
  // Split by column, not by token: two threads never add into the same row, and each element
  // sums its tokens in sequence order.
  for_each_column_block(D, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < BT; ++i) {
      float* dw = dW_E + int64_t{tokens[i]} * D;
      const float* g = dout + i * D;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) dw[c] += g[c];
    }
  });
}

void pos_embedding_forward(float* out, const float* W_pos, int64_t B, int64_t T, int64_t D) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) std::memcpy(out + (b * T + t) * D, W_pos + t * D, D * sizeof(float));
}

void pos_embedding_backward(float* dW_pos, const float* dout, int64_t B, int64_t T, int64_t D) {
  // Each position's row is owned by one thread, which adds the batch in order.
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    float* dw = dW_pos + t * D;
    for (int64_t b = 0; b < B; ++b) {
      const float* g = dout + (b * T + t) * D;
#pragma omp simd
      for (int64_t c = 0; c < D; ++c) dw[c] += g[c];
    }
  }
}

}  // namespace headlab::cpu
