// Optimizer steps, one pass over a flat parameter array each, and the squared norm that gradient
// clipping needs.
#pragma once
#include <cstdint>

namespace headlab::cpu {

// Σ x[n]² in double, summed in fixed blocks in a fixed order: the same bits for any thread count.
double sum_squares(const float* x, int64_t n);

// PyTorch's AdamW (torch.optim.AdamW, single-tensor path), operation for operation: with
// g = grad * grad_scale, p *= 1 - lr wd; m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g²;
// p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps). step is 1-based.
void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int64_t step, float grad_scale);

// PyTorch's SGD with weight decay: p -= lr (grad * grad_scale + wd p).
void sgd_update(float* param, const float* grad, int64_t n, float lr, float weight_decay, float grad_scale);

}  // namespace headlab::cpu
