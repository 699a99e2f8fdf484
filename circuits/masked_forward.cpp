#include "circuits/masked_forward.h"

#include <algorithm>

#include "core/errors.h"
#include "model/backend.h"

namespace headlab {
namespace {

bool replaces(const MaskedRunOptions& opt, int first, int count) {
  return opt.replace_count > 0 && opt.replace_first == first && opt.replace_count == count;
}

HookSite input_site(QKV which) {
  return which == QKV::q ? HookSite::q_input : which == QKV::k ? HookSite::k_input : HookSite::v_input;
}

}  // namespace

EdgePatcher::EdgePatcher(Transformer& model, const EdgeGraph& graph) : model_(model), be_(model.backend()), g_(graph) {}

EdgePatcher::~EdgePatcher() {
  for (void* p : owned_) be_.free_bytes(p);
}

void EdgePatcher::ensure_buffers(int B, int T) {
  if (B == B_ && T == T_) return;
  for (void* p : owned_) be_.free_bytes(p);
  owned_.clear();
  B_ = B;
  T_ = T;
  const ModelConfig& c = model_.config();
  BTD_ = int64_t(B) * T * c.d_model;
  auto alloc = [&](int64_t n) {
    void* p = be_.alloc_bytes(size_t(std::max<int64_t>(n, 1)) * sizeof(float));
    owned_.push_back(p);
    return static_cast<float*>(p);
  };
  corrupted_ = alloc(g_.n_src() * BTD_);
  delta_ = alloc(g_.n_src() * BTD_);
  grad_ = alloc(g_.n_dst() * BTD_);
  scratch_ = nullptr;  // on first use (scratch())
  weights_ = alloc(g_.n_cells());
  score_buf_ = alloc(g_.n_cells());
  dlogits_ = alloc(int64_t(B) * T * c.d_vocab);
  have_corrupted_ = false;
}

void EdgePatcher::cache_corrupted(const int32_t* corrupted, int B, int T) {
  ensure_buffers(B, T);
  // With corrupted_ zero, the recorded rows out − corrupted_ are the outputs themselves, exactly.
  be_.fill_zero(corrupted_, size_t(g_.n_src() * BTD_) * sizeof(float));
  forward(corrupted, MaskedRunOptions());
  be_.copy(corrupted_, delta_, size_t(g_.n_src() * BTD_) * sizeof(float));
  be_.fill_zero(delta_, size_t(g_.n_src() * BTD_) * sizeof(float));
  have_corrupted_ = true;
}

void EdgePatcher::pack_weights(const EdgeMatrix& mask) {
  if (int64_t(mask.size()) != g_.n_cells())
    throw InternalError("edge mask of " + std::to_string(mask.size()) + " cells for a graph of " +
                        std::to_string(g_.n_cells()));
  block_offset_.assign(size_t(g_.n_dst()), -1);
  std::vector<float> packed;
  const int L = g_.n_layers(), H = g_.n_heads();
  auto group = [&](int first, int rows) {
    const int n_read = g_.n_readable(first);
    std::vector<float> block(size_t(rows) * size_t(n_read));
    bool any = false;
    for (int r = 0; r < rows; ++r)
      for (int s = 0; s < n_read; ++s) {
        const float w = 1.0f - mask[size_t(g_.cell(s, first + r))];
        block[size_t(r) * size_t(n_read) + size_t(s)] = w;
        any = any || w != 0.0f;
      }
    if (!any) return;
    block_offset_[size_t(first)] = int64_t(packed.size());
    packed.insert(packed.end(), block.begin(), block.end());
  };
  for (int l = 0; l < L; ++l) {
    for (QKV w : {QKV::q, QKV::k, QKV::v}) group(g_.dst_head(l, w, 0), H);
    if (g_.has_mlps()) group(g_.dst_mlp(l), 1);
  }
  group(g_.dst_logits(), 1);
  if (!packed.empty()) be_.copy_from_host(weights_, packed.data(), packed.size() * sizeof(float));
}

float* EdgePatcher::scratch() {
  // Only patched edges and replaced nodes need it; EAP and EAP-IG over the input never allocate it.
  if (!scratch_) {
    const int64_t n = 2 * std::max(1, model_.config().n_heads) * BTD_;
    scratch_ = static_cast<float*>(be_.alloc_bytes(size_t(std::max<int64_t>(n, 1)) * sizeof(float)));
    owned_.push_back(scratch_);
  }
  return scratch_;
}

// data −= Σ_src w[dst, src] · delta[src] for the group of `rows` destinations starting at
// first_dst. head_layout: data is [BT, rows, D] (one slice per head), else [BT, D] (rows = 1).
void EdgePatcher::correct(float* data, int first_dst, int rows, bool head_layout) {
  const int64_t off = block_offset_.empty() ? -1 : block_offset_[size_t(first_dst)];
  if (off < 0) return;
  const int n_read = g_.n_readable(first_dst);
  float* corr = scratch();  // [rows, BTD]
  be_.matmul(corr, weights_ + off, delta_, nullptr, rows, BTD_, n_read, Transpose::no, Transpose::no,
             Accumulate::overwrite);
  if (!head_layout) {
    be_.axpy(data, -1.0f, corr, BTD_);
    return;
  }
  const int64_t D = model_.config().d_model, BT = int64_t(B_) * T_;
  float* spread = corr + rows * BTD_;  // [BT, rows, D]
  for (int r = 0; r < rows; ++r) be_.copy_rows(spread + r * D, rows * D, corr + r * BTD_, D, BT, D);
  be_.axpy(data, -1.0f, spread, rows * BTD_);
}

HookSet EdgePatcher::hooks_for(const MaskedRunOptions& opt) {
  const int L = g_.n_layers(), H = g_.n_heads();
  const int64_t D = model_.config().d_model, BT = int64_t(B_) * T_;
  const bool record = !opt.keep_deltas;
  const bool interpolate = std::isfinite(opt.input_alpha);
  HookSet hooks;
  // The input source: blocks.0.hook_resid_pre (embeddings, positional ones included).
  if (record || interpolate) {
    const float alpha = opt.input_alpha;
    hooks.add_forward({0, HookSite::resid_pre},
                      [this, record, interpolate, alpha](HookPoint, ActivationView& v, Backend& be) {
                        float* in_corr = corrupted_ + int64_t(g_.src_input()) * BTD_;
                        float* in_delta = delta_ + int64_t(g_.src_input()) * BTD_;
                        if (interpolate) {
                          be.copy(v.data, in_corr, size_t(BTD_) * sizeof(float));
                          be.axpy(v.data, alpha, in_delta, BTD_);
                        }
                        if (record) {
                          be.copy(in_delta, v.data, size_t(BTD_) * sizeof(float));
                          be.axpy(in_delta, -1.0f, in_corr, BTD_);
                        }
                      });
  }
  for (int l = 0; l < L; ++l) {
    for (QKV w : {QKV::q, QKV::k, QKV::v}) {
      const int first = g_.dst_head(l, w, 0);
      const bool patched = !block_offset_.empty() && block_offset_[size_t(first)] >= 0;
      if (patched)
        hooks.add_forward({l, input_site(w)}, [this, first, H](HookPoint, ActivationView& v, Backend&) {
          correct(v.data, first, H, true);
        });
      if (opt.gradients) hooks.add_gradient_into({l, input_site(w)}, grad_ + int64_t(first) * BTD_);
    }
    const int first_head = g_.src_head(l, 0);
    if (replaces(opt, first_head, H)) {
      const float alpha = opt.replace_alpha;
      hooks.add_forward({l, HookSite::attn_result},
                        [this, first_head, H, D, BT, alpha](HookPoint, ActivationView& v, Backend& be) {
                          float* rows = scratch();  // [H, BTD]
                          be.copy(rows, corrupted_ + first_head * BTD_, size_t(H * BTD_) * sizeof(float));
                          be.axpy(rows, alpha, delta_ + first_head * BTD_, H * BTD_);
                          for (int h = 0; h < H; ++h) be.copy_rows(v.data + h * D, H * D, rows + h * BTD_, D, BT, D);
                        });
      hooks.add_backward({l, HookSite::attn_result}, [this, H](HookPoint, ActivationView& v, Backend& be) {
        be.fill_zero(v.data, size_t(H * BTD_) * sizeof(float));
      });
    }
    if (record)
      hooks.add_forward({l, HookSite::attn_result}, [this, l, H, D, BT](HookPoint, ActivationView& v, Backend& be) {
        const int64_t first = g_.src_head(l, 0);
        for (int h = 0; h < H; ++h) be.copy_rows(delta_ + (first + h) * BTD_, D, v.data + h * D, H * D, BT, D);
        be.axpy(delta_ + first * BTD_, -1.0f, corrupted_ + first * BTD_, H * BTD_);
      });
    if (!g_.has_mlps()) continue;
    const int mlp_dst = g_.dst_mlp(l);
    if (!block_offset_.empty() && block_offset_[size_t(mlp_dst)] >= 0)
      hooks.add_forward({l, HookSite::mlp_in}, [this, mlp_dst](HookPoint, ActivationView& v, Backend&) {
        correct(v.data, mlp_dst, 1, false);
      });
    if (opt.gradients) hooks.add_gradient_into({l, HookSite::mlp_in}, grad_ + int64_t(mlp_dst) * BTD_);
    const int mlp_src = g_.src_mlp(l);
    if (replaces(opt, mlp_src, 1)) {
      const float alpha = opt.replace_alpha;
      hooks.add_forward({l, HookSite::mlp_out}, [this, mlp_src, alpha](HookPoint, ActivationView& v, Backend& be) {
        be.copy(v.data, corrupted_ + mlp_src * BTD_, size_t(BTD_) * sizeof(float));
        be.axpy(v.data, alpha, delta_ + mlp_src * BTD_, BTD_);
      });
      hooks.add_backward({l, HookSite::mlp_out}, [this](HookPoint, ActivationView& v, Backend& be) {
        be.fill_zero(v.data, size_t(BTD_) * sizeof(float));
      });
    }
    if (record)
      hooks.add_forward({l, HookSite::mlp_out}, [this, l](HookPoint, ActivationView& v, Backend& be) {
        const int64_t s = g_.src_mlp(l);
        be.copy(delta_ + s * BTD_, v.data, size_t(BTD_) * sizeof(float));
        be.axpy(delta_ + s * BTD_, -1.0f, corrupted_ + s * BTD_, BTD_);
      });
  }
  // The logits read the final residual, blocks.{L-1}.hook_resid_post.
  const int logits = g_.dst_logits();
  if (!block_offset_.empty() && block_offset_[size_t(logits)] >= 0)
    hooks.add_forward({L - 1, HookSite::resid_post},
                      [this, logits](HookPoint, ActivationView& v, Backend&) { correct(v.data, logits, 1, false); });
  if (opt.gradients) hooks.add_gradient_into({L - 1, HookSite::resid_post}, grad_ + int64_t(logits) * BTD_);
  return hooks;
}

void EdgePatcher::forward(const int32_t* tokens, const MaskedRunOptions& opt) {
  if (g_.n_layers() < 1) throw InputError("model", "edge methods need at least one layer");
  const bool cached = have_corrupted_;
  if (opt.mask || std::isfinite(opt.input_alpha)) {
    if (!cached) throw InternalError("a masked forward before cache_corrupted");
  }
  if (opt.keep_deltas && opt.mask) throw InternalError("keep_deltas with a mask: the corrections need this run's rows");
  if ((std::isfinite(opt.input_alpha) || opt.replace_count > 0) && !opt.keep_deltas)
    throw InternalError("interpolation needs the kept rows of a clean run");
  if (opt.replace_count > 0) {
    if (!cached) throw InternalError("a replaced output before cache_corrupted");
    bool layer_node = false;
    for (int l = 0; l < g_.n_layers(); ++l)
      layer_node = layer_node || replaces(opt, g_.src_head(l, 0), g_.n_heads()) ||
                   (g_.has_mlps() && replaces(opt, g_.src_mlp(l), 1));
    if (!layer_node) throw InternalError("a replaced output range that is not one layer's heads or one MLP");
  }
  if (opt.mask)
    pack_weights(*opt.mask);
  else
    block_offset_.clear();
  hooks_ = hooks_for(opt);
  last_gradients_ = opt.gradients;
  model_.forward(tokens, B_, T_, &hooks_);
}

void EdgePatcher::backward(const float* dlogits) {
  const int64_t n = int64_t(B_) * T_ * model_.config().d_vocab;
  be_.copy_from_host(dlogits_, dlogits, size_t(n) * sizeof(float));
  model_.backward_from_logits(dlogits_, &hooks_, false);  // scores need no parameter gradients
}

void EdgePatcher::zero_gradients() { be_.fill_zero(grad_, size_t(g_.n_dst() * BTD_) * sizeof(float)); }

void EdgePatcher::add_edge_scores(EdgeMatrix& scores, double scale) {
  if (int64_t(scores.size()) != g_.n_cells()) scores.assign(size_t(g_.n_cells()), 0.0f);
  be_.matmul(score_buf_, delta_, grad_, nullptr, g_.n_src(), g_.n_dst(), BTD_, Transpose::no, Transpose::yes,
             Accumulate::overwrite);
  std::vector<float> host(size_t(g_.n_cells()));
  be_.copy_to_host(host.data(), score_buf_, host.size() * sizeof(float));
  for (int s = 0; s < g_.n_src(); ++s)
    for (int d = 0; d < g_.n_dst(); ++d)
      if (g_.is_edge(s, d)) {
        const size_t i = size_t(g_.cell(s, d));
        scores[i] = float(double(scores[i]) - scale * double(host[i]));  // (corrupted − out) = −delta
      }
}

std::vector<float> EdgePatcher::delta_row(int src) const {
  std::vector<float> out(static_cast<size_t>(BTD_));
  be_.copy_to_host(out.data(), delta_ + int64_t(src) * BTD_, out.size() * sizeof(float));
  return out;
}

std::vector<float> EdgePatcher::gradient_row(int dst) const {
  std::vector<float> out(static_cast<size_t>(BTD_));
  be_.copy_to_host(out.data(), grad_ + int64_t(dst) * BTD_, out.size() * sizeof(float));
  return out;
}

}  // namespace headlab
