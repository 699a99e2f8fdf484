#include "model/params.h"

#include "core/errors.h"

namespace headlab {
namespace {
std::vector<int64_t> row_major_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int i = int(shape.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * shape[i + 1];
  return s;
}
}  // namespace

int64_t ParamInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t ParamInfo::arena_offset(int64_t i) const {
  int64_t off = offset;
  for (int d = int(shape.size()) - 1; d >= 0; --d) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

std::vector<float> ParamInfo::gather(const std::vector<float>& arena) const {
  std::vector<float> out(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) out[size_t(i)] = arena[size_t(arena_offset(i))];
  return out;
}

int64_t ParamTable::add_storage(const std::string& name, int64_t size, ParamKind kind) {
  int64_t off = arena_size_;
  storage_.push_back({name, off, size, kind});
  arena_size_ += size;
  return off;
}

void ParamTable::add_param(ParamInfo p) { params_.push_back(std::move(p)); }

const ParamInfo* ParamTable::find(const std::string& tl_name) const {
  for (const auto& p : params_)
    if (p.name == tl_name) return &p;
  return nullptr;
}

std::vector<float> ParamTable::gather(const std::vector<float>& arena, const std::string& tl_name) const {
  const ParamInfo* p = find(tl_name);
  if (!p) throw InternalError("the parameter table has no " + tl_name);
  if (int64_t(arena.size()) != arena_size_)
    throw InternalError("gather " + tl_name + ": expected an arena of " + std::to_string(arena_size_) +
                        " floats, got " + std::to_string(arena.size()));
  return p->gather(arena);
}

ParamTable::ParamTable(const ModelConfig& c) {
  const int64_t D = c.d_model, H = c.n_heads, dh = c.d_head, M = c.d_mlp, V = c.d_vocab;
  const bool has_norm = c.normalization_type != Normalization::none;
  const bool has_norm_bias = c.normalization_type == Normalization::LN;

  // A contiguous tensor: one storage block and one TL entry with the same shape.
  auto plain = [&](const std::string& name, std::vector<int64_t> shape, ParamKind kind) {
    int64_t size = 1;
    for (int64_t d : shape) size *= d;
    int64_t off = add_storage(name, size, kind);
    add_param({name, shape, off, row_major_strides(shape), kind});
    return off;
  };

  offsets_.W_E = plain("embed.W_E", {V, D}, ParamKind::embedding);
  if (c.positional_embedding_type == PositionalEmbedding::standard)
    offsets_.W_pos = plain("pos_embed.W_pos", {c.n_ctx, D}, ParamKind::embedding);

  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blocks." + std::to_string(l) + ".";
    BlockOffsets b;
    if (has_norm) b.ln1_w = plain(p + "ln1.w", {D}, ParamKind::norm);
    if (has_norm_bias) b.ln1_b = plain(p + "ln1.b", {D}, ParamKind::norm);

    // Fused W_qkv [D, 3, H, dh]: TL's W_Q[h, d, e] sits at d*3*H*dh + which*H*dh + h*dh + e.
    b.W_qkv = add_storage(p + "attn.W_qkv", D * 3 * H * dh, ParamKind::matrix);
    const char* qkv = "QKV";
    for (int which = 0; which < 3; ++which)
      add_param(
          {p + "attn.W_" + qkv[which], {H, D, dh}, b.W_qkv + which * H * dh, {dh, 3 * H * dh, 1}, ParamKind::matrix});
    b.b_qkv = add_storage(p + "attn.b_qkv", 3 * H * dh, ParamKind::bias);
    for (int which = 0; which < 3; ++which)
      add_param({p + "attn.b_" + qkv[which], {H, dh}, b.b_qkv + which * H * dh, {dh, 1}, ParamKind::bias});
    b.W_O = plain(p + "attn.W_O", {H, dh, D}, ParamKind::matrix);
    b.b_O = plain(p + "attn.b_O", {D}, ParamKind::bias);

    if (!c.attn_only) {
      if (has_norm) b.ln2_w = plain(p + "ln2.w", {D}, ParamKind::norm);
      if (has_norm_bias) b.ln2_b = plain(p + "ln2.b", {D}, ParamKind::norm);
      b.W_in = plain(p + "mlp.W_in", {D, M}, ParamKind::matrix);
      b.b_in = plain(p + "mlp.b_in", {M}, ParamKind::bias);
      b.W_out = plain(p + "mlp.W_out", {M, D}, ParamKind::matrix);
      b.b_out = plain(p + "mlp.b_out", {D}, ParamKind::bias);
    }
    offsets_.blocks.push_back(b);
  }

  if (has_norm) offsets_.lnf_w = plain("ln_final.w", {D}, ParamKind::norm);
  if (has_norm_bias) offsets_.lnf_b = plain("ln_final.b", {D}, ParamKind::norm);
  if (c.tie_embeddings) {
    ParamInfo wu{"unembed.W_U", {D, V}, offsets_.W_E, {1, D}, ParamKind::embedding};
    wu.alias = true;
    add_param(wu);
  } else {
    offsets_.W_U = plain("unembed.W_U", {D, V}, ParamKind::matrix);
  }
  offsets_.b_U = plain("unembed.b_U", {V}, ParamKind::bias);
}

}  // namespace headlab
