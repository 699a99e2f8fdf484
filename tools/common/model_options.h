// ModelConfig options for commands: the TransformerLens field names, in a `[model]` section of an
// INI config file (Boost maps it to "model.<field>") or on the command line as --model.<field>.
#pragma once
#include <boost/program_options.hpp>
#include <string>

#include "core/errors.h"
#include "model/config.h"

namespace headlab::cli {

struct ModelOptionValues {
  ModelConfig defaults;
  std::string act_fn = "gelu_new", normalization_type = "LN", positional_embedding_type = "standard";
  int d_head = -1;  // -1: d_model / n_heads
  ModelConfig cfg;
};

inline void add_model_options(boost::program_options::options_description& d, ModelOptionValues& v) {
  namespace po = boost::program_options;
  ModelConfig& c = v.cfg;
  const ModelConfig& def = v.defaults;
  d.add_options()("model.n_layers", po::value<int>(&c.n_layers)->default_value(def.n_layers), "number of blocks")(
      "model.d_model", po::value<int>(&c.d_model)->default_value(def.d_model), "residual stream width")(
      "model.n_heads", po::value<int>(&c.n_heads)->default_value(def.n_heads), "attention heads per block")(
      "model.d_head", po::value<int>(&v.d_head)->default_value(-1), "head width (default d_model / n_heads)")(
      "model.d_mlp", po::value<int>(&c.d_mlp)->default_value(def.d_mlp), "MLP hidden width")(
      "model.n_ctx", po::value<int>(&c.n_ctx)->default_value(def.n_ctx), "context length")(
      "model.d_vocab", po::value<int>(&c.d_vocab)->default_value(def.d_vocab), "vocabulary size")(
      "model.act_fn", po::value<std::string>(&v.act_fn)->default_value(v.act_fn), "gelu_new | gelu | relu | silu")(
      "model.normalization_type", po::value<std::string>(&v.normalization_type)->default_value(v.normalization_type),
      "LN | RMS | none")("model.attn_only", po::value<bool>(&c.attn_only)->default_value(def.attn_only),
                         "attention-only blocks")(
      "model.positional_embedding_type",
      po::value<std::string>(&v.positional_embedding_type)->default_value(v.positional_embedding_type),
      "standard | rotary | none")("model.tie_embeddings",
                                  po::value<bool>(&c.tie_embeddings)->default_value(def.tie_embeddings),
                                  "unembed with W_E transposed")(
      "model.rotary_base", po::value<float>(&c.rotary_base)->default_value(def.rotary_base), "rotary base")(
      "model.eps", po::value<float>(&c.eps)->default_value(def.eps), "norm epsilon");
}

// The parsed config, d_head derived and every value checked (InputError naming the option).
inline ModelConfig model_config_from(const ModelOptionValues& v) {
  ModelConfig c = v.cfg;
  c.act_fn = parse_act_fn(v.act_fn, "model.act_fn");
  c.normalization_type = parse_normalization(v.normalization_type, "model.normalization_type");
  c.positional_embedding_type = parse_positional(v.positional_embedding_type, "model.positional_embedding_type");
  if (v.d_head > 0) {
    c.d_head = v.d_head;
  } else if (v.d_head == -1) {
    if (c.n_heads < 1)
      throw InputError("model.n_heads", "expected a positive integer, got " + std::to_string(c.n_heads));
    if (c.d_model % c.n_heads != 0)
      throw InputError("model.d_model", "d_model = " + std::to_string(c.d_model) + " is not divisible by n_heads = " +
                                            std::to_string(c.n_heads) + " (or give model.d_head)");
    c.d_head = c.d_model / c.n_heads;
  } else {
    throw InputError("model.d_head", "expected a positive integer, got " + std::to_string(v.d_head));
  }
  c.validate("model.");
  return c;
}

}  // namespace headlab::cli
