// The backward of a normalisation whose output n heads each used with their own gradient (the split
// q/k/v inputs): every head's input gradient from one pass over the rows, the row's statistics and
// normalised values formed once for all heads.
#pragma once
#include <cstdint>

#include "model/config.h"

namespace headlab::cpu {

// dout [n, N, C] head-major. Head h's input gradient goes to dinp + h * head_stride (rows row_stride
// apart), overwriting, or added when `add` (row_stride = C); dsum [N, C] (nullable) += their sum;
// dweight [C] (and dbias [C] for LN) accumulate the norm's parameter gradients of Σ_h dout_h, each
// column summed over rows in order by one thread (deterministic). mean is read for LN only.
void norm_backward_heads(Normalization norm, float* dinp, int64_t head_stride, int64_t row_stride, bool add,
                         float* dsum, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, const float* mean, const float* rstd, int64_t n, int64_t N, int64_t C);

}  // namespace headlab::cpu
