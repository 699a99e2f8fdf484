// Direct logit attribution and the logit lens, at each sequence's answer position.
//
// DLA splits the logit difference logit(answer) - logit(wrong_answer) (or the answer's logit alone
// when the task has no wrong answers) over the pieces the final residual stream is the sum of:
//   resid_final = hook_embed + hook_pos_embed + Σ_layers (Σ_heads hook_result + b_O + hook_mlp_out)
// The final norm is linear once its scale is frozen at the clean run's value (ln_final.hook_scale),
// so each piece c contributes  norm_frozen(c) · (W_U[:, answer] - W_U[:, wrong])  (LayerNorm also
// centres c), and the pieces plus the remainder — the attention biases b_O, ln_final.b and b_U —
// sum to the logit difference exactly (up to float rounding).
//
// The logit lens unembeds the residual stream after each layer through the model's own final norm
// (with the residual's own scale) and W_U (forward_from_layer at the last layer), and reports the
// answer's probability and rank there.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "circuits/task_data.h"
#include "model/transformer.h"

namespace headlab {

struct DlaReport {
  int64_t n_rows = 0;
  bool has_wrong_answer = true;   // false: attribution of the answer's logit alone
  double logit_diff = 0;          // mean over rows, from the model's logits
  std::vector<double> heads;      // [L, H] mean contribution of each head
  std::vector<double> mlps;       // [L]; empty for attention-only models
  std::vector<double> attn_bias;  // [L] each layer's b_O
  double embed = 0, pos_embed = 0;
  double final_bias = 0;        // ln_final.b and b_U
  double remainder() const;     // Σ attn_bias + final_bias: what is not a head, an MLP or an embedding
  double sum_of_parts() const;  // every head, MLP and embedding; + remainder() = logit_diff
};

// The mean attribution over the task's rows; batches of batch_size.
DlaReport direct_logit_attribution(Transformer& model, const TaskData& task, int batch_size);

struct LogitLensReport {
  int64_t n_rows = 0;
  std::vector<std::string> labels;      // L + 1 points: "embed" (blocks.0.hook_resid_pre), "L0", ... (after layer l)
  std::vector<double> mean_prob;        // [L + 1] answer probability
  std::vector<double> mean_rank;        // [L + 1] answer rank (0 = the top logit)
  std::vector<double> top1;             // [L + 1] share of rows whose top logit is the answer
  std::vector<double> mean_logit_diff;  // [L + 1]; NaN without wrong answers
  std::vector<float> prob;              // [L + 1, n]
  std::vector<int32_t> rank;            // [L + 1, n]
};

// InputError when the task has no answers.
LogitLensReport logit_lens(Transformer& model, const TaskData& task, int batch_size);

}  // namespace headlab
