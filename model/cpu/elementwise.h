// Element-wise vector arithmetic over flat float arrays.
#pragma once
#include <cstdint>

namespace headlab::cpu {

void add(float* out, const float* a, const float* b, int64_t n);  // out[n] = a + b (out may alias either)
void add_inplace(float* a, const float* b, int64_t n);            // a[n] += b
void scale_inplace(float* a, float s, int64_t n);                 // a[n] *= s
void axpy(float* y, float alpha, const float* x, int64_t n);      // y[n] += alpha x

}  // namespace headlab::cpu
