// The optimizer: AdamW (PyTorch's, decoupled weight decay) or plain SGD over the parameter arena,
// with its state (m, v) arena-sized in the backend's memory. Weight decay applies only to
// ParamKind::matrix segments of the ParamTable; biases, norms and embeddings never decay.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/backend.h"
#include "model/params.h"
#include "train/options.h"

namespace headlab {

struct OptimizerSettings {
  OptimizerKind kind = OptimizerKind::adamw;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.01f;
  static OptimizerSettings from(const TrainOptions& o) {
    return {o.optimizer, o.beta1, o.beta2, o.eps, o.weight_decay};
  }
};

class Optimizer {
 public:
  Optimizer(const OptimizerSettings& settings, const ParamTable& table, Backend& backend);
  ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter. `step` is 1-based (AdamW's bias correction); the gradient is
  // multiplied by `grad_scale` first (clipping). params, grads: [arena_size], backend memory.
  void update(float* params, const float* grads, int64_t step, float lr, float grad_scale);

  std::string name() const { return to_string(settings_.kind); }  // "adamw" | "sgd"
  // m and v on the host ([arena_size] each; empty for SGD, which keeps no state).
  std::vector<float> m_to_host() const;
  std::vector<float> v_to_host() const;
  // InputError(what, ...) unless both are arena-sized (or both empty for SGD).
  void state_from_host(const std::vector<float>& m, const std::vector<float>& v, const std::string& what);

 private:
  // Consecutive storage segments that share a weight decay, merged: one kernel call each.
  struct Run {
    int64_t offset, size;
    bool decays;
  };
  OptimizerSettings settings_;
  Backend& be_;
  int64_t n_;
  std::vector<Run> runs_;
  float* m_ = nullptr;  // [arena_size]
  float* v_ = nullptr;  // [arena_size]
};

// sqrt(Σ g²) over the whole arena (accumulated in double by the backend).
double global_grad_norm(Backend& backend, const float* grads, int64_t n);
// PyTorch's clip_grad_norm_ factor: min(1, max_norm / (norm + 1e-6)); 1 when max_norm is 0 (off).
float clip_factor(double norm, float max_norm);

}  // namespace headlab
