// Causal multi-head attention over a fused qkv array, in two steps that each keep what backward
// needs: the pattern (softmax of scaled q·k over k <= q), then z = pattern · v.
//
// qkv[B, T, 3, H, dh]: in each (b,t) row of 3*H*dh floats, q of head h at h*dh, k at (H+h)*dh,
// v at (2H+h)*dh. Work is split over (batch, head) pairs; each pair is one thread's, in order, so
// every result is deterministic. The products inside run on register tiles (register_tile.h)
// and skip the masked half of each head.
#pragma once
#include <cstdint>

namespace headlab::cpu {

// pattern[B,H,T,T] = softmax over k <= q of (q·k) * scale, exactly 0 for k > q.
// scores[B,H,T,T] (nullptr to skip) = (q·k) * scale, -inf for k > q.
void attention_pattern_forward(float* pattern, float* scores, const float* qkv, int64_t B, int64_t T, int64_t H,
                               int64_t dh, float scale);
// dqkv[B,T,3,H,dh]: q and k parts overwritten, v part untouched. dpattern[B,H,T,T] is read, then
// overwritten with dscores (the gradient before the softmax, 0 for k > q).
void attention_pattern_backward(float* dqkv, float* dpattern, const float* pattern, const float* qkv, int64_t B,
                                int64_t T, int64_t H, int64_t dh, float scale);

// z[B,T,H,dh] = pattern · v
void attention_values_forward(float* z, const float* pattern, const float* qkv, int64_t B, int64_t T, int64_t H,
                              int64_t dh);
// dpattern[B,H,T,T] overwritten (0 for k > q); the v part of dqkv overwritten, q and k untouched.
void attention_values_backward(float* dpattern, float* dqkv, const float* dz, const float* pattern, const float* qkv,
                               int64_t B, int64_t T, int64_t H, int64_t dh);

// The two forward steps per head while its pattern is in cache: the same bits as
// attention_pattern_forward then attention_values_forward.
void attention_forward(float* pattern, float* z, const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh,
                       float scale);
// The two backward steps per head, dpattern and dscores kept in a per-thread [T, T] buffer (in
// cache) instead of a [B, H, T, T] array: every part of dqkv overwritten, the same bits as
// attention_values_backward then attention_pattern_backward.
void attention_backward(float* dqkv, const float* dz, const float* pattern, const float* qkv, int64_t B, int64_t T,
                        int64_t H, int64_t dh, float scale);

}  // namespace headlab::cpu
