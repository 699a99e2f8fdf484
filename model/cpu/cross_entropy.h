// Softmax cross-entropy over a vocabulary, one row per predicted token.
#pragma once
#include <cstdint>

namespace headlab::cpu {

// losses[N] = lse[n] - logits[n, targets[n]], lse[N] = logsumexp(logits[n]) (max subtracted
// first). Rows with targets[n] < 0 are ignored: loss 0 (lse is still computed). A target >= V
// throws InputError before anything is written.
void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                           int64_t V);
// dlogits[N,V] = (softmax(logits[n]) - onehot(targets[n])) * dloss[n]; ignored rows get 0.
// dlogits may alias logits.
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            const float* dloss, int64_t N, int64_t V);

}  // namespace headlab::cpu
