// What the forward recomputes when a hook changes a value that the kernels fuse away: a norm's
// output from a changed hook_scale or hook_normalized, and the attention pattern from changed
// hook_attn_scores. Host arrays, plain loops: this runs only after such a hook changed something.
#pragma once
#include <cstdint>

namespace headlab {

// normalized [N, D] = (x - mean) / scale; mean = nullptr for RMSNorm (no centring). scale [N].
void normalize_rows(float* normalized, const float* x, const float* mean, const float* scale, int64_t N, int64_t D);

// out [N, D] = normalized * weight + bias (bias = nullptr: none). weight, bias [D].
void scale_shift_rows(float* out, const float* normalized, const float* weight, const float* bias, int64_t N,
                      int64_t D);

// pattern [R, T, T] = softmax of scores [R, T, T] over each row's causal part (key <= query); the
// masked part stays 0 whatever the scores hold there (the causal mask is not a hook's to lift).
// A row whose causal scores are all -inf attends nowhere (zeros), as TransformerLens' NaN-to-0.
void causal_softmax_rows(float* pattern, const float* scores, int64_t R, int64_t T);

}  // namespace headlab
