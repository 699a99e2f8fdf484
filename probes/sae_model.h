// A sparse autoencoder's configuration and parameters, with SAELens' names, shapes and defaults.
//
// Four architectures (SAELens' "standard", "topk", "batchtopk", "jumprelu"), all encoding
//   pre = (x - b_dec) W_enc + b_enc          x [B, d_in], W_enc [d_in, d_sae], b_enc [d_sae]
// and decoding  x_hat = a W_dec + b_dec      a [B, d_sae], W_dec [d_sae, d_in], b_dec [d_in]
// with a = relu(pre) (relu), the k largest per row (topk), the k·B largest of the batch
// (batchtopk), or pre · 1[pre > threshold] (jumprelu, threshold = exp(log_threshold)).
//
// Training-space parameters live in one arena so that clipping and Adam see them as one vector:
//   W_enc | b_enc | W_dec | b_dec | log_threshold (jumprelu only)
// The arena holds what training moves; the SAE file holds the inference form (sae_file.h), where
// the input scale and (topk, batchtopk) the decoder-norm rescaling are folded into the weights.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace headlab {

enum class SaeArch { relu, topk, batchtopk, jumprelu };
std::string to_string(SaeArch a);              // "relu" | "topk" | "batchtopk" | "jumprelu"
SaeArch parse_sae_arch(const std::string& s);  // InputError("--arch", ...) otherwise
// SAELens' architecture name, written to the file's config: "standard" for relu.
std::string saelens_architecture(SaeArch a);

// Learning-rate shape (SAELens' "constant" scheduler with lr_warm_up_steps and lr_decay_steps):
// linear warm-up from lr/W over the first W steps, constant, then linear decay to 0 over the last D.
struct SaeLrSchedule {
  int64_t warmup_steps = 0;
  int64_t decay_steps = 0;
  // The learning rate of 0-based step `step` out of `total` for peak `lr`.
  double at(int64_t step, int64_t total, double lr) const;
};

struct SaeConfig {
  SaeArch arch = SaeArch::topk;
  int64_t d_in = 0;
  int64_t d_sae = 0;
  // topk: latents per row; batchtopk: mean latents per row (k·B of the batch). SAELens: 100.
  int64_t k = 100;
  // relu: L1 coefficient on a · ‖W_dec row‖, warmed up linearly from 0 (SAELens' coefficient
  // scheduler: value at step s = l1 · min(s / W, 1)). SAELens' default coefficient is 1.
  double l1_coefficient = 1.0;
  int64_t l1_warmup_steps = 0;
  // jumprelu: L0 penalty (the step function's sum) with the straight-through threshold gradient
  // of Rajamanoharan et al.; SAELens: coefficient 1, bandwidth 0.05, threshold init 0.01.
  double l0_coefficient = 1.0;
  int64_t l0_warmup_steps = 0;
  double jumprelu_bandwidth = 0.05;
  double jumprelu_init_threshold = 0.01;
  // topk, batchtopk: AuxK (Gao et al.) over the top k_aux = d_in / 2 dead latents, times
  // min(n_dead / k_aux, 1) and this coefficient (SAELens: 1).
  double aux_coefficient = 1.0;
  // topk, batchtopk: select on pre · ‖W_dec row‖ and decode a / ‖W_dec row‖ (SAELens' default
  // rescale_acts_by_decoder_norm = True), so the selection ignores decoder norms.
  bool rescale_acts_by_decoder_norm = true;
  // batchtopk: the inference threshold, an EMA of the smallest selected activation (SAELens).
  double topk_threshold_lr = 0.01;
  // Decoder rows initialised at this norm, W_enc = W_decᵀ (Anthropic's April 2024 update).
  double decoder_init_norm = 0.1;
  // Latents that have not fired for more than this many steps are dead (AuxK uses them).
  int64_t dead_feature_window = 1000;

  // Optimisation: torch.optim.Adam, clip_grad_norm_(max_norm), the schedule above.
  double lr = 3e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double grad_clip = 1.0;  // 0 = off
  SaeLrSchedule schedule;
  int64_t batch_size = 4096;
  int64_t steps = 0;
  uint64_t seed = 0;

  // What the SAE reads: the hook, and for hook_z its heads (d_in = n_heads · d_head).
  std::string hook_name;
  int64_t n_heads = 0, d_head = 0;  // 0 = not an attention-output SAE

  // InputError naming the option for every value out of range (k > d_sae, d_sae = 0 ...).
  void validate() const;
  bool uses_threshold() const { return arch == SaeArch::jumprelu; }
};

// Offsets of each parameter in the arena.
struct SaeLayout {
  int64_t W_enc = 0, b_enc = 0, W_dec = 0, b_dec = 0, log_threshold = 0, size = 0;
  explicit SaeLayout(const SaeConfig& cfg);
};

// SAELens' initialisation: W_dec ~ kaiming_uniform (U(±sqrt(6 / d_in)) for the [d_sae, d_in]
// array), rows scaled to decoder_init_norm, W_enc = W_decᵀ, biases 0, log_threshold = log(init).
// Deterministic in cfg.seed.
std::vector<float> init_sae_params(const SaeConfig& cfg);

// ‖W_dec row i‖ for every latent, [d_sae].
std::vector<float> decoder_row_norms(const float* W_dec, int64_t d_sae, int64_t d_in);

}  // namespace headlab
