// ModelConfig: TransformerLens' HookedTransformerConfig field names where they overlap.
#pragma once
#include <cstdint>
#include <string>

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

  // Throws InputError naming the field when a value is out of range.
  void validate() const;
  int64_t n_params() const;  // owned parameters (tied W_U not counted twice)
};

std::string to_string(ActFn);
std::string to_string(Normalization);
std::string to_string(PositionalEmbedding);
// Parse the names used in config files and checkpoints; throw InputError naming `field`.
ActFn parse_act_fn(const std::string& s, const std::string& field = "act_fn");
Normalization parse_normalization(const std::string& s, const std::string& field = "normalization_type");
PositionalEmbedding parse_positional(const std::string& s, const std::string& field = "positional_embedding_type");

}  // namespace headlab
