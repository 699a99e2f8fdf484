// The parts of a pass that run only when a hook asks for a value the kernels do not form: q, k or v
// as a strided slice of the fused qkv, a norm's scale and normalized value (and the norm's output
// recomputed when a hook changed them), the pattern from changed attention scores, each head's
// result, and split q/k/v inputs.
#include <cmath>
#include <cstring>
#include <vector>

#include "model/hook_recompute.h"
#include "model/transformer_pass.h"

namespace headlab {

// A hook on a strided slice (q, k or v inside qkv): gather, run, scatter back.
void TransformerPass::hook_strided(int layer, HookSite s, float* base, int64_t stride, int64_t width, bool grad) {
  if (!(grad ? wants_grad(layer, s) : wants(layer, s))) return;
  float* tmp = A_.scratch(A_.hook_buf, A_.hook_buf_size, BT_ * width);
  be_.copy_rows(tmp, width, base, stride, BT_, width);
  ActivationView v{tmp, hook_shape({layer, s}, c_, B_, T_)};
  if (grad)
    hooks_->run_backward({layer, s}, v, be_);
  else
    hooks_->run_forward({layer, s}, v, be_);
  be_.copy_rows(base, stride, tmp, width, BT_, width);
}

// Runs the forward hook at (layer, s) on data [n] and says whether it changed the values.
bool TransformerPass::hook_changed(int layer, HookSite s, float* data, int64_t n) {
  std::vector<float> before(static_cast<size_t>(n)), after(static_cast<size_t>(n));
  be_.copy_to_host(before.data(), data, before.size() * sizeof(float));
  hook(layer, s, data);
  be_.copy_to_host(after.data(), data, after.size() * sizeof(float));
  return std::memcmp(before.data(), after.data(), after.size() * sizeof(float)) != 0;
}

std::vector<float> TransformerPass::to_host(const float* p, int64_t n) {
  std::vector<float> host(static_cast<size_t>(n));
  be_.copy_to_host(host.data(), p, host.size() * sizeof(float));
  return host;
}

// ln*.hook_scale [B, T, 1] and ln*.hook_normalized [B, T, D], formed as TransformerLens forms
// them: scale = sqrt(var + eps) (RMS: sqrt(mean x^2 + eps)), normalized = (x - mean) / scale.
// The kernels fuse both away, so they are formed here only when hooked; when a hook changes
// either, the norm's output out = normalized * w (+ b) and the saved rstd are recomputed from
// the changed values (the backward then refuses to run: see Transformer::backward).
void TransformerPass::hook_norm(int layer, HookSite scale_site, HookSite normalized_site, const float* inp,
                                const float* mean, float* rstd, float* out, int64_t w, int64_t b) {
  if (!wants(layer, scale_site) && !wants(layer, normalized_site)) return;
  const int64_t D = c_.d_model;
  std::vector<float> scale = to_host(rstd, BT_);
  for (float& x : scale) x = 1.0f / x;
  bool changed = false;
  if (wants(layer, scale_site)) {
    float* tmp = A_.scratch(A_.hook_buf, A_.hook_buf_size, BT_);
    be_.copy_from_host(tmp, scale.data(), scale.size() * sizeof(float));
    if (hook_changed(layer, scale_site, tmp, BT_)) {
      changed = true;
      be_.copy_to_host(scale.data(), tmp, scale.size() * sizeof(float));
    }
  }
  if (!changed && !wants(layer, normalized_site)) return;  // the scale only cached: the kernel's output stands
  const bool centred = c_.normalization_type == Normalization::LN;
  const std::vector<float> x = to_host(inp, BT_ * D);
  const std::vector<float> mu = centred ? to_host(mean, BT_) : std::vector<float>();
  std::vector<float> normalized(static_cast<size_t>(BT_ * D));
  normalize_rows(normalized.data(), x.data(), centred ? mu.data() : nullptr, scale.data(), BT_, D);
  if (wants(layer, normalized_site)) {
    float* tmp = A_.scratch(A_.hook_buf, A_.hook_buf_size, BT_ * D);
    be_.copy_from_host(tmp, normalized.data(), normalized.size() * sizeof(float));
    if (hook_changed(layer, normalized_site, tmp, BT_ * D)) {
      changed = true;
      be_.copy_to_host(normalized.data(), tmp, normalized.size() * sizeof(float));
    }
  }
  if (!changed) return;
  A_.norm_changed_by_hook = true;
  const std::vector<float> weight = to_host(P(w), D);
  const std::vector<float> bias = centred ? to_host(P(b), D) : std::vector<float>();
  std::vector<float> y(static_cast<size_t>(BT_ * D));
  scale_shift_rows(y.data(), normalized.data(), weight.data(), centred ? bias.data() : nullptr, BT_, D);
  be_.copy_from_host(out, y.data(), y.size() * sizeof(float));
  for (float& s : scale) s = 1.0f / s;
  be_.copy_from_host(rstd, scale.data(), scale.size() * sizeof(float));
}

// hook_attn_scores [B, H, T, T] (scaled, masked with -inf, as TransformerLens): when the hook
// changes them, the pattern is the causal softmax of the changed scores. Backward then goes
// through the softmax of that pattern, as autograd does through an additive change or a mask.
void TransformerPass::pattern_from_hooked_scores(int l, float* scores, float* pattern) {
  const int64_t R = int64_t(B_) * c_.n_heads, n = R * T_ * T_;
  if (!hook_changed(l, HookSite::attn_scores, scores, n)) return;
  const std::vector<float> s = to_host(scores, n);
  std::vector<float> p(static_cast<size_t>(n));
  causal_softmax_rows(p.data(), s.data(), R, T_);
  be_.copy_from_host(pattern, p.data(), p.size() * sizeof(float));
}

// hook_result [B, T, H, D]: each head's z_h · W_O[h]; out = Σ_h result_h + b_O.
void TransformerPass::per_head_output_forward(int l, float* out) {
  const BlockOffsets& o = off_.blocks[size_t(l)];
  auto& b = A_.blocks[size_t(l)];
  const int64_t D = c_.d_model, H = c_.n_heads, dh = c_.d_head;
  float* result = A_.scratch(A_.hook_buf2, A_.hook_buf2_size, BT_ * H * D);  // [BT, H, D]
  float* z_h = A_.dz;                                                        // [BT, dh] scratch
  for (int64_t hh = 0; hh < H; ++hh) {
    be_.copy_rows(z_h, dh, b.z + hh * dh, H * dh, BT_, dh);
    be_.matmul(A_.dtmp, z_h, P(o.W_O) + hh * dh * D, nullptr, BT_, D, dh, Transpose::no, Transpose::no,
               Accumulate::overwrite);
    be_.copy_rows(result + hh * D, H * D, A_.dtmp, D, BT_, D);
  }
  hook(l, HookSite::attn_result, result);
  // out = ones[BT, 1] · b_O[1, D], then + each head's (possibly hooked) result.
  be_.matmul(out, A_.ones, P(o.b_O), nullptr, BT_, D, 1, Transpose::no, Transpose::no, Accumulate::overwrite);
  for (int64_t hh = 0; hh < H; ++hh) {
    be_.copy_rows(A_.dtmp, D, result + hh * D, H * D, BT_, D);
    be_.add_inplace(out, A_.dtmp, BT_ * D);
  }
}

Transformer::Activations::SplitInputs& TransformerPass::split_buffers(int l) {
  if (A_.split.size() < size_t(c_.n_layers)) A_.split.resize(size_t(c_.n_layers));
  auto& s = A_.split[size_t(l)];
  if (s.x.empty()) {
    const int64_t n = 3 * c_.n_heads;
    const bool norm = c_.normalization_type != Normalization::none;
    for (int64_t i = 0; i < n; ++i) {
      s.x.push_back(A_.f(BT_ * c_.d_model));
      s.ln_out.push_back(norm ? A_.f(BT_ * c_.d_model) : nullptr);
      s.mean.push_back(norm ? A_.f(BT_) : nullptr);
      s.rstd.push_back(norm ? A_.f(BT_) : nullptr);
    }
    s.dw = A_.f(c_.d_model * c_.d_head);
    s.gw = A_.f(c_.d_model * c_.d_head);
  }
  return s;
}

// W_qkv's slice for (which, head) gathered contiguous: [D, dh].
float* TransformerPass::weight_slice(int l, int which, int64_t h) {
  const int64_t D = c_.d_model, H = c_.n_heads, dh = c_.d_head;
  float* w = A_.scratch(A_.hook_buf, A_.hook_buf_size, D * dh);
  be_.copy_rows(w, dh, P(off_.blocks[size_t(l)].W_qkv) + (which * H + h) * dh, 3 * H * dh, D, dh);
  return w;
}

void TransformerPass::split_qkv_forward(int l) {
  const BlockOffsets& o = off_.blocks[size_t(l)];
  auto& b = A_.blocks[size_t(l)];
  auto& s = split_buffers(l);
  const int64_t D = c_.d_model, H = c_.n_heads, dh = c_.d_head;
  float* all = A_.scratch(A_.hook_buf2, A_.hook_buf2_size, BT_ * H * D);  // [BT, H, D]
  float* out_h = A_.dz;                                                   // [BT, dh] scratch
  for (int which = 0; which < 3; ++which) {
    for (int64_t h = 0; h < H; ++h) be_.copy_rows(all + h * D, H * D, A_.resid[size_t(l)], D, BT_, D);
    hook(l, input_site(which), all);
    for (int64_t h = 0; h < H; ++h) {
      const size_t i = size_t(which * H + h);
      be_.copy_rows(s.x[i], D, all + h * D, H * D, BT_, D);
      const float* ln = norm_forward(s.ln_out[i], s.mean[i], s.rstd[i], s.x[i], o.ln1_w, o.ln1_b);
      be_.matmul(out_h, ln, weight_slice(l, which, h), P(o.b_qkv) + (which * H + h) * dh, BT_, dh, D, Transpose::no,
                 Transpose::no, Accumulate::overwrite);
      be_.copy_rows(b.qkv + (which * H + h) * dh, 3 * H * dh, out_h, dh, BT_, dh);
    }
  }
}

void TransformerPass::split_qkv_backward(int l, float* dresid) {
  const BlockOffsets& o = off_.blocks[size_t(l)];
  auto& s = split_buffers(l);
  const int64_t D = c_.d_model, H = c_.n_heads, dh = c_.d_head, row = 3 * H * dh;
  float* dall = A_.scratch(A_.hook_buf2, A_.hook_buf2_size, BT_ * H * D);  // [BT, H, D]
  float* dslice = A_.dz;                                                   // [BT, dh]
  float* dw = s.dw;                                                        // [D, dh]
  float* gw = s.gw;                                                        // [D, dh]
  for (int which = 0; which < 3; ++which) {
    for (int64_t h = 0; h < H; ++h) {
      const size_t i = size_t(which * H + h);
      const int64_t col = (which * H + h) * dh;
      be_.copy_rows(dslice, dh, A_.dqkv + col, row, BT_, dh);
      const float* ln = s.ln_out[i] ? s.ln_out[i] : s.x[i];
      if (param_grads()) {  // dW slice: computed contiguous, added into the strided gradient.
        be_.matmul(dw, ln, dslice, nullptr, D, dh, BT_, Transpose::yes, Transpose::no, Accumulate::overwrite);
        be_.copy_rows(gw, dh, G(o.W_qkv) + col, row, D, dh);
        be_.add_inplace(gw, dw, D * dh);
        be_.copy_rows(G(o.W_qkv) + col, row, gw, dh, D, dh);
        if (o.b_qkv >= 0) be_.bias_backward(G(o.b_qkv) + col, dslice, BT_, dh);
      }
      be_.matmul(A_.dnorm, dslice, weight_slice(l, which, h), nullptr, BT_, D, dh, Transpose::no, Transpose::yes,
                 Accumulate::overwrite);
      norm_backward_into(A_.dtmp, A_.dnorm, s.x[i], s.mean[i], s.rstd[i], o.ln1_w, o.ln1_b);
      be_.copy_rows(dall + h * D, H * D, A_.dtmp, D, BT_, D);
    }
    hook_grad(l, input_site(which), dall);
    for (int64_t h = 0; h < H; ++h) {
      be_.copy_rows(A_.dtmp, D, dall + h * D, H * D, BT_, D);
      be_.add_inplace(dresid, A_.dtmp, BT_ * D);
    }
  }
}

// The backward of a fused forward for backward hooks on the q/k/v inputs: parameter gradients as
// the plain path forms them, then per head its input's gradient, dnorm_h = dqkv_h · W_h^T through
// the one normalisation all heads shared in the forward (norm_backward_heads). The hook sees
// [BT, H, D] per input kind and resid_pre's gradient is the sum of what it leaves, as in the split
// forward's backward.
void TransformerPass::split_qkv_gradients(int l, float* dresid) {
  const BlockOffsets& o = off_.blocks[size_t(l)];
  auto& b = A_.blocks[size_t(l)];
  const int64_t D = c_.d_model, H = c_.n_heads, dh = c_.d_head, row = 3 * H * dh;
  const float* resid_pre = A_.resid[size_t(l)];
  const float* h_in = b.ln1_out ? b.ln1_out : resid_pre;
  if (param_grads())
    be_.matmul(G(o.W_qkv), h_in, A_.dqkv, nullptr, D, row, BT_, Transpose::yes, Transpose::no, Accumulate::add);
  bias_grad(o.b_qkv, A_.dqkv, BT_, row);
  float* dslice = A_.dz;  // [BT, dh]
  auto head_dnorm = [&](float* out, int which, int64_t h) {
    be_.copy_rows(dslice, dh, A_.dqkv + (which * H + h) * dh, row, BT_, dh);
    be_.matmul(out, dslice, weight_slice(l, which, h), nullptr, BT_, D, dh, Transpose::no, Transpose::yes,
               Accumulate::overwrite);
  };
  bool sinks_only = true;
  for (int which = 0; which < 3; ++which) {
    const HookPoint at{l, input_site(which)};
    sinks_only = sinks_only && (!wants_grad(l, input_site(which)) || hooks_->only_gradient_sink(at));
  }
  if (sinks_only) {
    // The edge methods' case: nothing changes the gradients, so resid_pre's gradient and the norm's
    // parameter gradients are the plain path's, and each head's gradient goes straight into its sink,
    // one head at a time (its [BT, D] rows stay in cache between the product and the norm's backward).
    be_.matmul(A_.dnorm, A_.dqkv, P(o.W_qkv), nullptr, BT_, D, row, Transpose::no, Transpose::yes,
               Accumulate::overwrite);
    norm_backward_add(dresid, A_.dnorm, resid_pre, b.ln1_mean, b.ln1_rstd, o.ln1_w, o.ln1_b);
    for (int which = 0; which < 3; ++which) {
      float* sink = hooks_->gradient_sink({l, input_site(which)});
      if (!sink) continue;
      for (int64_t h = 0; h < H; ++h) {
        head_dnorm(A_.dnorm, which, h);
        be_.norm_backward_heads(c_.normalization_type, sink + h * BT_ * D, BT_ * D, D, Accumulate::add, nullptr,
                                nullptr, nullptr, A_.dnorm, resid_pre, P(o.ln1_w), b.ln1_mean, b.ln1_rstd, 1, BT_, D,
                                A_.dtmp);
      }
    }
    return;
  }
  float* dall = A_.scratch(A_.hook_buf2, A_.hook_buf2_size, BT_ * H * D);   // [BT, H, D]
  float* dnorm = A_.scratch(A_.hook_buf3, A_.hook_buf3_size, H * BT_ * D);  // [H, BT, D]
  for (int which = 0; which < 3; ++which) {
    for (int64_t h = 0; h < H; ++h) head_dnorm(dnorm + h * BT_ * D, which, h);
    be_.norm_backward_heads(c_.normalization_type, dall, D, H * D, Accumulate::overwrite, nullptr, G(o.ln1_w),
                            G(o.ln1_b), dnorm, resid_pre, P(o.ln1_w), b.ln1_mean, b.ln1_rstd, H, BT_, D, A_.dtmp);
    hook_grad(l, input_site(which), dall);
    for (int64_t h = 0; h < H; ++h) {
      be_.copy_rows(A_.dtmp, D, dall + h * D, H * D, BT_, D);
      be_.add_inplace(dresid, A_.dtmp, BT_ * D);
    }
  }
}

void TransformerPass::per_head_output_backward(int l, const float* dout) {
  const BlockOffsets& o = off_.blocks[size_t(l)];
  auto& b = A_.blocks[size_t(l)];
  const int64_t D = c_.d_model, H = c_.n_heads, dh = c_.d_head;
  float* dresult = A_.scratch(A_.hook_buf2, A_.hook_buf2_size, BT_ * H * D);  // [BT, H, D]
  for (int64_t hh = 0; hh < H; ++hh) be_.copy_rows(dresult + hh * D, H * D, dout, D, BT_, D);
  hook_grad(l, HookSite::attn_result, dresult);
  float* z_h = A_.scratch(A_.hook_buf, A_.hook_buf_size, BT_ * dh);
  for (int64_t hh = 0; hh < H; ++hh) {
    be_.copy_rows(A_.dtmp, D, dresult + hh * D, H * D, BT_, D);  // dresult_h [BT, D]
    be_.copy_rows(z_h, dh, b.z + hh * dh, H * dh, BT_, dh);
    if (param_grads())
      be_.matmul(G(o.W_O) + hh * dh * D, z_h, A_.dtmp, nullptr, dh, D, BT_, Transpose::yes, Transpose::no,
                 Accumulate::add);
    be_.matmul(z_h, A_.dtmp, P(o.W_O) + hh * dh * D, nullptr, BT_, dh, D, Transpose::no, Transpose::yes,
               Accumulate::overwrite);
    be_.copy_rows(A_.dz + hh * dh, H * dh, z_h, dh, BT_, dh);
  }
}

}  // namespace headlab
