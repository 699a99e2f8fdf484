// Hook points (TransformerLens' names) and the HookSet that says what happens at each.
// A point is identified by structure (layer + site); its string is derived and parsed at the edge.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"

namespace headlab {

enum class HookSite : uint8_t {
  // global, before the blocks (layer = -1)
  embed,
  pos_embed,
  // per block, in forward order
  resid_pre,
  ln1_scale,
  ln1_normalized,
  q_input,
  k_input,
  v_input,
  attn_q,
  attn_k,
  attn_v,
  attn_scores,
  attn_pattern,
  attn_z,
  attn_result,
  attn_out,
  resid_mid,
  mlp_in,  // the MLP's own copy of resid_mid (ln2's input): edits reach the MLP, not the residual
  ln2_scale,
  ln2_normalized,
  mlp_pre,
  mlp_post,
  mlp_out,
  resid_post,
  // global, after the blocks (layer = -1)
  lnf_scale,
  lnf_normalized,
  count
};
constexpr int kNumHookSites = int(HookSite::count);
static_assert(kNumHookSites <= 32, "a HookSet keeps one 32-bit word of sites per layer");

struct HookPoint {
  int layer = -1;  // -1 for hook_embed, hook_pos_embed and ln_final
  HookSite site = HookSite::embed;
  bool operator==(const HookPoint& o) const { return layer == o.layer && site == o.site; }
  bool operator<(const HookPoint& o) const { return layer != o.layer ? layer < o.layer : site < o.site; }
};

std::string hook_name(HookPoint p);  // "blocks.1.attn.hook_pattern"
// Parses a TransformerLens hook name and checks it exists in this model; InputError otherwise.
HookPoint parse_hook_name(const std::string& name, const ModelConfig& cfg);
// Every hook point this model has, in the order forward visits them.
std::vector<HookPoint> all_hook_points(const ModelConfig& cfg);
// TransformerLens shape of the activation at p for a batch of B sequences of T tokens.
std::vector<int64_t> hook_shape(HookPoint p, const ModelConfig& cfg, int64_t B, int64_t T);

// A contiguous float array in host memory with its TransformerLens shape.
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t numel() const;
};

// Activations (or gradients) cached by hook point, on the host: TransformerLens' ActivationCache.
// Entries are shared and immutable, so a patch can hold one without copying it.
class ActivationCache {
 public:
  using Entries = std::map<HookPoint, std::shared_ptr<const HostTensor>>;

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  bool contains(HookPoint p) const { return entries_.count(p) != 0; }
  // InputError naming the hook when it was not cached.
  const HostTensor& at(HookPoint p) const;
  const HostTensor& at(const std::string& hook_name) const;  // by TransformerLens name
  std::shared_ptr<const HostTensor> shared(HookPoint p) const;
  // The entry moved out of the cache (no copy); InputError when it was not cached.
  std::shared_ptr<const HostTensor> take(HookPoint p);
  void insert(HookPoint p, HostTensor t);
  void insert(HookPoint p, std::shared_ptr<const HostTensor> t) { entries_[p] = std::move(t); }
  void clear() { entries_.clear(); }
  const Entries& entries() const { return entries_; }
  Entries::const_iterator begin() const { return entries_.begin(); }
  Entries::const_iterator end() const { return entries_.end(); }

 private:
  Entries entries_;
};

// What the model hands a hook: the activation, contiguous, in the backend's memory
// (host for CPU), shaped as TransformerLens shapes it. A forward hook may change it in place.
struct ActivationView {
  float* data;
  std::vector<int64_t> shape;
  int64_t numel() const;
};

class Backend;
using HookFn = std::function<void(HookPoint, ActivationView&, Backend&)>;

// A HookSet is compiled to a per-(layer, site) bitmask before the forward, so the model tests one
// bit per point and an empty set costs nothing. Not copyable (a copy's caching hooks would write
// into the original's caches); moving keeps the caches, which live behind a stable pointer.
class HookSet {
 public:
  HookSet();
  ~HookSet();
  HookSet(const HookSet&) = delete;
  HookSet& operator=(const HookSet&) = delete;
  HookSet(HookSet&&) noexcept;
  HookSet& operator=(HookSet&&) noexcept;

  // Run fn on the activation at p during forward (fn may modify it in place).
  void add_forward(HookPoint p, HookFn fn);
  // Run fn on the gradient at p during backward (fn may read it, or modify it in place).
  void add_backward(HookPoint p, HookFn fn);
  // Copy the activation (gradient) at p into cached() (cached_gradients()), host memory.
  void cache(HookPoint p);
  void cache_gradient(HookPoint p);
  // Add the gradient at p into `rows` (backend memory) during backward, after any hook at p that
  // changes it. For the per-head points, shaped [B, T, H, X] (q/k/v inputs, hook_z, hook_result),
  // rows is head-major, [H, B*T*X]: one contiguous row per head, the layout the edge methods score
  // with; for the others, the hook's own shape. Where it is the only hook at p, the model adds from
  // its own per-head buffers without forming the hook's layout.
  void add_gradient_into(HookPoint p, float* rows);
  float* gradient_sink(HookPoint p) const;     // null when there is none
  bool only_gradient_sink(HookPoint p) const;  // a sink and no other backward hook at p

  bool empty() const { return forward_.empty() && backward_.empty() && sinks_.empty(); }
  bool wants_forward(HookPoint p) const { return forward_mask(p); }
  bool wants_backward(HookPoint p) const { return backward_mask(p); }
  // Called by the model at p (only when wants_*(p)).
  void run_forward(HookPoint p, ActivationView& v, Backend& be);
  void run_backward(HookPoint p, ActivationView& v, Backend& be);

  const ActivationCache& cached() const { return caches_->forward; }
  const ActivationCache& cached_gradients() const { return caches_->backward; }
  const HostTensor& cached(const std::string& name) const { return cached().at(name); }  // InputError when not cached
  // The forward cache moved out (the set keeps caching into an empty one).
  ActivationCache take_cached() { return std::move(caches_->forward); }
  void clear_cache() {
    caches_->forward.clear();
    caches_->backward.clear();
  }

 private:
  bool forward_mask(HookPoint p) const { return test_bit(forward_bits_, p); }
  bool backward_mask(HookPoint p) const { return test_bit(backward_bits_, p); }
  static bool test_bit(const std::vector<uint32_t>& bits, HookPoint p) {
    size_t i = size_t(p.layer + 1);
    return i < bits.size() && (bits[i] >> int(p.site) & 1u);
  }
  static void set_bit(std::vector<uint32_t>& bits, HookPoint p);
  // One word per layer (index layer + 1; index 0 for the global points), one bit per site.
  std::vector<uint32_t> forward_bits_, backward_bits_;
  std::map<HookPoint, std::vector<HookFn>> forward_, backward_;
  std::map<HookPoint, float*> sinks_;
  // The caching hooks hold this pointer, not the HookSet's address, so that a moved set still works.
  struct Caches {
    ActivationCache forward, backward;
  };
  std::unique_ptr<Caches> caches_;
};

}  // namespace headlab
