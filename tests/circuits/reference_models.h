// The random models both outside-reference tests (circuits_reference_test.cpp and
// circuits_reference_methods_test.cpp) score: one per way the math can differ.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/backend.h"
#include "model/config.h"
#include "model/params.h"
#include "model/transformer.h"
#include "tests/circuits/circuits_test_util.h"

namespace headlab::testing {

struct ReferenceVariant {
  std::string name;
  ModelConfig cfg;
  bool trained = false;  // trained on the induction task instead of random weights
};

// LN with MLPs (3 layers); RMS, rotary, silu, tied (2); no norm, attention-only (3); LN, rotary,
// attention-only (2). small_config's sizes: d_model 16, 3 heads of 4, n_ctx 12, d_vocab 23.
inline std::vector<ReferenceVariant> random_reference_variants() {
  auto small = [](int layers, Normalization norm, PositionalEmbedding pos, bool attn_only) {
    ModelConfig c = small_config();
    c.n_layers = layers;
    c.normalization_type = norm;
    c.positional_embedding_type = pos;
    c.attn_only = attn_only;
    return c;
  };
  std::vector<ReferenceVariant> v;
  v.push_back({"ln_mlp", small(3, Normalization::LN, PositionalEmbedding::standard, false)});
  ModelConfig rms = small(2, Normalization::RMS, PositionalEmbedding::rotary, false);
  rms.act_fn = ActFn::silu;
  rms.tie_embeddings = true;
  v.push_back({"rms_rotary_tied", rms});
  v.push_back({"none_attn_only", small(3, Normalization::none, PositionalEmbedding::standard, true)});
  v.push_back({"ln_rotary_attn_only", small(2, Normalization::LN, PositionalEmbedding::rotary, true)});
  for (auto& x : v) x.cfg.validate();
  return v;
}

// GPT-2 initialisation with the weight matrices scaled by weight_scale (patterns far from
// uniform), biases and norm parameters away from 0 and 1, so that every folded and centred weight
// matters.
inline std::vector<float> scaled_random_params(const ModelConfig& cfg, uint64_t seed, float weight_scale) {
  auto be = make_cpu_backend(1);
  Transformer m(cfg, *be);
  m.init_gpt2(seed);
  std::vector<float> p = m.params_to_host();
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const ParamInfo& info : m.table().params()) {
    if (info.alias) continue;
    const std::string& n = info.name;
    const bool norm_w = n.size() > 2 && n.substr(n.size() - 2) == ".w";
    for (int64_t i = 0; i < info.numel(); ++i) {
      float& x = p[size_t(info.arena_offset(i))];
      if (norm_w)
        x = 1.0f + 0.4f * u(rng);
      else if (info.kind == ParamKind::bias || info.kind == ParamKind::norm)
        x = 0.3f * u(rng);
      else
        x *= weight_scale;
    }
  }
  return p;
}

}  // namespace headlab::testing
