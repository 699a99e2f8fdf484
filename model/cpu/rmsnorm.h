// TransformerLens RMSNorm over the last dimension: divide by sqrt(mean(x²) + eps), then scale.
#pragma once
#include <cstdint>

namespace headlab::cpu {

// out[N,C] = inp * rstd * weight[C], rstd[N] = 1/sqrt(mean(inp²) + eps) kept for backward.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C, float eps);
// dinp[N,C] overwritten (may alias dout); dweight[C] accumulated (deterministic).
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C);

}  // namespace headlab::cpu
