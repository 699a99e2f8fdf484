// Private to the transformer's .cpp files: one forward or one backward pass over the layers, on
// the activations of one (B, T). The plain pass (transformer_pass.cpp) reads top to bottom, each
// layer's forward beside its backward; what runs only when a hook asks for a value the kernels do
// not form (q/k/v as slices of the fused qkv, a norm's scale and normalized value, changed attention
// scores, per-head results, split q/k/v inputs) is in transformer_pass_hooks.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "model/backend.h"
#include "model/hooks.h"
#include "model/params.h"
#include "model/transformer.h"
#include "model/transformer_activations.h"

namespace headlab {

class TransformerPass {
 public:
  TransformerPass(const ModelConfig& c, const ParamTable& t, Backend& be, Transformer::Activations& A, float* params,
                  float* grads, HookSet* hooks)
      : c_(c),
        off_(t.offsets()),
        be_(be),
        A_(A),
        params_(params),
        grads_(grads),
        hooks_(hooks && !hooks->empty() ? hooks : nullptr),
        B_(A.B),
        T_(A.T),
        BT_(int64_t(A.B) * A.T) {}

  void forward();
  void forward_from(int first_layer);
  void backward(const float* dlogits, const GradientsFinal& on_final = {});

 private:
  // ---- hooks ----------------------------------------------------------------------------------
  bool wants(int layer, HookSite s) const { return hooks_ && hooks_->wants_forward({layer, s}); }
  bool wants_grad(int layer, HookSite s) const { return hooks_ && hooks_->wants_backward({layer, s}); }
  void hook(int layer, HookSite s, float* data) {
    if (!wants(layer, s)) return;
    ActivationView v{data, hook_shape({layer, s}, c_, B_, T_)};
    hooks_->run_forward({layer, s}, v, be_);
  }
  void hook_grad(int layer, HookSite s, float* data) {
    if (!wants_grad(layer, s)) return;
    ActivationView v{data, hook_shape({layer, s}, c_, B_, T_)};
    hooks_->run_backward({layer, s}, v, be_);
  }
  float* P(int64_t off) const { return off < 0 ? nullptr : params_ + off; }
  // Parameter gradients: grads_ null (a backward for activation gradients only) skips them all.
  float* G(int64_t off) const { return off < 0 || !grads_ ? nullptr : grads_ + off; }
  bool param_grads() const { return grads_ != nullptr; }
  void bias_grad(int64_t off, const float* dout, int64_t M, int64_t N) {
    if (float* g = G(off)) be_.bias_backward(g, dout, M, N);
  }
  // ---- split q/k/v inputs (TransformerLens' use_split_qkv_input) -----------------------------
  // Each head reads its own copy of resid_pre (hook_{q,k,v}_input [B, T, H, D]), normalises it and
  // multiplies by its own slice of W_qkv. Formed only when a hook asks, in forward or backward.
  // A forward hook needs each head's own copy in the forward; a backward hook alone does not:
  // every head then reads the same resid_pre, so the fused forward is exact and the backward forms
  // the per-head gradients from the fused one's normalisation (split_qkv_gradients).
  bool split_inputs_forward(int l) const {
    for (HookSite s : {HookSite::q_input, HookSite::k_input, HookSite::v_input})
      if (wants(l, s)) return true;
    return false;
  }
  bool split_inputs_backward(int l) const {
    for (HookSite s : {HookSite::q_input, HookSite::k_input, HookSite::v_input})
      if (wants_grad(l, s)) return true;
    return false;
  }
  static HookSite input_site(int which) {
    return which == 0 ? HookSite::q_input : which == 1 ? HookSite::k_input : HookSite::v_input;
  }

  // ---- the plain pass (transformer_pass.cpp) ---------------------------------------------------
  const float* norm_forward(float* out, float* mean, float* rstd, const float* inp, int64_t w, int64_t b);
  void norm_backward_add(float* dresid, const float* dout, const float* inp, const float* mean, const float* rstd,
                         int64_t w, int64_t b);
  void norm_backward_into(float* dinp, const float* dout, const float* inp, const float* mean, const float* rstd,
                          int64_t w, int64_t b);
  void embed_forward();
  void embed_backward(float* dx);
  void attention_forward(int l, float* out);
  void attention_backward(int l, const float* dout, float* dresid);
  void mlp_forward(int l, float* out);
  void mlp_backward(int l, const float* dout, float* dresid_mid);
  float* mlp_input(int l);
  void block_forward(int l);
  void block_backward(int l, float* dresid);
  const float* branch_gradient(int l, HookSite out_site, float* dresid);
  void unembed_forward();
  void unembed_backward(const float* dlogits);

  // ---- formed only when a hook asks (transformer_pass_hooks.cpp) -------------------------------
  void hook_strided(int layer, HookSite s, float* base, int64_t stride, int64_t width, bool grad);
  bool hook_changed(int layer, HookSite s, float* data, int64_t n);
  std::vector<float> to_host(const float* p, int64_t n);
  void hook_norm(int layer, HookSite scale_site, HookSite normalized_site, const float* inp, const float* mean,
                 float* rstd, float* out, int64_t w, int64_t b);
  void pattern_from_hooked_scores(int l, float* scores, float* pattern);
  void per_head_output_forward(int l, float* out);
  Transformer::Activations::SplitInputs& split_buffers(int l);
  float* weight_slice(int l, int which, int64_t h);
  void split_qkv_forward(int l);
  void split_qkv_backward(int l, float* dresid);
  void split_qkv_gradients(int l, float* dresid);
  void per_head_output_backward(int l, const float* dout);

  const ModelConfig& c_;
  const ModelOffsets& off_;
  Backend& be_;
  Transformer::Activations& A_;
  float* params_;
  float* grads_;
  HookSet* hooks_;
  int B_, T_;
  int64_t BT_;
};

}  // namespace headlab
