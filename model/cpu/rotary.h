// Rotary positional embedding, NeoX "rotate half" over the whole head dimension, as
// TransformerLens applies it: pairs (x_i, x_{i+dh/2}) rotate by angle t / base^(2i/dh).
#pragma once
#include <cstdint>

namespace headlab::cpu {

// x[B, T, n_heads, dh] in place, consecutive (b,t) rows `row_stride` floats apart; only the first
// n_heads*dh floats of a row are touched (so q and k of a fused qkv row rotate in one call).
// dh must be even (InputError otherwise).
void rotary_forward(float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride, float base);
// dx, same layout, in place: the inverse (transposed) rotation.
void rotary_backward(float* dx, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride, float base);

}  // namespace headlab::cpu
