// Heads as weights: each head's QK and OV circuits as low-rank factors, and the Q-, K- and
// V-composition scores between heads in different layers (Elhage et al. 2021, "A Mathematical
// Framework for Transformer Circuits"; TransformerLens' all_composition_scores).
//
// Conventions are TransformerLens' (weights right-multiply a residual row vector x):
//   OV circuit of head h:  W_OV = W_V W_O          [d_model, d_model], rank <= d_head
//   QK circuit of head h:  W_QK = W_Q W_Kᵀ          (attention score x_q W_QK x_kᵀ)
// and the factors are kept apart, so no d_model x d_model matrix is formed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/backend.h"
#include "model/config.h"

namespace headlab {

// Which weights the weight-based scores read.
//  - none: the checkpoint's weights as stored: the published formulas (Elhage et al. 2021) applied
//    to the model's W_E, W_Q, W_K, W_V, W_O, W_U, and what TransformerLens' model.OV, model.QK and
//    all_composition_scores give for a HookedTransformer holding this state_dict
//    (load_state_dict), as for any model trained in TransformerLens. Norm weights are not part of
//    the circuit.
//  - transformer_lens: processed as TransformerLens' load_and_process_state_dict (and
//    from_pretrained) does by default: fold_ln (LN: ln1.w folded into W_Q/W_K/W_V and ln_final.w
//    into W_U, those reading weights then centred over d_model; RMS: the weights folded only),
//    center_writing_weights (LN only: W_E and W_O centred over d_model) and center_unembed (every
//    model: W_U centred over the vocabulary). The model computes the same function; the eigenvalue
//    and norm scores do not stay the same.
// Biases are left out either way: the scores are properties of the weight products.
enum class WeightProcessing { none, transformer_lens };
const char* to_string(WeightProcessing p);  // "none", "transformer_lens"
// "none" / "raw" or "transformer_lens" / "tl"; InputError naming `what` otherwise.
WeightProcessing parse_weight_processing(const std::string& text, const std::string& what);

struct HeadCircuits {
  ModelConfig cfg;
  WeightProcessing processing = WeightProcessing::none;
  std::vector<float> W_Q, W_K, W_V;  // [n_layers, n_heads, d_model, d_head]
  std::vector<float> W_O;            // [n_layers, n_heads, d_head, d_model]
  std::vector<float> W_E;            // [d_vocab, d_model]
  std::vector<float> W_U;            // [d_model, d_vocab]

  int64_t head_index(int layer, int head) const { return int64_t(layer) * cfg.n_heads + head; }
  // One head's factor: [d_model, d_head] for Q, K, V; [d_head, d_model] for O.
  const float* q(int l, int h) const { return W_Q.data() + head_index(l, h) * cfg.d_model * cfg.d_head; }
  const float* k(int l, int h) const { return W_K.data() + head_index(l, h) * cfg.d_model * cfg.d_head; }
  const float* v(int l, int h) const { return W_V.data() + head_index(l, h) * cfg.d_model * cfg.d_head; }
  const float* o(int l, int h) const { return W_O.data() + head_index(l, h) * cfg.d_head * cfg.d_model; }
};

// From the parameter arena of a model with this config (ParamTable(cfg) order, e.g.
// Checkpoint::params or Transformer::params_to_host()). InternalError when the size is wrong.
HeadCircuits head_circuits(const ModelConfig& cfg, const std::vector<float>& params,
                           WeightProcessing processing = WeightProcessing::none);

enum class CompositionKind { q, k, v };
const char* to_string(CompositionKind kind);  // "q", "k", "v"

// Composition scores [n_layers, n_heads, n_layers, n_heads]: entry (l1, h1, l2, h2) with l2 > l1 is
//   ‖L R‖_F / (‖L‖_F ‖R‖_F),  L = W_OV of the earlier head (l1, h1),
//   R = W_QK (Q-composition), W_QKᵀ (K-composition) or W_OV (V-composition) of the later head,
// how much of the earlier head's output the later head's query, key or value reads. In Elhage et
// al.'s column-vector notation (W_OV = W_O W_V, W_QK = W_Qᵀ W_K, score x_qᵀ W_QK x_k) the same
// numbers are Q: ‖W_QKᵀ W_OV‖, K: ‖W_QK W_OV‖, V: ‖W_OV2 W_OV1‖ over the norms' product. Entries with
// l2 <= l1 are 0, as TransformerLens' mask leaves them. With L = A1 B1 and R = A2 B2 (factors
// [d_model, d_head] and [d_head, d_model]), ‖L R‖²_F = tr(Cᵀ (A1ᵀA1) C (B2 B2ᵀ)), C = B1 A2
// [d_head, d_head]: every product is d_head-sized but C, which is formed for all heads of two
// layers at once by one matrix product on `cpu` (a CPU backend: host memory).
// A head whose L or R is 0 scores 0.
std::vector<double> composition_scores(const HeadCircuits& w, CompositionKind kind, Backend& cpu);

// ‖W_OV‖_F of every head [n_layers, n_heads] (also used by the tests).
std::vector<double> ov_norms(const HeadCircuits& w);

}  // namespace headlab
