// One SAE training step's forward and backward, written by hand for the four architectures side by
// side (SAELens' training losses), on the CPU backend: oneDNN for the dense products, the sparse
// kernels of sae_sparse.h where only a few latents are active.
//
// Loss (x = the scaled input rows, B of them):
//   mse     = (1/B) Σ_b ‖x̂_b − x_b‖²
//   relu    + c_l1(step) · (1/B) Σ_b Σ_i a_bi · ‖W_dec,i‖          (L1 weighted by decoder norms)
//   jumprelu+ c_l0(step) · (1/B) Σ_b Σ_i H(pre_bi − θ_i)           (θ = exp(log_threshold))
//             with the straight-through gradients of Rajamanoharan et al. (rectangle kernel of
//             width ε = bandwidth):  ∂a/∂θ = −(θ/ε) K((pre−θ)/ε),  ∂H/∂θ = −(1/ε) K((pre−θ)/ε)
//   topk, batchtopk + AuxK: c_aux · min(n_dead / k_aux, 1) · (1/B) Σ_b ‖decode(e_b) − (x_b − x̂_b)‖²
//             where e_b keeps the k_aux = min(d_in / 2, n_dead) largest (rescaled) pre-activations
//             among dead latents, and x − x̂ carries no gradient (SAELens decodes e with b_dec).
#pragma once
#include <cstdint>
#include <vector>

#include "model/backend.h"
#include "probes/sae_model.h"
#include "probes/sae_sparse.h"

namespace headlab {

struct SaeStepInput {
  const float* x = nullptr;  // [B, d_in]
  int64_t B = 0;
  const uint8_t* dead = nullptr;    // [d_sae], 1 = dead (AuxK); nullptr = none dead
  double sparsity_coefficient = 0;  // this step's L1 (relu) or L0 (jumprelu) coefficient
};

struct SaeStepResult {
  double loss = 0, mse = 0, sparsity = 0, aux = 0;
  double l0 = 0;           // mean active latents per row
  int64_t n_dead = 0;      // dead latents AuxK saw
  float min_selected = 0;  // batchtopk: smallest selected (rescaled) activation, 0 if none
};

// Buffers reused between steps (sized on first use).
struct SaeWorkspace {
  std::vector<float> xc, pre, score, acts, x_hat, dx_hat, dpre, norms, G, tmp_in, tmp_sae, aux_err;
  SparseRows active, aux;
  std::vector<float> g_active, g_aux;
  // Which latents fired in the last forward (feature_acts > 0 in some row): [d_sae].
  std::vector<uint8_t> fired;
};

// Forward and backward of the step loss at `params` (arena of SaeLayout); `grads` (arena-sized)
// is overwritten with the gradient. The backend does the dense products (CPU only: buffers are host).
SaeStepResult sae_step_loss_and_grad(const SaeConfig& cfg, Backend& be, const float* params, float* grads,
                                     const SaeStepInput& in, SaeWorkspace& ws);

}  // namespace headlab
