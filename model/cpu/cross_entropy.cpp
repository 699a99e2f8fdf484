#include "model/cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/errors.h"
#include "model/cpu/vector_math.h"

namespace headlab::cpu {

void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                           int64_t V) {
  // Checked before the parallel loop: an exception must not leave an OpenMP region.
  for (int64_t n = 0; n < N; ++n)
    if (targets[n] >= V)
      throw InputError("target token " + std::to_string(targets[n]) + " at row " + std::to_string(n),
                       "expected an id below the vocabulary size " + std::to_string(V));
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    const float max = V > 0 ? max_of(x, V) : -std::numeric_limits<float>::infinity();
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t v = 0; v < V; ++v) sum += exp_simd(x[v] - max);
    lse[n] = max + std::log(sum);
    losses[n] = targets[n] < 0 ? 0.0f : lse[n] - x[targets[n]];
  }
}

void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            const float* dloss, int64_t N, int64_t V) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* g = dlogits + n * V;
    const int32_t target = targets[n];
    if (target < 0) {
      std::fill(g, g + V, 0.0f);
      continue;
    }
    const float* x = logits + n * V;
    const float l = lse[n], scale = dloss[n];
#pragma omp simd
    for (int64_t v = 0; v < V; ++v) g[v] = exp_simd(x[v] - l) * scale;
    g[target] -= scale;
  }
}

}  // namespace headlab::cpu
