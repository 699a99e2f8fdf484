// The forward and backward passes, layer by layer: each layer's forward and backward side by side.
// Hooks: at each point the HookSet asks for, the activation is handed over in TransformerLens'
// shape; points whose internal layout differs (q/k/v inside the fused qkv, per-head results,
// norm scales) are formed only then, in transformer_pass_hooks.cpp.
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/errors.h"
#include "model/transformer.h"
#include "model/transformer_activations.h"
#include "model/transformer_pass.h"

namespace headlab {
namespace {

// Hook points whose modifications the forward does not propagate, or whose gradient backward
// does not form, in this version. Asking for them is an input error, not a silent no-op.
bool backward_supported(HookSite s) {
  switch (s) {
    case HookSite::q_input:
    case HookSite::k_input:
    case HookSite::v_input:
    case HookSite::embed:
    case HookSite::pos_embed:
    case HookSite::resid_pre:
    case HookSite::attn_q:
    case HookSite::attn_k:
    case HookSite::attn_v:
    case HookSite::attn_pattern:
    case HookSite::attn_z:
    case HookSite::attn_result:
    case HookSite::attn_out:
    case HookSite::resid_mid:
    case HookSite::mlp_in:
    case HookSite::mlp_pre:
    case HookSite::mlp_post:
    case HookSite::mlp_out:
    case HookSite::resid_post:
      return true;
    default:
      return false;
  }
}

void check_hooks_supported(const HookSet* hooks, const ModelConfig& cfg, bool backward) {
  if (!hooks || hooks->empty()) return;
  for (const HookPoint& p : all_hook_points(cfg)) {
    if (backward && hooks->wants_backward(p) && !backward_supported(p.site))
      throw InputError("hook " + hook_name(p), "gradient capture is not supported at this point");
    // With split q/k/v inputs each head normalises its own copy of resid_pre (TransformerLens then
    // shapes ln1's points [B, T, H, ...]); the block-wide ln1 points are not formed.
    const bool ln1 = p.site == HookSite::ln1_scale || p.site == HookSite::ln1_normalized;
    if (ln1 && hooks->wants_forward(p))
      for (HookSite s : {HookSite::q_input, HookSite::k_input, HookSite::v_input})
        if (hooks->wants_forward({p.layer, s}) || hooks->wants_backward({p.layer, s}))
          throw InputError("hook " + hook_name(p), "not formed when " + hook_name({p.layer, s}) +
                                                       " is hooked too (each head normalises its own input)");
  }
}

// A hook that changed a norm's scale or normalized value made the saved statistics disagree with
// the norm's input; which gradient is meant (scale frozen, or the change a function of the input)
// is the caller's choice, which the hook does not say, so backward refuses rather than guess.
void refuse_backward_through_changed_norm(const Transformer::Activations& A) {
  if (A.norm_changed_by_hook)
    throw InputError("hook ln*.hook_scale / ln*.hook_normalized",
                     "the last forward changed a norm's scale or normalized value; backward through it is not "
                     "supported (cache them, or change hook_resid_* instead)");
}

}  // namespace

// ---- normalisation --------------------------------------------------------------------------
// Returns the normalised input (inp itself when the model has no norms).
const float* TransformerPass::norm_forward(float* out, float* mean, float* rstd, const float* inp, int64_t w,
                                           int64_t b) {
  switch (c_.normalization_type) {
    case Normalization::LN:
      be_.layernorm_forward(out, mean, rstd, inp, P(w), P(b), BT_, c_.d_model, c_.eps);
      return out;
    case Normalization::RMS:
      be_.rmsnorm_forward(out, rstd, inp, P(w), BT_, c_.d_model, c_.eps);
      return out;
    case Normalization::none:
      return inp;
  }
  return inp;
}

// dresid += d(norm input) from dout.
void TransformerPass::norm_backward_add(float* dresid, const float* dout, const float* inp, const float* mean,
                                        const float* rstd, int64_t w, int64_t b) {
  const int64_t D = c_.d_model;
  if (c_.normalization_type == Normalization::none) {  // the identity: no copy through dtmp
    be_.add_inplace(dresid, dout, BT_ * D);
    return;
  }
  norm_backward_into(A_.dtmp, dout, inp, mean, rstd, w, b);
  be_.add_inplace(dresid, A_.dtmp, BT_ * D);
}

// dinp = d(norm input) from dout (overwritten); parameter gradients accumulate.
void TransformerPass::norm_backward_into(float* dinp, const float* dout, const float* inp, const float* mean,
                                         const float* rstd, int64_t w, int64_t b) {
  const int64_t D = c_.d_model;
  if (!param_grads() && c_.normalization_type != Normalization::none) {
    be_.norm_backward_heads(c_.normalization_type, dinp, 0, D, Accumulate::overwrite, nullptr, nullptr, nullptr, dout,
                            inp, P(w), mean, rstd, 1, BT_, D, nullptr);
    return;
  }
  switch (c_.normalization_type) {
    case Normalization::LN:
      be_.layernorm_backward(dinp, G(w), G(b), dout, inp, P(w), mean, rstd, BT_, D);
      break;
    case Normalization::RMS:
      be_.rmsnorm_backward(dinp, G(w), dout, inp, P(w), rstd, BT_, D);
      break;
    case Normalization::none:
      be_.copy(dinp, dout, size_t(BT_ * D) * sizeof(float));
      break;
  }
}

// ---- embeddings -----------------------------------------------------------------------------
void TransformerPass::embed_forward() {
  const int64_t D = c_.d_model;
  float* x = A_.resid[0];  // [BT, D]
  be_.embedding_forward(x, A_.tokens, P(off_.W_E), BT_, D);
  hook(-1, HookSite::embed, x);
  if (off_.W_pos >= 0) {
    be_.pos_embedding_forward(A_.out_D, P(off_.W_pos), B_, T_, D);
    hook(-1, HookSite::pos_embed, A_.out_D);
    be_.add_inplace(x, A_.out_D, BT_ * D);
  }
}

void TransformerPass::embed_backward(float* dx) {  // dx [BT, D] = d resid_pre of block 0
  const int64_t D = c_.d_model;
  if (off_.W_pos >= 0) {
    if (wants_grad(-1, HookSite::pos_embed)) {
      be_.copy(A_.dtmp, dx, size_t(BT_ * D) * sizeof(float));
      hook_grad(-1, HookSite::pos_embed, A_.dtmp);
      if (param_grads()) be_.pos_embedding_backward(G(off_.W_pos), A_.dtmp, B_, T_, D);
    } else if (param_grads()) {
      be_.pos_embedding_backward(G(off_.W_pos), dx, B_, T_, D);
    }
  }
  hook_grad(-1, HookSite::embed, dx);
  if (param_grads()) be_.embedding_backward(G(off_.W_E), dx, A_.tokens, BT_, D);
}

// ---- attention ------------------------------------------------------------------------------
void TransformerPass::attention_forward(int l, float* out) {  // out [BT, D] = attention output incl. b_O
  const BlockOffsets& o = off_.blocks[size_t(l)];
  auto& b = A_.blocks[size_t(l)];
  const int64_t D = c_.d_model, H = c_.n_heads, dh = c_.d_head, Hd = H * dh;
  float* resid_pre = A_.resid[size_t(l)];
  b.qkv_split = split_inputs_forward(l);
  if (b.qkv_split) {
    split_qkv_forward(l);
  } else {
    const float* h = norm_forward(b.ln1_out, b.ln1_mean, b.ln1_rstd, resid_pre, o.ln1_w, o.ln1_b);
    if (c_.normalization_type != Normalization::none)
      hook_norm(l, HookSite::ln1_scale, HookSite::ln1_normalized, resid_pre, b.ln1_mean, b.ln1_rstd, b.ln1_out, o.ln1_w,
                o.ln1_b);
    be_.matmul(b.qkv, h, P(o.W_qkv), P(o.b_qkv), BT_, 3 * Hd, D, Transpose::no, Transpose::no, Accumulate::overwrite);
  }
  hook_strided(l, HookSite::attn_q, b.qkv, 3 * Hd, Hd, false);
  hook_strided(l, HookSite::attn_k, b.qkv + Hd, 3 * Hd, Hd, false);
  hook_strided(l, HookSite::attn_v, b.qkv + 2 * Hd, 3 * Hd, Hd, false);
  if (c_.positional_embedding_type == PositionalEmbedding::rotary) {
    be_.rotary_forward(b.qkv, B_, T_, H, dh, 3 * Hd, c_.rotary_base);
    be_.rotary_forward(b.qkv + Hd, B_, T_, H, dh, 3 * Hd, c_.rotary_base);
  }
  const float scale = 1.0f / std::sqrt(float(dh));
  if (wants(l, HookSite::attn_scores) || wants(l, HookSite::attn_pattern)) {
    float* scores = nullptr;
    if (wants(l, HookSite::attn_scores))
      scores = A_.scratch(A_.hook_buf2, A_.hook_buf2_size, int64_t(B_) * H * T_ * T_);
    be_.attention_pattern_forward(b.pattern, scores, b.qkv, B_, T_, H, dh, scale);
    if (scores) pattern_from_hooked_scores(l, scores, b.pattern);
    hook(l, HookSite::attn_pattern, b.pattern);
    be_.attention_values_forward(b.z, b.pattern, b.qkv, B_, T_, H, dh);
  } else {  // no hook between the two steps: one call, each head's pattern still in cache for z
    be_.attention_forward(b.pattern, b.z, b.qkv, B_, T_, H, dh, scale);
  }
  hook(l, HookSite::attn_z, b.z);
  if (wants(l, HookSite::attn_result) || wants_grad(l, HookSite::attn_result)) {
    per_head_output_forward(l, out);
  } else {
    be_.matmul(out, b.z, P(o.W_O), P(o.b_O), BT_, D, Hd, Transpose::no, Transpose::no, Accumulate::overwrite);
  }
  hook(l, HookSite::attn_out, out);
}

// dout [BT, D] = d attention output. dresid += d resid_pre through this attention. dout may
// be dresid itself: every read of dout comes before the add.
void TransformerPass::attention_backward(int l, const float* dout, float* dresid) {
  const BlockOffsets& o = off_.blocks[size_t(l)];
  auto& b = A_.blocks[size_t(l)];
  const int64_t D = c_.d_model, H = c_.n_heads, dh = c_.d_head, Hd = H * dh;
  bias_grad(o.b_O, dout, BT_, D);
  if (wants(l, HookSite::attn_result) || wants_grad(l, HookSite::attn_result)) {
    per_head_output_backward(l, dout);
  } else {
    if (param_grads())
      be_.matmul(G(o.W_O), b.z, dout, nullptr, Hd, D, BT_, Transpose::yes, Transpose::no, Accumulate::add);
    be_.matmul(A_.dz, dout, P(o.W_O), nullptr, BT_, Hd, D, Transpose::no, Transpose::yes, Accumulate::overwrite);
  }
  hook_grad(l, HookSite::attn_z, A_.dz);
  const float scale = 1.0f / std::sqrt(float(dh));
  if (wants_grad(l, HookSite::attn_pattern)) {
    be_.attention_values_backward(A_.dpattern, A_.dqkv, A_.dz, b.pattern, b.qkv, B_, T_, H, dh);
    hook_grad(l, HookSite::attn_pattern, A_.dpattern);
    be_.attention_pattern_backward(A_.dqkv, A_.dpattern, b.pattern, b.qkv, B_, T_, H, dh, scale);
  } else {
    be_.attention_backward(A_.dqkv, A_.dpattern, A_.dz, b.pattern, b.qkv, B_, T_, H, dh, scale);
  }
  if (c_.positional_embedding_type == PositionalEmbedding::rotary) {
    be_.rotary_backward(A_.dqkv, B_, T_, H, dh, 3 * Hd, c_.rotary_base);
    be_.rotary_backward(A_.dqkv + Hd, B_, T_, H, dh, 3 * Hd, c_.rotary_base);
  }
  hook_strided(l, HookSite::attn_q, A_.dqkv, 3 * Hd, Hd, true);
  hook_strided(l, HookSite::attn_k, A_.dqkv + Hd, 3 * Hd, Hd, true);
  hook_strided(l, HookSite::attn_v, A_.dqkv + 2 * Hd, 3 * Hd, Hd, true);
  if (b.qkv_split) {
    split_qkv_backward(l, dresid);
    return;
  }
  if (split_inputs_backward(l)) {
    split_qkv_gradients(l, dresid);
    return;
  }
  const float* h = b.ln1_out ? b.ln1_out : A_.resid[size_t(l)];
  if (param_grads())
    be_.matmul(G(o.W_qkv), h, A_.dqkv, nullptr, D, 3 * Hd, BT_, Transpose::yes, Transpose::no, Accumulate::add);
  bias_grad(o.b_qkv, A_.dqkv, BT_, 3 * Hd);
  be_.matmul(A_.dnorm, A_.dqkv, P(o.W_qkv), nullptr, BT_, D, 3 * Hd, Transpose::no, Transpose::yes,
             Accumulate::overwrite);
  norm_backward_add(dresid, A_.dnorm, A_.resid[size_t(l)], b.ln1_mean, b.ln1_rstd, o.ln1_w, o.ln1_b);
}

// ---- MLP ------------------------------------------------------------------------------------
void TransformerPass::mlp_forward(int l, float* out) {  // out [BT, D]
  const BlockOffsets& o = off_.blocks[size_t(l)];
  auto& b = A_.blocks[size_t(l)];
  const int64_t D = c_.d_model, M = c_.d_mlp;
  b.mlp_in_used = wants(l, HookSite::mlp_in) || wants_grad(l, HookSite::mlp_in);
  if (b.mlp_in_used) {
    if (!b.mlp_in) b.mlp_in = A_.f(BT_ * D);
    be_.copy(b.mlp_in, b.resid_mid, size_t(BT_ * D) * sizeof(float));
    hook(l, HookSite::mlp_in, b.mlp_in);
  }
  float* x = mlp_input(l);
  const float* h = norm_forward(b.ln2_out, b.ln2_mean, b.ln2_rstd, x, o.ln2_w, o.ln2_b);
  if (c_.normalization_type != Normalization::none)
    hook_norm(l, HookSite::ln2_scale, HookSite::ln2_normalized, x, b.ln2_mean, b.ln2_rstd, b.ln2_out, o.ln2_w, o.ln2_b);
  be_.matmul(b.mlp_pre, h, P(o.W_in), P(o.b_in), BT_, M, D, Transpose::no, Transpose::no, Accumulate::overwrite);
  hook(l, HookSite::mlp_pre, b.mlp_pre);
  be_.activation_forward(b.mlp_post, b.mlp_pre, BT_ * M, c_.act_fn);
  hook(l, HookSite::mlp_post, b.mlp_post);
  be_.matmul(out, b.mlp_post, P(o.W_out), P(o.b_out), BT_, D, M, Transpose::no, Transpose::no, Accumulate::overwrite);
  hook(l, HookSite::mlp_out, out);
}

// dresid_mid += d through the MLP. dout may be dresid_mid itself: it is read before the add.
void TransformerPass::mlp_backward(int l, const float* dout, float* dresid_mid) {
  const BlockOffsets& o = off_.blocks[size_t(l)];
  auto& b = A_.blocks[size_t(l)];
  const int64_t D = c_.d_model, M = c_.d_mlp;
  if (param_grads())
    be_.matmul(G(o.W_out), b.mlp_post, dout, nullptr, M, D, BT_, Transpose::yes, Transpose::no, Accumulate::add);
  bias_grad(o.b_out, dout, BT_, D);
  be_.matmul(A_.dmlp_a, dout, P(o.W_out), nullptr, BT_, M, D, Transpose::no, Transpose::yes, Accumulate::overwrite);
  hook_grad(l, HookSite::mlp_post, A_.dmlp_a);
  be_.activation_backward(A_.dmlp_b, A_.dmlp_a, b.mlp_pre, BT_ * M, c_.act_fn);
  hook_grad(l, HookSite::mlp_pre, A_.dmlp_b);
  const float* x = mlp_input(l);
  const float* h = b.ln2_out ? b.ln2_out : x;
  if (param_grads())
    be_.matmul(G(o.W_in), h, A_.dmlp_b, nullptr, D, M, BT_, Transpose::yes, Transpose::no, Accumulate::add);
  bias_grad(o.b_in, A_.dmlp_b, BT_, M);
  be_.matmul(A_.dnorm, A_.dmlp_b, P(o.W_in), nullptr, BT_, D, M, Transpose::no, Transpose::yes, Accumulate::overwrite);
  if (wants_grad(l, HookSite::mlp_in)) {
    if (!b.mlp_in_used) throw InternalError("a gradient hook on hook_mlp_in after a forward that did not form it");
    norm_backward_into(A_.dtmp, A_.dnorm, x, b.ln2_mean, b.ln2_rstd, o.ln2_w, o.ln2_b);
    hook_grad(l, HookSite::mlp_in, A_.dtmp);
    be_.add_inplace(dresid_mid, A_.dtmp, BT_ * D);
  } else {
    norm_backward_add(dresid_mid, A_.dnorm, x, b.ln2_mean, b.ln2_rstd, o.ln2_w, o.ln2_b);
  }
}

// ln2's input: the hooked copy (hook_mlp_in) when the last forward formed one, else resid_mid.
float* TransformerPass::mlp_input(int l) {
  auto& b = A_.blocks[size_t(l)];
  return b.mlp_in_used ? b.mlp_in : b.resid_mid;
}

// ---- block ----------------------------------------------------------------------------------
void TransformerPass::block_forward(int l) {
  const int64_t D = c_.d_model;
  auto& b = A_.blocks[size_t(l)];
  float* resid_pre = A_.resid[size_t(l)];
  float* resid_post = A_.resid[size_t(l) + 1];
  hook(l, HookSite::resid_pre, resid_pre);
  attention_forward(l, A_.out_D);
  if (c_.attn_only) {
    be_.add(resid_post, resid_pre, A_.out_D, BT_ * D);
  } else {
    be_.add(b.resid_mid, resid_pre, A_.out_D, BT_ * D);
    hook(l, HookSite::resid_mid, b.resid_mid);
    mlp_forward(l, A_.out_D);
    be_.add(resid_post, b.resid_mid, A_.out_D, BT_ * D);
  }
  hook(l, HookSite::resid_post, resid_post);
}

// dresid [BT, D]: on entry d resid_post, on exit d resid_pre.
void TransformerPass::block_backward(int l, float* dresid) {
  hook_grad(l, HookSite::resid_post, dresid);
  // A gradient hook on mlp_out or attn_out gets its branch's own copy of the incoming gradient,
  // so that it changes only that branch, as in TransformerLens. Without one, the branch reads
  // dresid itself: it reads its dout before it adds into dresid.
  if (!c_.attn_only) {
    const float* dout = branch_gradient(l, HookSite::mlp_out, dresid);
    mlp_backward(l, dout, dresid);
    hook_grad(l, HookSite::resid_mid, dresid);
  }
  const float* dout = branch_gradient(l, HookSite::attn_out, dresid);
  attention_backward(l, dout, dresid);
  hook_grad(l, HookSite::resid_pre, dresid);
}

const float* TransformerPass::branch_gradient(int l, HookSite out_site, float* dresid) {
  if (!wants_grad(l, out_site)) return dresid;
  be_.copy(A_.out_D, dresid, size_t(BT_ * c_.d_model) * sizeof(float));
  hook_grad(l, out_site, A_.out_D);
  return A_.out_D;
}

// ---- unembed --------------------------------------------------------------------------------
void TransformerPass::unembed_forward() {
  const int64_t D = c_.d_model, V = c_.d_vocab;
  float* x = A_.resid[size_t(c_.n_layers)];
  const float* h = norm_forward(A_.lnf_out, A_.lnf_mean, A_.lnf_rstd, x, off_.lnf_w, off_.lnf_b);
  if (c_.normalization_type != Normalization::none)
    hook_norm(-1, HookSite::lnf_scale, HookSite::lnf_normalized, x, A_.lnf_mean, A_.lnf_rstd, A_.lnf_out, off_.lnf_w,
              off_.lnf_b);
  if (off_.W_U >= 0)
    be_.matmul(A_.logits, h, P(off_.W_U), P(off_.b_U), BT_, V, D, Transpose::no, Transpose::no, Accumulate::overwrite);
  else  // tied: W_U = W_E^T
    be_.matmul(A_.logits, h, P(off_.W_E), P(off_.b_U), BT_, V, D, Transpose::no, Transpose::yes, Accumulate::overwrite);
}

// dlogits [BT, V] → A_.dresid = d final residual.
void TransformerPass::unembed_backward(const float* dlogits) {
  const int64_t D = c_.d_model, V = c_.d_vocab;
  float* x = A_.resid[size_t(c_.n_layers)];
  const float* h = A_.lnf_out ? A_.lnf_out : x;
  bias_grad(off_.b_U, dlogits, BT_, V);
  if (off_.W_U >= 0) {
    if (param_grads())
      be_.matmul(G(off_.W_U), h, dlogits, nullptr, D, V, BT_, Transpose::yes, Transpose::no, Accumulate::add);
    be_.matmul(A_.dnorm, dlogits, P(off_.W_U), nullptr, BT_, D, V, Transpose::no, Transpose::yes,
               Accumulate::overwrite);
  } else {
    if (param_grads())
      be_.matmul(G(off_.W_E), dlogits, h, nullptr, V, D, BT_, Transpose::yes, Transpose::no, Accumulate::add);
    be_.matmul(A_.dnorm, dlogits, P(off_.W_E), nullptr, BT_, D, V, Transpose::no, Transpose::no, Accumulate::overwrite);
  }
  norm_backward_into(A_.dresid, A_.dnorm, x, A_.lnf_mean, A_.lnf_rstd, off_.lnf_w, off_.lnf_b);
}

void TransformerPass::forward() {
  embed_forward();
  forward_from(0);
}

void TransformerPass::forward_from(int first_layer) {
  for (int l = first_layer; l < c_.n_layers; ++l) block_forward(l);
  unembed_forward();
}

void TransformerPass::backward(const float* dlogits, const GradientsFinal& on_final) {
  const bool tell = on_final && param_grads();
  unembed_backward(dlogits);
  if (tell) on_final(0);
  for (int l = c_.n_layers - 1; l >= 0; --l) {
    block_backward(l, A_.dresid);
    if (tell) on_final(c_.n_layers - l);
  }
  embed_backward(A_.dresid);
  if (tell) on_final(c_.n_layers + 1);
}

std::vector<ArenaRange> backward_stages(const ParamTable& table) {
  const ModelOffsets& o = table.offsets();
  // Where each part starts: the smallest offset among its tensors (absent ones are -1).
  auto start_of = [](std::initializer_list<int64_t> offsets) {
    int64_t first = -1;
    for (int64_t x : offsets)
      if (x >= 0 && (first < 0 || x < first)) first = x;
    return first;
  };
  std::vector<int64_t> starts;  // embeddings, blocks 0.., unembedding, in arena order
  starts.push_back(start_of({o.W_E, o.W_pos}));
  for (const BlockOffsets& b : o.blocks)
    starts.push_back(start_of(
        {b.ln1_w, b.ln1_b, b.W_qkv, b.b_qkv, b.W_O, b.b_O, b.ln2_w, b.ln2_b, b.W_in, b.b_in, b.W_out, b.b_out}));
  starts.push_back(start_of({o.lnf_w, o.lnf_b, o.W_U, o.b_U}));
  starts.push_back(table.arena_size());
  for (size_t i = 0; i + 1 < starts.size(); ++i)
    if (starts[i] < 0 || starts[i] > starts[i + 1])
      throw InternalError("backward_stages: the arena is not laid out embeddings, blocks, unembedding");
  std::vector<ArenaRange> stages;
  for (size_t i = starts.size() - 1; i-- > 0;) stages.push_back({starts[i], starts[i + 1] - starts[i]});
  return stages;
}

void Transformer::forward(const int32_t* tokens, int B, int T, HookSet* hooks) {
  if (B < 1) throw InputError("tokens", "expected at least one sequence");
  if (T < 1 || T > cfg_.n_ctx)
    throw InputError("tokens", "sequence length " + std::to_string(T) +
                                   " is outside [1, n_ctx = " + std::to_string(cfg_.n_ctx) + "]");
  const int64_t BT = int64_t(B) * T;
  for (int64_t i = 0; i < BT; ++i)
    if (tokens[i] < 0 || tokens[i] >= cfg_.d_vocab)
      throw InputError("tokens", "token id " + std::to_string(tokens[i]) + " at [" + std::to_string(i / T) + ", " +
                                     std::to_string(i % T) +
                                     "] is outside [0, d_vocab = " + std::to_string(cfg_.d_vocab) + ")");
  check_hooks_supported(hooks, cfg_, false);
  ensure_activations(B, T);
  acts_->norm_changed_by_hook = false;
  B_ = B;
  T_ = T;
  n_valid_targets_ = 0;
  be_.copy_from_host(acts_->tokens, tokens, size_t(BT) * sizeof(int32_t));
  TransformerPass(cfg_, table_, be_, *acts_, params_, grads_, hooks).forward();
}

void Transformer::forward_from_layer(int layer, const float* resid_pre, HookSet* hooks) {
  if (!acts_) throw InternalError("forward_from_layer before any forward");
  if (layer < 0 || layer > cfg_.n_layers)
    throw InputError("layer " + std::to_string(layer),
                     "expected a layer in [0, " + std::to_string(cfg_.n_layers) + "]");
  check_hooks_supported(hooks, cfg_, false);
  n_valid_targets_ = 0;
  be_.copy_from_host(acts_->resid[size_t(layer)], resid_pre, size_t(B_) * T_ * cfg_.d_model * sizeof(float));
  TransformerPass(cfg_, table_, be_, *acts_, params_, grads_, hooks).forward_from(layer);
}

float Transformer::forward_loss(const int32_t* tokens, const int32_t* targets, int B, int T, HookSet* hooks) {
  forward(tokens, B, T, hooks);
  const int64_t BT = int64_t(B) * T;
  int64_t valid = 0;
  for (int64_t i = 0; i < BT; ++i) {
    if (targets[i] >= cfg_.d_vocab || targets[i] < -1)
      throw InputError("targets", "target id " + std::to_string(targets[i]) + " is outside [-1, d_vocab)");
    valid += targets[i] >= 0;
  }
  be_.copy_from_host(acts_->targets, targets, size_t(BT) * sizeof(int32_t));
  be_.cross_entropy_forward(acts_->losses, acts_->lse, acts_->logits, acts_->targets, BT, cfg_.d_vocab);
  n_valid_targets_ = valid;
  std::vector<float> losses = losses_to_host();
  double sum = 0;  // in a fixed order: the same mean every run
  for (float x : losses) sum += x;
  return valid > 0 ? float(sum / double(valid)) : std::nanf("");
}

void Transformer::backward(HookSet* hooks, float dlogits_scale, const GradientsFinal& on_final) {
  if (!acts_ || n_valid_targets_ == 0) throw InternalError("backward without a forward_loss that counted a target");
  check_hooks_supported(hooks, cfg_, true);
  refuse_backward_through_changed_norm(*acts_);
  const int64_t BT = int64_t(B_) * T_;
  std::vector<int32_t> targets(static_cast<size_t>(BT));
  be_.copy_to_host(targets.data(), acts_->targets, targets.size() * sizeof(int32_t));
  std::vector<float> dloss(static_cast<size_t>(BT));
  const float d = dlogits_scale / float(n_valid_targets_);
  for (int64_t i = 0; i < BT; ++i) dloss[size_t(i)] = targets[size_t(i)] >= 0 ? d : 0.0f;
  be_.copy_from_host(acts_->dloss, dloss.data(), dloss.size() * sizeof(float));
  // In place: the logits become dlogits.
  be_.cross_entropy_backward(acts_->logits, acts_->logits, acts_->lse, acts_->targets, acts_->dloss, BT, cfg_.d_vocab);
  n_valid_targets_ = 0;  // the logits are gone: a second backward needs a new forward
  TransformerPass(cfg_, table_, be_, *acts_, params_, grads_, hooks).backward(acts_->logits, on_final);
}

void Transformer::backward_from_logits(const float* dlogits, HookSet* hooks, bool parameter_gradients) {
  if (!acts_) throw InternalError("backward_from_logits before any forward");
  check_hooks_supported(hooks, cfg_, true);
  refuse_backward_through_changed_norm(*acts_);
  TransformerPass(cfg_, table_, be_, *acts_, params_, parameter_gradients ? grads_ : nullptr, hooks).backward(dlogits);
}

}  // namespace headlab
