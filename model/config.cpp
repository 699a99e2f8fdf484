#include "model/config.h"

#include "model/errors.h"
#include "model/params.h"

namespace headlab {
namespace {
void require(bool ok, const char* field, const std::string& why) {
  if (!ok) throw InputError(std::string("config ") + field, why);
}
}  // namespace

void ModelConfig::validate() const {
  require(n_layers >= 1 && n_layers <= 1024, "n_layers",
          "expected an integer in [1, 1024], got " + std::to_string(n_layers));
  require(d_model >= 1, "d_model", "expected a positive integer, got " + std::to_string(d_model));
  require(n_heads >= 1, "n_heads", "expected a positive integer, got " + std::to_string(n_heads));
  require(d_head >= 1, "d_head", "expected a positive integer, got " + std::to_string(d_head));
  require(attn_only || d_mlp >= 1, "d_mlp",
          "expected a positive integer (or attn_only = true), got " + std::to_string(d_mlp));
  require(n_ctx >= 1, "n_ctx", "expected a positive integer, got " + std::to_string(n_ctx));
  require(d_vocab >= 2, "d_vocab", "expected an integer >= 2, got " + std::to_string(d_vocab));
  require(positional_embedding_type != PositionalEmbedding::rotary || d_head % 2 == 0, "d_head",
          "rotary embeddings need an even d_head, got " + std::to_string(d_head));
  require(eps > 0, "eps", "expected a positive number");
  require(rotary_base > 0, "rotary_base", "expected a positive number");
  // Keep every array addressable with 32-bit row counts times widths in 64-bit offsets.
  require(int64_t(d_model) * d_vocab < (int64_t(1) << 40), "d_vocab", "model too large");
}

int64_t ModelConfig::n_params() const { return ParamTable(*this).arena_size(); }

std::string to_string(ActFn a) {
  switch (a) {
    case ActFn::gelu_new:
      return "gelu_new";
    case ActFn::gelu:
      return "gelu";
    case ActFn::relu:
      return "relu";
    case ActFn::silu:
      return "silu";
  }
  return "?";
}
std::string to_string(Normalization n) {
  switch (n) {
    case Normalization::LN:
      return "LN";
    case Normalization::RMS:
      return "RMS";
    case Normalization::none:
      return "none";
  }
  return "?";
}
std::string to_string(PositionalEmbedding p) {
  switch (p) {
    case PositionalEmbedding::standard:
      return "standard";
    case PositionalEmbedding::rotary:
      return "rotary";
    case PositionalEmbedding::none:
      return "none";
  }
  return "?";
}

ActFn parse_act_fn(const std::string& s, const std::string& field) {
  if (s == "gelu_new") return ActFn::gelu_new;
  if (s == "gelu") return ActFn::gelu;
  if (s == "relu") return ActFn::relu;
  if (s == "silu") return ActFn::silu;
  throw InputError(field, "expected gelu_new, gelu, relu or silu, got '" + s + "'");
}
Normalization parse_normalization(const std::string& s, const std::string& field) {
  if (s == "LN") return Normalization::LN;
  if (s == "RMS") return Normalization::RMS;
  if (s == "none" || s == "None") return Normalization::none;
  throw InputError(field, "expected LN, RMS or none, got '" + s + "'");
}
PositionalEmbedding parse_positional(const std::string& s, const std::string& field) {
  if (s == "standard") return PositionalEmbedding::standard;
  if (s == "rotary") return PositionalEmbedding::rotary;
  if (s == "none") return PositionalEmbedding::none;
  throw InputError(field, "expected standard, rotary or none, got '" + s + "'");
}

}  // namespace headlab
