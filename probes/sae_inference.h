// A trained SAE in its inference form: the input scale and (topk, batchtopk) the decoder-norm
// rescaling folded into the weights, as SAELens saves an SAE, so that on raw activations x
//   pre = (x − b_dec) W_enc + b_enc
//   a   = relu(pre)                       architecture "standard"
//         the k largest of pre, then relu "topk"
//         pre · 1[pre > threshold]        "jumprelu" (also BatchTopK, whose threshold is learned)
//   x̂   = a W_dec + b_dec
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/backend.h"
#include "probes/sae_model.h"
#include "probes/sae_sparse.h"

namespace headlab {

struct SaeTrainState;

struct Sae {
  std::string architecture;  // SAELens' inference architecture: "standard" | "topk" | "jumprelu"
  SaeArch trained_as = SaeArch::topk;
  int64_t d_in = 0, d_sae = 0, k = 0;
  std::vector<float> W_enc, b_enc, W_dec, b_dec;  // [d_in, d_sae], [d_sae], [d_sae, d_in], [d_in]
  std::vector<float> threshold;                   // [d_sae] for "jumprelu", else empty
  double scale = 1.0;                             // the input scale training used, already folded into the weights
  std::string hook_name;
  int64_t n_heads = 0, d_head = 0;  // > 0 for an attention-output SAE (hook_z, heads concatenated)
  std::string model_hash;           // of the checkpoint it was trained on ("" = unknown)
  nlohmann::json config;            // the training configuration
  nlohmann::json metrics;           // filled by evaluation (may be empty)
};

// The inference form of a training state (folds scale and decoder norms; batchtopk -> jumprelu).
Sae inference_sae(const SaeTrainState& state);

// Active latents of rows x [B, d_in] (raw activations), entries sorted by latent.
void sae_encode(const Sae& sae, Backend& be, const float* x, int64_t B, SparseRows& acts);
// x̂ [B, d_in] from the active latents.
void sae_decode(const Sae& sae, const SparseRows& acts, float* x_hat);

}  // namespace headlab
