// Token and learned positional embeddings: row gathers forward, row scatter-adds backward.
#pragma once
#include <cstdint>

namespace headlab::cpu {

// out[BT, D] = W_E[tokens[i]]; tokens int32 [BT], each in [0, d_vocab) (the caller checks).
void embedding_forward(float* out, const int32_t* tokens, const float* W_E, int64_t BT, int64_t D);
// dW_E[d_vocab, D] += dout[BT, D] scattered by tokens (deterministic; repeated tokens add up).
void embedding_backward(float* dW_E, const float* dout, const int32_t* tokens, int64_t BT, int64_t D);

// out[B, T, D] = W_pos[t]
void pos_embedding_forward(float* out, const float* W_pos, int64_t B, int64_t T, int64_t D);
// dW_pos[T, D] += Σ_b dout[b, t] (deterministic)
void pos_embedding_backward(float* dW_pos, const float* dout, int64_t B, int64_t T, int64_t D);

}  // namespace headlab::cpu
