#include "model/transformer.h"

#include <cmath>
#include <cstring>
#include <random>

#include "core/errors.h"
#include "model/transformer_activations.h"

namespace headlab {

namespace {
// Box–Muller on a fixed 64-bit generator: the same numbers on every platform and library.
class NormalSampler {
 public:
  explicit NormalSampler(uint64_t seed) : rng_(seed) {}
  float next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = (double(rng_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    double u2 = double(rng_() >> 11) * 0x1.0p-53;          // [0, 1)
    double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = float(r * std::sin(2.0 * M_PI * u2));
    has_spare_ = true;
    return float(r * std::cos(2.0 * M_PI * u2));
  }

 private:
  std::mt19937_64 rng_;
  bool has_spare_ = false;
  float spare_ = 0;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

Transformer::Transformer(const ModelConfig& cfg, Backend& backend) : cfg_(cfg), table_(cfg), be_(backend) {
  cfg_.validate();
  const size_t bytes = size_t(table_.arena_size()) * sizeof(float);
  params_ = static_cast<float*>(be_.alloc_bytes(bytes));
  grads_ = static_cast<float*>(be_.alloc_bytes(bytes));
}

Transformer::~Transformer() {
  acts_.reset();
  be_.free_bytes(params_);
  be_.free_bytes(grads_);
}

void Transformer::init_gpt2(uint64_t seed) {
  std::vector<float> host(size_t(table_.arena_size()), 0.0f);
  NormalSampler normal(seed);
  const float out_scale = 1.0f / std::sqrt(2.0f * float(cfg_.n_layers));
  for (const StorageInfo& s : table_.storage()) {
    float* p = host.data() + s.offset;
    switch (s.kind) {
      case ParamKind::bias:
        break;  // zeros
      case ParamKind::norm:
        // weights 1, biases 0 (the storage name tells which)
        if (ends_with(s.name, ".w"))
          for (int64_t i = 0; i < s.size; ++i) p[i] = 1.0f;
        break;
      case ParamKind::matrix:
      case ParamKind::embedding: {
        const bool output_projection = ends_with(s.name, "attn.W_O") || ends_with(s.name, "mlp.W_out");
        const float stddev = 0.02f * (output_projection ? out_scale : 1.0f);
        for (int64_t i = 0; i < s.size; ++i) p[i] = stddev * normal.next();
        break;
      }
    }
  }
  params_from_host(host);
}

std::vector<float> Transformer::params_to_host() const {
  std::vector<float> host(size_t(table_.arena_size()));
  be_.copy_to_host(host.data(), params_, host.size() * sizeof(float));
  return host;
}

void Transformer::params_from_host(const std::vector<float>& host) {
  if (int64_t(host.size()) != table_.arena_size())
    throw InternalError("params_from_host: expected " + std::to_string(table_.arena_size()) + " floats, got " +
                        std::to_string(host.size()));
  be_.copy_from_host(params_, host.data(), host.size() * sizeof(float));
}

std::vector<float> Transformer::grads_to_host() const {
  std::vector<float> host(size_t(table_.arena_size()));
  be_.copy_to_host(host.data(), grads_, host.size() * sizeof(float));
  return host;
}

void Transformer::zero_grads() { be_.fill_zero(grads_, size_t(table_.arena_size()) * sizeof(float)); }

const float* Transformer::logits() const { return acts_ ? acts_->logits : nullptr; }

std::vector<float> Transformer::logits_to_host() const {
  if (!acts_) throw InternalError("logits_to_host before any forward");
  std::vector<float> host(size_t(B_) * T_ * cfg_.d_vocab);
  be_.copy_to_host(host.data(), acts_->logits, host.size() * sizeof(float));
  return host;
}

std::vector<float> Transformer::losses_to_host() const {
  if (!acts_) throw InternalError("losses_to_host before any forward");
  std::vector<float> host(size_t(B_) * T_);
  be_.copy_to_host(host.data(), acts_->losses, host.size() * sizeof(float));
  return host;
}

ActivationCache run_with_cache(Transformer& model, const int32_t* tokens, int B, int T,
                               const std::vector<HookPoint>& points) {
  HookSet hooks;
  for (HookPoint p : points) hooks.cache(p);
  model.forward(tokens, B, T, &hooks);
  return hooks.take_cached();
}

void Transformer::ensure_activations(int B, int T) {
  if (acts_ && acts_->B == B && acts_->T == T) return;
  acts_.reset();  // the old buffers go before the new ones are allocated
  acts_ = std::make_unique<Activations>(be_);
  Activations& A = *acts_;
  A.B = B;
  A.T = T;
  const int64_t BT = int64_t(B) * T, D = cfg_.d_model, H = cfg_.n_heads, dh = cfg_.d_head, M = cfg_.d_mlp,
                V = cfg_.d_vocab, L = cfg_.n_layers;
  const bool norm = cfg_.normalization_type != Normalization::none;
  A.tokens = A.i32(BT);
  A.targets = A.i32(BT);
  for (int64_t l = 0; l <= L; ++l) A.resid.push_back(A.f(BT * D));
  A.blocks.resize(size_t(L));
  for (auto& b : A.blocks) {
    if (norm) {
      b.ln1_out = A.f(BT * D);
      b.ln1_mean = A.f(BT);
      b.ln1_rstd = A.f(BT);
    }
    b.qkv = A.f(BT * 3 * H * dh);
    b.pattern = A.f(int64_t(B) * H * T * T);
    b.z = A.f(BT * H * dh);
    if (!cfg_.attn_only) {
      b.resid_mid = A.f(BT * D);
      if (norm) {
        b.ln2_out = A.f(BT * D);
        b.ln2_mean = A.f(BT);
        b.ln2_rstd = A.f(BT);
      }
      b.mlp_pre = A.f(BT * M);
      b.mlp_post = A.f(BT * M);
    }
  }
  if (norm) {
    A.lnf_out = A.f(BT * D);
    A.lnf_mean = A.f(BT);
    A.lnf_rstd = A.f(BT);
  }
  A.logits = A.f(BT * V);
  A.lse = A.f(BT);
  A.losses = A.f(BT);
  A.dloss = A.f(BT);
  const int64_t n_ones = std::max(BT, D);
  A.ones = A.f(n_ones);
  std::vector<float> ones(size_t(n_ones), 1.0f);
  be_.copy_from_host(A.ones, ones.data(), ones.size() * sizeof(float));
  A.out_D = A.f(BT * D);
  A.dresid = A.f(BT * D);
  A.dtmp = A.f(BT * D);
  A.dnorm = A.f(BT * D);
  A.dqkv = A.f(BT * 3 * H * dh);
  A.dpattern = A.f(int64_t(B) * H * T * T);
  A.dz = A.f(BT * H * dh);
  if (!cfg_.attn_only) {
    A.dmlp_a = A.f(BT * M);
    A.dmlp_b = A.f(BT * M);
  }
}

}  // namespace headlab
