// MLP activations, as TransformerLens defines them: gelu_new (tanh approximation), gelu (exact,
// erf), relu, silu (x * sigmoid(x)).
#pragma once
#include <cstdint>

#include "model/config.h"

namespace headlab::cpu {

// out[n] = fn(inp[n]); out may alias inp.
void activation_forward(float* out, const float* inp, int64_t n, ActFn fn);
// dinp[n] = dout[n] * fn'(inp[n]); dinp may alias dout or inp. relu'(0) = 0, as in PyTorch.
void activation_backward(float* dinp, const float* dout, const float* inp, int64_t n, ActFn fn);

}  // namespace headlab::cpu
