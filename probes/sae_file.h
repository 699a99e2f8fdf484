// The SAE file (format "headlab.sae", version 1), HDF5, readable by h5py without headlab:
//
//   /            attributes format, format_version, architecture (SAELens' inference name:
//                "standard" | "topk" | "jumprelu"), trained_as ("relu" | "topk" | "batchtopk" |
//                "jumprelu"), d_in, d_sae, k (topk), hook_name, n_heads and d_head (hook_z SAEs,
//                else 0), scale (the input scale, already folded in), normalize_activations
//                ("none": nothing left to apply), apply_b_dec_to_input (1), model_hash,
//                config_json (the training configuration), metrics_json (after `sae eval`)
//   /W_enc [d_in, d_sae]  /b_enc [d_sae]  /W_dec [d_sae, d_in]  /b_dec [d_in]   float32
//   /threshold [d_sae]    float32, jumprelu (and batchtopk) only
//   /metrics/feature_density [d_sae]   float64, after `sae eval` (fraction of tokens active)
//   /train/...   in checkpoints only: the training state (training-space arena, Adam's m and v,
//                dead-latent counters, step, tokens, the row source's position)
//
// Every read is checked: a missing or misshapen dataset, a wrong format, non-finite weights or a
// bad attribute is one InputError naming the file and the part at fault.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "probes/sae_inference.h"
#include "probes/sae_trainer.h"

namespace headlab {

constexpr const char* kSaeFormat = "headlab.sae";
constexpr int64_t kSaeVersion = 1;

nlohmann::json sae_config_json(const SaeConfig& cfg);
// InputError naming `what` for a missing or mistyped field; validates.
SaeConfig sae_config_from_json(const nlohmann::json& j, const std::string& what);

// Atomic (hidden temporary, renamed into place). With `train`, the file is a checkpoint too.
void write_sae_file(const std::string& path, const Sae& sae, const SaeTrainState* train = nullptr);
Sae read_sae_file(const std::string& path);
// The training state of a checkpoint; InputError when the file has none.
SaeTrainState read_sae_train_state(const std::string& path);

}  // namespace headlab
