// The one table of parameters. The arena (one float array) holds every parameter; the table
// says where each internal tensor lives (`storage`, what the optimizer walks) and how each
// TransformerLens state_dict entry maps onto the arena (`params`, what checkpoints and gradient
// tests walk). A TL entry is a strided view: W_Q/W_K/W_V are slices of one fused W_qkv, and a
// tied unembed.W_U is W_E read transposed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace headlab {

// Decides weight decay: only `matrix` parameters decay (minGPT's rule; nanoGPT and llm.c also decay
// the embeddings).
enum class ParamKind { matrix, bias, norm, embedding };

struct StorageInfo {
  std::string name;  // internal name, e.g. blocks.0.attn.W_qkv
  int64_t offset;    // into the arena
  int64_t size;
  ParamKind kind;
};

struct ParamInfo {
  std::string name;              // TransformerLens state_dict name
  std::vector<int64_t> shape;    // TransformerLens shape
  int64_t offset;                // arena offset of element [0, 0, ...]
  std::vector<int64_t> strides;  // arena stride of each TL dimension
  ParamKind kind;
  bool alias = false;  // a view of memory another entry owns (tied W_U)

  int64_t numel() const;
  // Arena offset of the element with row-major (TL) flat index i.
  int64_t arena_offset(int64_t i) const;
  // The entry read out of the arena into its dense row-major (TL) layout.
  std::vector<float> gather(const std::vector<float>& arena) const;
};

// Offsets of one block's tensors in the arena; -1 where the model has no such tensor.
struct BlockOffsets {
  int64_t ln1_w = -1, ln1_b = -1;
  int64_t W_qkv = -1;  // [d_model, 3, n_heads, d_head]
  int64_t b_qkv = -1;  // [3, n_heads, d_head]
  int64_t W_O = -1;    // [n_heads * d_head, d_model]
  int64_t b_O = -1;    // [d_model]
  int64_t ln2_w = -1, ln2_b = -1;
  int64_t W_in = -1, b_in = -1;    // [d_model, d_mlp], [d_mlp]
  int64_t W_out = -1, b_out = -1;  // [d_mlp, d_model], [d_model]
};

struct ModelOffsets {
  int64_t W_E = -1;    // [d_vocab, d_model]
  int64_t W_pos = -1;  // [n_ctx, d_model]
  std::vector<BlockOffsets> blocks;
  int64_t lnf_w = -1, lnf_b = -1;
  int64_t W_U = -1;  // [d_model, d_vocab]; -1 when tied (use W_E transposed)
  int64_t b_U = -1;  // [d_vocab]
};

class ParamTable {
 public:
  explicit ParamTable(const ModelConfig& cfg);

  const std::vector<StorageInfo>& storage() const { return storage_; }
  const std::vector<ParamInfo>& params() const { return params_; }
  const ModelOffsets& offsets() const { return offsets_; }
  int64_t arena_size() const { return arena_size_; }
  // nullptr when no TL entry has this name.
  const ParamInfo* find(const std::string& tl_name) const;
  // The TL entry `tl_name` read out of the arena (ParamInfo::gather): every reader of a parameter by
  // name goes through here. InternalError when the model has no such entry.
  std::vector<float> gather(const std::vector<float>& arena, const std::string& tl_name) const;

 private:
  int64_t add_storage(const std::string& name, int64_t size, ParamKind kind);
  void add_param(ParamInfo p);
  std::vector<StorageInfo> storage_;
  std::vector<ParamInfo> params_;
  ModelOffsets offsets_;
  int64_t arena_size_ = 0;
};

}  // namespace headlab
