#include "model/cpu/matmul.h"

#include <omp.h>

#include <cstring>
#include <functional>
#include <string>

#include "core/errors.h"
#include "model/cpu/column_blocks.h"

namespace headlab::cpu {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

bool MatmulKey::operator==(const MatmulKey& o) const {
  return M == o.M && N == o.N && K == o.K && ta == o.ta && tb == o.tb && acc == o.acc && has_bias == o.has_bias &&
         weights_layout == o.weights_layout && threads == o.threads;
}

size_t MatmulKeyHash::operator()(const MatmulKey& k) const {
  size_t h = std::hash<int64_t>()(k.M);
  auto mix = [&h](size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  mix(std::hash<int64_t>()(k.N));
  mix(std::hash<int64_t>()(k.K));
  mix(static_cast<size_t>(k.ta) | static_cast<size_t>(k.tb) << 1 | static_cast<size_t>(k.acc) << 2 |
      static_cast<size_t>(k.has_bias) << 3 | static_cast<size_t>(k.weights_layout) << 4);
  mix(static_cast<size_t>(k.threads));
  return h;
}

MatmulPrimitives::MatmulPrimitives() {
  try {
    engine_ = dnnl::engine(dnnl::engine::kind::cpu, 0);
    stream_ = dnnl::stream(engine_);
  } catch (const dnnl::error& e) {
    throw InternalError(std::string("oneDNN: could not create the CPU engine: ") + e.what());
  }
}

MatmulPrimitives::Entry& MatmulPrimitives::entry_for(const MatmulKey& key) {
  auto found = cache_.find(key);
  if (found != cache_.end()) return found->second;
  if (key.weights_layout != WeightsLayout::plain) throw InternalError("matmul: blocked weights are not built yet");

  // Transposed operands are the same logical matrix read through swapped strides (tag ba).
  const auto f32 = memory::data_type::f32;
  const memory::desc src_md({key.M, key.K}, f32, key.ta == Transpose::yes ? tag::ba : tag::ab);
  const memory::desc weights_md({key.K, key.N}, f32, key.tb == Transpose::yes ? tag::ba : tag::ab);
  const memory::desc bias_md({1, key.N}, f32, tag::ab);
  const memory::desc dst_md({key.M, key.N}, f32, tag::ab);

  dnnl::primitive_attr attr;
  if (key.acc == Accumulate::add) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);  // dst = op(A)·op(B) (+ bias) + dst
    attr.set_post_ops(ops);
  }
  const auto desc = key.has_bias ? dnnl::matmul::desc(src_md, weights_md, bias_md, dst_md)
                                 : dnnl::matmul::desc(src_md, weights_md, dst_md);
  const dnnl::matmul::primitive_desc pd(desc, attr, engine_);

  Entry entry;
  entry.pd = pd;
  entry.primitive = dnnl::matmul(pd);
  entry.src = memory(pd.src_desc(), engine_, DNNL_MEMORY_NONE);
  entry.weights = memory(pd.weights_desc(), engine_, DNNL_MEMORY_NONE);
  entry.dst = memory(pd.dst_desc(), engine_, DNNL_MEMORY_NONE);
  if (key.has_bias) entry.bias = memory(pd.bias_desc(), engine_, DNNL_MEMORY_NONE);
  return cache_.emplace(key, std::move(entry)).first->second;
}

// oneDNN wants K >= 1; an empty sum is C = bias (or 0), or C unchanged when accumulating.
static void empty_product(float* C, const float* bias, int64_t M, int64_t N, Accumulate acc) {
#pragma omp parallel for schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    float* row = C + m * N;
    for (int64_t n = 0; n < N; ++n) {
      const float b = bias ? bias[n] : 0.0f;
      row[n] = acc == Accumulate::add ? row[n] + b : b;
    }
  }
}

void MatmulPrimitives::matmul_forward(float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N,
                                      int64_t K, Transpose ta, Transpose tb, Accumulate acc) {
  if (M < 0 || N < 0 || K < 0)
    throw InternalError("matmul: negative size M=" + std::to_string(M) + " N=" + std::to_string(N) +
                        " K=" + std::to_string(K));
  if (M == 0 || N == 0) return;
  if (K == 0) return empty_product(C, bias, M, N, acc);

  const MatmulKey key{M, N, K, ta, tb, acc, bias != nullptr, WeightsLayout::plain, omp_get_max_threads()};
  try {
    Entry& e = entry_for(key);
    e.src.set_data_handle(const_cast<float*>(A));
    e.weights.set_data_handle(const_cast<float*>(B));
    e.dst.set_data_handle(C);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.src}, {DNNL_ARG_WEIGHTS, e.weights}, {DNNL_ARG_DST, e.dst}};
    if (bias) {
      e.bias.set_data_handle(const_cast<float*>(bias));
      args.emplace(DNNL_ARG_BIAS, e.bias);
    }
    e.primitive.execute(stream_, args);
    stream_.wait();
  } catch (const dnnl::error& err) {
    throw InternalError("oneDNN matmul " + std::to_string(M) + "x" + std::to_string(K) + " by " + std::to_string(K) +
                        "x" + std::to_string(N) + ": " + err.what());
  }
}

void bias_backward(float* dbias, const float* dout, int64_t M, int64_t N) {
  for_each_column_block(N, [&](int64_t c0, int64_t c1) {
    float sum[kMaxColumnBlock] = {};
    for (int64_t m = 0; m < M; ++m) {
      const float* row = dout + m * N + c0;
#pragma omp simd
      for (int64_t c = 0; c < c1 - c0; ++c) sum[c] += row[c];
    }
    for (int64_t c = 0; c < c1 - c0; ++c) dbias[c0 + c] += sum[c];
  });
}

}  // namespace headlab::cpu
