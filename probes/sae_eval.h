// SAELens' evaluation metrics for an SAE on a model's hook, over the first sequences of a token
// dataset, with the reconstruction spliced into the model through its hooks:
//   l0                  mean number of active latents per token
//   explained_variance  1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² over every evaluated token (x̄ their mean)
//   mse                 mean over tokens of ‖x − x̂‖²
//   ce_loss_score       (CE_zero − CE_sae) / (CE_zero − CE_clean): the hook's activation replaced by
//                       x̂ (sae) or by zeros (zero-ablated), mean next-token cross-entropy
//   kl_div_score        (KL_zero − KL_sae) / KL_zero, KL(clean ‖ patched) of the next-token
//                       distribution, mean over positions
//   dead                latents never active over the evaluated tokens; feature_density, the
//                       fraction of tokens each latent is active on, and its log10 histogram
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/token_dataset.h"
#include "model/hooks.h"
#include "model/transformer.h"
#include "probes/sae_inference.h"

namespace headlab {

// The sequences a dataset offers for evaluation and feature pages: the rows of a sequences file,
// or consecutive windows of seq_len tokens of a stream.
struct SequenceView {
  const TokenDataset* ds = nullptr;
  int64_t n_seq = 0, seq_len = 0;
  const int32_t* sequence(int64_t s) const { return ds->tokens.data() + s * seq_len; }
};
// InputError naming `what` when the dataset offers no sequence the model can read.
SequenceView sequence_view(const TokenDataset& ds, const ModelConfig& cfg, int64_t seq_len, const std::string& what);

struct SaeMetrics {
  int64_t tokens = 0, sequences = 0;
  double l0 = 0, explained_variance = 0, mse = 0;
  double ce_clean = 0, ce_sae = 0, ce_zero = 0, ce_loss_score = 0;
  double kl_sae = 0, kl_zero = 0, kl_div_score = 0;
  int64_t dead = 0;
  std::vector<double> feature_density;  // [d_sae]
  // log10(density) histogram: bins [-k/2 − 0.5, −k/2) for k = 0..15 (0 down to −8), plus never-active.
  std::vector<int64_t> density_histogram;
  nlohmann::json to_json() const;
};

// Hook point of the SAE in this model; InputError when the model lacks it or the widths differ.
HookPoint sae_hook_point(const Sae& sae, const ModelConfig& cfg);

// Metrics over the first `max_sequences` sequences (all when 0), `batch` sequences per forward.
SaeMetrics evaluate_sae(const Sae& sae, Transformer& model, const SequenceView& seqs, int64_t max_sequences,
                        int64_t batch);

// Mean next-token cross-entropy and the logits of tokens [B, T] with the hook's activation passed
// through `replace` (nullptr = clean run). What evaluate_sae splices; exposed for tests.
struct SplicedRun {
  double ce_sum = 0;
  int64_t ce_count = 0;
  std::vector<float> logits;  // [B, T, d_vocab]
};
using ActivationRewrite = std::function<void(float* activation, int64_t rows, int64_t width)>;
SplicedRun run_spliced(Transformer& model, const int32_t* tokens, int B, int T, HookPoint hook,
                       const ActivationRewrite* replace);

}  // namespace headlab
