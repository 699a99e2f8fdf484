// Matrix products through oneDNN matmul primitives, created once per shape and cached; and the
// bias gradient that goes with them.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "model/backend.h"

namespace headlab::cpu {

// How the B operand is stored for a cached primitive. `plain` is the caller's row-major array.
// `blocked` is reserved for weights reordered into the layout oneDNN picks for memory format
// `any`; the key carries it so both kinds of primitive can live in one cache. Not built: on the
// AVX-512 machine without AMX (Zen 4) that headlab is benchmarked on, brgemm reaches 90-105
// GFLOP/s per core on plain operands already, and reordering the weights at each use (each is
// used once per training step) gave no gain over a whole step (small shape: 1.28 vs 1.29 s).
enum class WeightsLayout { plain, blocked };

struct MatmulKey {
  int64_t M, N, K;
  Transpose ta, tb;
  Accumulate acc;
  bool has_bias;
  WeightsLayout weights_layout;
  int threads;  // OpenMP threads at creation: oneDNN sizes its work split by it
  bool operator==(const MatmulKey& o) const;
};

struct MatmulKeyHash {
  size_t operator()(const MatmulKey& k) const;
};

// One CPU engine, one stream, and the primitives built on them. Not thread-safe: one caller.
class MatmulPrimitives {
 public:
  MatmulPrimitives();

  // C[M,N] (=|+=) op(A)[M,K] · op(B)[K,N] (+ bias[N] over rows; nullptr for none).
  // A is stored [M,K] ([K,M] when ta), B [K,N] ([N,K] when tb).
  void matmul_forward(float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N, int64_t K,
                      Transpose ta, Transpose tb, Accumulate acc);

  size_t cached_primitives() const { return cache_.size(); }

 private:
  // A primitive with its memory objects; each call only swaps the data handles. The primitive
  // descriptor stays so that blocked weights can be reordered to its weights_desc().
  struct Entry {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul primitive;
    dnnl::memory src, weights, bias, dst;
  };
  Entry& entry_for(const MatmulKey& key);

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::unordered_map<MatmulKey, Entry, MatmulKeyHash> cache_;
};

// The backward of the bias term: dbias[N] += Σ_rows dout[M,N]. Deterministic (column_blocks.h).
void bias_backward(float* dbias, const float* dout, int64_t M, int64_t N);

}  // namespace headlab::cpu
