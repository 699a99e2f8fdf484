// ModelConfig: TransformerLens' HookedTransformerConfig field names where they overlap.
#pragma once
#include <cstdint>
#include <string>

#include "core/limits.h"
#include "core/memory.h"  // require_memory: commands check a model's memory_bytes() against it

namespace headlab {

enum class ActFn { gelu_new, gelu, relu, silu };
enum class Normalization { LN, RMS, none };
enum class PositionalEmbedding { standard, rotary, none };

struct ModelConfig {
  int n_layers = 2;
  int d_model = 128;
  int n_heads = 4;
  int d_head = 32;
  int d_mlp = 512;
  int n_ctx = 128;
  int d_vocab = 512;
  ActFn act_fn = ActFn::gelu_new;
  Normalization normalization_type = Normalization::LN;
  bool attn_only = false;
  PositionalEmbedding positional_embedding_type = PositionalEmbedding::standard;
  bool tie_embeddings = false;
  float rotary_base = 10000.0f;  // NeoX "rotate half" over the whole head dimension
  float eps = 1e-5f;             // LayerNorm / RMSNorm epsilon

  // Throws InputError("<field_prefix><field>", why) when a value is out of range or the model
  // exceeds ModelLimits; the prefix says where the fields came from ("model." for options,
  // "<file>: /config attribute " for a checkpoint).
  void validate(const std::string& field_prefix = "config ") const;
  int64_t n_params() const;  // owned parameters (tied W_U not counted twice)
  // About how many bytes a forward of B sequences of T tokens needs: the parameters and the
  // activations a forward keeps; `training` adds gradients, AdamW's two moments and backward's
  // scratch. A double: for the memory check, where an int64 could overflow on absurd inputs.
  double memory_bytes(int64_t B, int64_t T, bool training) const;
};

// The limits validate() enforces, so that a typo or a damaged file is refused, naming the field,
// before anything is allocated. Generous next to the models headlab is for (GPT-2 small: d_model
// 768, n_ctx 1024, d_vocab 50257).
struct ModelLimits {
  static constexpr int n_layers = 1024;
  static constexpr int d_model = 1 << 16;
  static constexpr int n_heads = 1024;
  static constexpr int d_head = 1 << 16;
  static constexpr int d_mlp = 1 << 20;
  static constexpr int n_ctx = 1 << 20;
  static constexpr int d_vocab = kMaxVocabSize;
  static constexpr int64_t n_params = int64_t(1) << 33;  // 32 GiB of float32
};

std::string to_string(ActFn);
std::string to_string(Normalization);
std::string to_string(PositionalEmbedding);
// Parse the names used in config files and checkpoints; throw InputError naming `field`.
ActFn parse_act_fn(const std::string& s, const std::string& field = "act_fn");
Normalization parse_normalization(const std::string& s, const std::string& field = "normalization_type");
PositionalEmbedding parse_positional(const std::string& s, const std::string& field = "positional_embedding_type");

}  // namespace headlab
