#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace headlab {

Optimizer::Optimizer(const OptimizerSettings& settings, const ParamTable& table, Backend& backend)
    : settings_(settings), be_(backend), n_(table.arena_size()) {
  for (const StorageInfo& s : table.storage()) {
    const bool decays = s.kind == ParamKind::matrix;
    if (!runs_.empty() && runs_.back().decays == decays && runs_.back().offset + runs_.back().size == s.offset)
      runs_.back().size += s.size;
    else
      runs_.push_back({s.offset, s.size, decays});
  }
  if (settings_.kind == OptimizerKind::adamw) {
    m_ = static_cast<float*>(be_.alloc_bytes(size_t(n_) * sizeof(float)));
    v_ = static_cast<float*>(be_.alloc_bytes(size_t(n_) * sizeof(float)));
  }
}

Optimizer::~Optimizer() {
  if (m_) be_.free_bytes(m_);
  if (v_) be_.free_bytes(v_);
}

void Optimizer::update(float* params, const float* grads, int64_t step, float lr, float grad_scale) {
  const OptimizerSettings& s = settings_;
  for (const Run& r : runs_) {
    const float wd = r.decays ? s.weight_decay : 0.0f;
    if (s.kind == OptimizerKind::adamw)
      be_.adamw_update(params + r.offset, grads + r.offset, m_ + r.offset, v_ + r.offset, r.size, lr, s.beta1, s.beta2,
                       s.eps, wd, step, grad_scale);
    else
      be_.sgd_update(params + r.offset, grads + r.offset, r.size, lr, wd, grad_scale);
  }
}

std::vector<float> Optimizer::m_to_host() const {
  std::vector<float> host;
  if (!m_) return host;
  host.resize(size_t(n_));
  be_.copy_to_host(host.data(), m_, host.size() * sizeof(float));
  return host;
}

std::vector<float> Optimizer::v_to_host() const {
  std::vector<float> host;
  if (!v_) return host;
  host.resize(size_t(n_));
  be_.copy_to_host(host.data(), v_, host.size() * sizeof(float));
  return host;
}

void Optimizer::state_from_host(const std::vector<float>& m, const std::vector<float>& v, const std::string& what) {
  if (!m_) {
    if (!m.empty() || !v.empty()) throw InputError(what, "has optimizer moments, but sgd keeps none");
    return;
  }
  if (int64_t(m.size()) != n_ || int64_t(v.size()) != n_)
    throw InputError(what, "expected adamw moments m and v of " + std::to_string(n_) + " floats each, got " +
                               std::to_string(m.size()) + " and " + std::to_string(v.size()));
  be_.copy_from_host(m_, m.data(), m.size() * sizeof(float));
  be_.copy_from_host(v_, v.data(), v.size() * sizeof(float));
}

double global_grad_norm(Backend& backend, const float* grads, int64_t n) {
  return std::sqrt(backend.sum_squares(grads, n));
}

float clip_factor(double norm, float max_norm) {
  if (max_norm <= 0) return 1.0f;
  return float(std::min(1.0, double(max_norm) / (norm + 1e-6)));
}

}  // namespace headlab
