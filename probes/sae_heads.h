// Attention-output SAEs (Kissane et al. 2024): an SAE on hook_z with the heads concatenated, so each
// decoder row [n_heads · d_head] has one slice per head. A feature's heads are the shares of its
// decoder row's norm in each slice: share_h = ‖W_dec[i, h]‖ / Σ_h' ‖W_dec[i, h']‖.
#pragma once
#include <cstdint>
#include <vector>

#include "probes/sae_inference.h"

namespace headlab {

struct HeadAttribution {
  int64_t n_heads = 0;
  std::vector<float> share;       // [d_sae, n_heads], rows sum to 1 (0 for a zero row)
  std::vector<int32_t> top_head;  // [d_sae] the head with the largest share
  // Per head: the counted features whose largest share is this head, and those where it holds >=
  // `dominant`.
  std::vector<int64_t> top_count, dominant_count;
  double dominant = 0.8;
};

// InputError unless the SAE is an attention-output SAE (n_heads > 0). `counted` [d_sae] says which
// features the per-head counts include (a feature that never fires dominates nothing); empty: all.
HeadAttribution attribute_heads(const Sae& sae, double dominant = 0.8, const std::vector<bool>& counted = {});

}  // namespace headlab
