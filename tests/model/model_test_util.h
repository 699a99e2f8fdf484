// Small helpers shared by the model tests: configs for every variant and a seeded token batch.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/config.h"

namespace headlab::testing {

inline ModelConfig tiny_config() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 12;
  c.n_heads = 3;
  c.d_head = 4;
  c.d_mlp = 20;
  c.n_ctx = 9;
  c.d_vocab = 17;
  return c;
}

struct Variant {
  std::string name;
  ModelConfig cfg;
};

// Every variant the foundation must support, each differing from the GPT-2 default in one way
// (plus the attention-only toy model with and without norms).
inline std::vector<Variant> all_variants() {
  std::vector<Variant> v;
  auto add = [&](const std::string& name, auto edit) {
    ModelConfig c = tiny_config();
    edit(c);
    v.push_back({name, c});
  };
  add("gpt2_default", [](ModelConfig&) {});
  add("rms", [](ModelConfig& c) { c.normalization_type = Normalization::RMS; });
  add("no_norm", [](ModelConfig& c) { c.normalization_type = Normalization::none; });
  add("rotary", [](ModelConfig& c) { c.positional_embedding_type = PositionalEmbedding::rotary; });
  add("no_pos", [](ModelConfig& c) { c.positional_embedding_type = PositionalEmbedding::none; });
  add("attn_only", [](ModelConfig& c) { c.attn_only = true; });
  add("attn_only_no_norm", [](ModelConfig& c) {
    c.attn_only = true;
    c.normalization_type = Normalization::none;
  });
  add("gelu", [](ModelConfig& c) { c.act_fn = ActFn::gelu; });
  add("relu", [](ModelConfig& c) { c.act_fn = ActFn::relu; });
  add("silu", [](ModelConfig& c) { c.act_fn = ActFn::silu; });
  add("tied", [](ModelConfig& c) { c.tie_embeddings = true; });
  return v;
}

inline std::vector<int32_t> random_tokens(int64_t n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int32_t(rng() % uint64_t(vocab));
  return t;
}

// Next-token targets for tokens [B, T]: the following token, -1 at the last position.
inline std::vector<int32_t> next_token_targets(const std::vector<int32_t>& tokens, int B, int T) {
  std::vector<int32_t> t(tokens.size(), -1);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i + 1 < T; ++i) t[size_t(b * T + i)] = tokens[size_t(b * T + i + 1)];
  return t;
}

}  // namespace headlab::testing
