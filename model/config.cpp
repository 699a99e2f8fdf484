#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/errors.h"
#include "model/params.h"

namespace headlab {
namespace {
std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}
}  // namespace

void ModelConfig::validate(const std::string& field_prefix) const {
  auto require = [&](bool ok, const char* field, const std::string& why) {
    if (!ok) throw InputError(field_prefix + field, why);
  };
  auto in_range = [&](int value, int lo, int hi, const char* field) {
    require(value >= lo && value <= hi, field,
            "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                std::to_string(value));
  };
  in_range(n_layers, 1, ModelLimits::n_layers, "n_layers");
  in_range(d_model, 1, ModelLimits::d_model, "d_model");
  in_range(n_heads, 1, ModelLimits::n_heads, "n_heads");
  in_range(d_head, 1, ModelLimits::d_head, "d_head");
  // Attention-only models have no MLP: their d_mlp is not used (TransformerLens leaves it None).
  require(attn_only || (d_mlp >= 1 && d_mlp <= ModelLimits::d_mlp), "d_mlp",
          "expected an integer in [1, " + std::to_string(ModelLimits::d_mlp) + "] (or attn_only = true), got " +
              std::to_string(d_mlp));
  in_range(n_ctx, 1, ModelLimits::n_ctx, "n_ctx");
  in_range(d_vocab, 2, ModelLimits::d_vocab, "d_vocab");
  require(positional_embedding_type != PositionalEmbedding::rotary || d_head % 2 == 0, "d_head",
          "rotary embeddings need an even d_head, got " + std::to_string(d_head));
  // inf would pass "> 0" and turn every norm's output (or every rotary angle) into 0 or NaN.
  require(std::isfinite(eps) && eps > 0, "eps", "expected a finite positive number, got " + number(eps));
  require(std::isfinite(rotary_base) && rotary_base > 0, "rotary_base",
          "expected a finite positive number, got " + number(rotary_base));
  // Each field within its limit keeps every product below in int64.
  const int64_t n = n_params();
  require(n <= ModelLimits::n_params, "n_params",
          "the model would have " + std::to_string(n) + " parameters; headlab's limit is " +
              std::to_string(ModelLimits::n_params) + " (2^33)");
}

int64_t ModelConfig::n_params() const { return ParamTable(*this).arena_size(); }

// Mirrors Transformer::Activations: what forward keeps per block and per token, plus backward's
// scratch. The attention pattern (H x T per token) is what grows fastest with T.
double ModelConfig::memory_bytes(int64_t B, int64_t T, bool training) const {
  const double D = d_model, H = n_heads, Hdh = double(n_heads) * d_head, M = attn_only ? 0 : d_mlp;
  const double V = d_vocab, L = n_layers, t = double(T);
  const double per_block = 3 * D + 4 + 4 * Hdh + H * t + 2 * M;  // ln outs, qkv, z, pattern, mlp
  const double scratch = 4 * D + 4 * Hdh + H * t + 2 * M;        // d-buffers of one block
  const double per_token = L * per_block + (L + 1) * D + V + 3 + (training ? scratch : 0);
  const double param_copies = training ? 4 : 1;  // weights, gradients, AdamW m and v
  return 4.0 * (param_copies * double(n_params()) + double(B) * t * per_token);
}

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
