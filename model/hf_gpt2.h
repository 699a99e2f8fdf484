// GPT-2 weights from a Hugging Face folder (config.json + model.safetensors) into a headlab checkpoint
// in TransformerLens' layout, and any checkpoint out to safetensors under TransformerLens' state_dict
// names.
//
// The conversion is TransformerLens' convert_gpt2_weights: HF's Conv1D weights are already [in, out],
// so the MLP's c_fc / c_proj become W_in / W_out as they are; the fused c_attn [d_model, 3 d_model]
// is cut into Q, K, V and each into heads (W_Q [n_heads, d_model, d_head], b_Q [n_heads, d_head]);
// attn.c_proj [d_model, d_model] becomes W_O [n_heads, d_head, d_model]; ln_1 / ln_2 / ln_f become
// ln1 / ln2 / ln_final; wte / wpe become W_E / W_pos; the unembedding is tied to W_E (GPT-2's
// lm_head is wte) with b_U = 0.
#pragma once
#include <string>

#include "model/checkpoint.h"

namespace headlab {

struct HfImportReport {
  std::string source_dtype;  // of the safetensors arrays, e.g. "F32"
  int64_t n_tensors = 0;
  int64_t n_shards = 0;              // 0: one model.safetensors; else the files of model.safetensors.index.json
  std::vector<std::string> ignored;  // tensors not used (the causal-mask buffers "h.N.attn.bias", ...)
};

// The weights are model.safetensors or, when the folder has none, the shards that
// model.safetensors.index.json names (SafetensorsSet::open_index checks that they agree).
// InputError naming the file for: a missing config.json or weights, a config of another
// model family (model_type other than "gpt2") or with settings GPT-2's forward here does not have, a
// missing or misshapen tensor, and anything SafetensorsFile refuses. The checkpoint has no tokenizer
// (the caller adds one) and no training state.
Checkpoint import_hf_gpt2(const std::string& dir, HfImportReport* report = nullptr);

// Every TransformerLens state_dict entry of the checkpoint (unembed.W_U too when tied), float32.
void export_safetensors(const Checkpoint& ckpt, const std::string& path);

}  // namespace headlab
