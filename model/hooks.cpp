#include "model/hooks.h"

#include <cstring>

#include "core/errors.h"
#include "model/backend.h"

namespace headlab {
namespace {

struct SiteName {
  HookSite site;
  const char* suffix;  // after "blocks.{l}." for block sites, the whole name for global ones
};

constexpr SiteName kSiteNames[] = {
    {HookSite::embed, "hook_embed"},
    {HookSite::pos_embed, "hook_pos_embed"},
    {HookSite::resid_pre, "hook_resid_pre"},
    {HookSite::ln1_scale, "ln1.hook_scale"},
    {HookSite::ln1_normalized, "ln1.hook_normalized"},
    {HookSite::q_input, "hook_q_input"},
    {HookSite::k_input, "hook_k_input"},
    {HookSite::v_input, "hook_v_input"},
    {HookSite::attn_q, "attn.hook_q"},
    {HookSite::attn_k, "attn.hook_k"},
    {HookSite::attn_v, "attn.hook_v"},
    {HookSite::attn_scores, "attn.hook_attn_scores"},
    {HookSite::attn_pattern, "attn.hook_pattern"},
    {HookSite::attn_z, "attn.hook_z"},
    {HookSite::attn_result, "attn.hook_result"},
    {HookSite::attn_out, "hook_attn_out"},
    {HookSite::resid_mid, "hook_resid_mid"},
    {HookSite::mlp_in, "hook_mlp_in"},
    {HookSite::ln2_scale, "ln2.hook_scale"},
    {HookSite::ln2_normalized, "ln2.hook_normalized"},
    {HookSite::mlp_pre, "mlp.hook_pre"},
    {HookSite::mlp_post, "mlp.hook_post"},
    {HookSite::mlp_out, "hook_mlp_out"},
    {HookSite::resid_post, "hook_resid_post"},
    {HookSite::lnf_scale, "ln_final.hook_scale"},
    {HookSite::lnf_normalized, "ln_final.hook_normalized"},
};
static_assert(sizeof(kSiteNames) / sizeof(kSiteNames[0]) == kNumHookSites, "every site has a name");

bool is_global(HookSite s) {
  return s == HookSite::embed || s == HookSite::pos_embed || s == HookSite::lnf_scale || s == HookSite::lnf_normalized;
}

// Whether this model has the point at all (pos_embed only with standard positions, norms only
// with a normalisation, MLP points only with MLPs).
bool site_exists(HookSite s, const ModelConfig& c) {
  const bool norm = c.normalization_type != Normalization::none;
  switch (s) {
    case HookSite::pos_embed:
      return c.positional_embedding_type == PositionalEmbedding::standard;
    case HookSite::ln1_scale:
    case HookSite::ln1_normalized:
    case HookSite::lnf_scale:
    case HookSite::lnf_normalized:
      return norm;
    case HookSite::ln2_scale:
    case HookSite::ln2_normalized:
      return norm && !c.attn_only;
    case HookSite::resid_mid:
    case HookSite::mlp_in:
    case HookSite::mlp_pre:
    case HookSite::mlp_post:
    case HookSite::mlp_out:
      return !c.attn_only;
    default:
      return true;
  }
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

int64_t HostTensor::numel() const { return product(shape); }
int64_t ActivationView::numel() const { return product(shape); }

std::string hook_name(HookPoint p) {
  const char* suffix = kSiteNames[int(p.site)].suffix;
  if (is_global(p.site)) return suffix;
  return "blocks." + std::to_string(p.layer) + "." + suffix;
}

HookPoint parse_hook_name(const std::string& name, const ModelConfig& cfg) {
  auto fail = [&](const std::string& why) -> HookPoint { throw InputError("hook '" + name + "'", why); };
  std::string rest = name;
  int layer = -1;
  if (name.rfind("blocks.", 0) == 0) {
    size_t dot = name.find('.', 7);
    if (dot == std::string::npos || dot == 7) return fail("expected blocks.<layer>.<hook>");
    const std::string digits = name.substr(7, dot - 7);
    for (char ch : digits)
      if (ch < '0' || ch > '9') return fail("expected a layer number after 'blocks.'");
    if (digits.size() > 6) return fail("layer number out of range");
    layer = std::stoi(digits);
    if (layer >= cfg.n_layers) return fail("the model has layers 0.." + std::to_string(cfg.n_layers - 1));
    rest = name.substr(dot + 1);
  }
  for (const auto& sn : kSiteNames) {
    if (rest != sn.suffix) continue;
    if (is_global(sn.site) != (layer < 0)) continue;
    if (!site_exists(sn.site, cfg))
      return fail("this model has no such hook point (check attn_only, normalization_type, positional_embedding_type)");
    return {layer, sn.site};
  }
  return fail("not a TransformerLens hook name this model has (e.g. blocks.0.attn.hook_pattern)");
}

std::vector<HookPoint> all_hook_points(const ModelConfig& cfg) {
  std::vector<HookPoint> out;
  auto add = [&](int layer, HookSite s) {
    if (site_exists(s, cfg)) out.push_back({layer, s});
  };
  add(-1, HookSite::embed);
  add(-1, HookSite::pos_embed);
  for (int l = 0; l < cfg.n_layers; ++l)
    for (int s = int(HookSite::resid_pre); s <= int(HookSite::resid_post); ++s) add(l, HookSite(s));
  add(-1, HookSite::lnf_scale);
  add(-1, HookSite::lnf_normalized);
  return out;
}

std::vector<int64_t> hook_shape(HookPoint p, const ModelConfig& c, int64_t B, int64_t T) {
  const int64_t D = c.d_model, H = c.n_heads, dh = c.d_head, M = c.d_mlp;
  switch (p.site) {
    case HookSite::ln1_scale:
    case HookSite::ln2_scale:
    case HookSite::lnf_scale:
      return {B, T, 1};
    case HookSite::q_input:
    case HookSite::k_input:
    case HookSite::v_input:
    case HookSite::attn_result:
      return {B, T, H, D};
    case HookSite::attn_q:
    case HookSite::attn_k:
    case HookSite::attn_v:
    case HookSite::attn_z:
      return {B, T, H, dh};
    case HookSite::attn_scores:
    case HookSite::attn_pattern:
      return {B, H, T, T};
    case HookSite::mlp_pre:
    case HookSite::mlp_post:
      return {B, T, M};
    default:
      return {B, T, D};
  }
}

// ---- HookSet ----------------------------------------------------------------------------------

namespace {
HostTensor to_host(const ActivationView& v, Backend& be) {
  HostTensor t;
  t.shape = v.shape;
  t.data.resize(size_t(v.numel()));
  be.copy_to_host(t.data.data(), v.data, t.data.size() * sizeof(float));
  return t;
}
}  // namespace

const HostTensor& ActivationCache::at(HookPoint p) const { return *shared(p); }

const HostTensor& ActivationCache::at(const std::string& name) const {
  for (const auto& [p, t] : entries_)
    if (hook_name(p) == name) return *t;
  throw InputError("hook '" + name + "'", "was not cached in this run");
}

std::shared_ptr<const HostTensor> ActivationCache::shared(HookPoint p) const {
  auto it = entries_.find(p);
  if (it == entries_.end()) throw InputError("hook '" + hook_name(p) + "'", "was not cached in this run");
  return it->second;
}

std::shared_ptr<const HostTensor> ActivationCache::take(HookPoint p) {
  auto it = entries_.find(p);
  if (it == entries_.end()) throw InputError("hook '" + hook_name(p) + "'", "was not cached in this run");
  std::shared_ptr<const HostTensor> t = std::move(it->second);
  entries_.erase(it);
  return t;
}

void ActivationCache::insert(HookPoint p, HostTensor t) {
  entries_[p] = std::make_shared<const HostTensor>(std::move(t));
}

HookSet::HookSet() : caches_(std::make_unique<Caches>()) {}
HookSet::~HookSet() = default;
HookSet::HookSet(HookSet&&) noexcept = default;
HookSet& HookSet::operator=(HookSet&&) noexcept = default;

void HookSet::set_bit(std::vector<uint32_t>& bits, HookPoint p) {
  size_t i = size_t(p.layer + 1);
  if (bits.size() <= i) bits.resize(i + 1, 0u);
  bits[i] |= 1u << int(p.site);
}

void HookSet::add_forward(HookPoint p, HookFn fn) {
  set_bit(forward_bits_, p);
  forward_[p].push_back(std::move(fn));
}
void HookSet::add_backward(HookPoint p, HookFn fn) {
  set_bit(backward_bits_, p);
  backward_[p].push_back(std::move(fn));
}

void HookSet::cache(HookPoint p) {
  ActivationCache* to = &caches_->forward;
  add_forward(p, [to](HookPoint q, ActivationView& v, Backend& be) { to->insert(q, to_host(v, be)); });
}

void HookSet::cache_gradient(HookPoint p) {
  ActivationCache* to = &caches_->backward;
  add_backward(p, [to](HookPoint q, ActivationView& v, Backend& be) { to->insert(q, to_host(v, be)); });
}

void HookSet::run_forward(HookPoint p, ActivationView& v, Backend& be) {
  auto it = forward_.find(p);
  if (it == forward_.end()) return;
  for (auto& fn : it->second) fn(p, v, be);
}

void HookSet::add_gradient_into(HookPoint p, float* rows) {
  if (sinks_.count(p)) throw InternalError("two gradient sinks at " + hook_name(p));
  set_bit(backward_bits_, p);
  sinks_[p] = rows;
}

float* HookSet::gradient_sink(HookPoint p) const {
  auto it = sinks_.find(p);
  return it == sinks_.end() ? nullptr : it->second;
}

bool HookSet::only_gradient_sink(HookPoint p) const { return sinks_.count(p) && !backward_.count(p); }

void HookSet::run_backward(HookPoint p, ActivationView& v, Backend& be) {
  auto it = backward_.find(p);
  if (it != backward_.end())
    for (auto& fn : it->second) fn(p, v, be);
  float* rows = gradient_sink(p);
  if (!rows) return;
  if (v.shape.size() != 4) {
    be.add_inplace(rows, v.data, v.numel());
    return;
  }
  // [B, T, H, X] into head-major rows, one (b, t) slice at a time.
  const int64_t BT = v.shape[0] * v.shape[1], H = v.shape[2], X = v.shape[3];
  for (int64_t h = 0; h < H; ++h)
    for (int64_t bt = 0; bt < BT; ++bt) be.add_inplace(rows + (h * BT + bt) * X, v.data + (bt * H + h) * X, X);
}

}  // namespace headlab
