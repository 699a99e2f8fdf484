// TransformerLens LayerNorm over the last dimension: centre, divide by sqrt(var + eps), then
// scale and shift.
#pragma once
#include <cstdint>

namespace headlab::cpu {

// out[N,C] = (inp - mean) * rstd * weight[C] + bias[C]; mean[N], rstd[N] kept for backward.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps);
// dinp[N,C] overwritten (may alias dout); dweight[C], dbias[C] accumulated (deterministic).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C);

}  // namespace headlab::cpu
