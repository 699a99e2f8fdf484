// Probe-guided intervention (Li et al. 2023, Inference-Time Intervention): the heads whose per-head
// probes separate a binary label best on the validation set, each shifted along its probe direction
// θ_h (unit) times the standard deviation σ_h of the activations projected on it, times a strength
// α, at every position: z_h += α σ_h θ_h at blocks.{l}.attn.hook_z.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/config.h"

namespace headlab {

struct HeadProbe {
  int layer = 0, head = 0;
  double validation_score = 0, test_score = 0;
  double sigma = 0;              // projection_std
  std::vector<float> direction;  // [d_head], unit
};

// The per-head probes on blocks.{l}.attn.hook_z of a headlab.probe file (headlab-probes linear
// --per-head on a binary label), checked against `cfg`. InputError naming the file when it has none,
// was trained for another model (`model_hash`, when not empty), or its directions do not fit.
std::vector<HeadProbe> read_head_probes(const std::string& path, const ModelConfig& cfg, const std::string& model_hash);

// The k heads with the best validation score (ties: lower layer, then head), best first.
std::vector<HeadProbe> top_heads(std::vector<HeadProbe> probes, int k);

// Per layer, the [n_heads * d_head] vector to add at hook_z for α = 1: σ_h θ_h in each chosen
// head's slice, zero elsewhere.
std::map<int, std::vector<float>> hook_z_shifts(const std::vector<HeadProbe>& heads, const ModelConfig& cfg);

}  // namespace headlab
