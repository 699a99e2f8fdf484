// The transformer: parameters in one arena, a hand-written forward that keeps what backward
// needs, and a hand-written backward, layer by layer (llm.c style), on any Backend.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/backend.h"
#include "model/config.h"
#include "model/hooks.h"
#include "model/params.h"

namespace headlab {

// The parameter gradients backward finishes one part of the arena at a time: once it has passed a
// part, nothing later in that backward adds to it, so a data-parallel trainer may start summing it
// over the ranks while the rest of the backward runs. Stage 0 is the unembedding (ln_final, W_U,
// b_U), stages 1..n_layers the blocks from the last to the first, stage n_layers + 1 the embeddings
// (W_E, W_pos: last, because a tied W_U adds into W_E). Each stage is one contiguous range, each
// one right below the one before, so consecutive stages merge into one range.
struct ArenaRange {
  int64_t offset = 0, size = 0;
};
std::vector<ArenaRange> backward_stages(const ParamTable& table);
// Called by backward with a stage's number once its gradients are final. The backend has been
// given every kernel that writes them; an asynchronous one (CUDA) may still be running them.
using GradientsFinal = std::function<void(int stage)>;

class Transformer {
 public:
  Transformer(const ModelConfig& cfg, Backend& backend);
  ~Transformer();
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  const ModelConfig& config() const { return cfg_; }
  const ParamTable& table() const { return table_; }
  Backend& backend() { return be_; }

  // GPT-2 initialisation: every matrix and embedding ~ N(0, 0.02), output projections (W_O,
  // W_out) scaled by 1/sqrt(2 n_layers), biases 0, norm weights 1. Deterministic in seed.
  void init_gpt2(uint64_t seed);

  // Parameters and gradients: arena-sized arrays in the backend's memory.
  float* params() { return params_; }
  float* grads() { return grads_; }
  std::vector<float> params_to_host() const;
  void params_from_host(const std::vector<float>& host);
  std::vector<float> grads_to_host() const;
  void zero_grads();

  // Forward on tokens [B, T] (host, int32, every id < d_vocab, T <= n_ctx; InputError otherwise).
  // Keeps the activations backward needs. Logits [B, T, d_vocab] stay in backend memory.
  void forward(const int32_t* tokens, int B, int T, HookSet* hooks = nullptr);
  // Re-runs only blocks `layer`.. and the unembedding, from blocks.{layer}.hook_resid_pre given as
  // resid_pre [B, T, d_model] (host) for the (B, T) of the last forward: what a sweep that patches
  // one layer many times needs, at the cost of the suffix alone. Hooks before `layer` do not run.
  // Earlier blocks' saved activations stay those of the last forward, so only
  // backward_from_logits may follow, and only when that forward had the same input.
  void forward_from_layer(int layer, const float* resid_pre, HookSet* hooks = nullptr);
  // forward, then the mean cross-entropy over targets >= 0 (targets [B, T] host; -1 = ignored).
  // Returns the mean loss (NaN when no target counts).
  float forward_loss(const int32_t* tokens, const int32_t* targets, int B, int T, HookSet* hooks = nullptr);
  // Per-position losses of the last forward_loss, [B, T] on the host (0 where ignored).
  std::vector<float> losses_to_host() const;
  // Backward of the last forward_loss: gradients ADD into grads(). `dlogits_scale` multiplies
  // the loss gradient (1 for the mean loss; 1/k for k accumulation steps). `on_final`, when set, is
  // told each stage of backward_stages() as its gradients become final.
  void backward(HookSet* hooks = nullptr, float dlogits_scale = 1.0f, const GradientsFinal& on_final = {});
  // Backward from a caller-given gradient of the logits [B, T, d_vocab] (backend memory) — for
  // metrics other than the loss (logit difference, KL ...). parameter_gradients = false forms only
  // the activations' gradients (what hooks see) and leaves grads() untouched: the weight products
  // and norm, bias and embedding sums are skipped (edge attribution needs none of them).
  void backward_from_logits(const float* dlogits, HookSet* hooks = nullptr, bool parameter_gradients = true);

  const float* logits() const;  // [B, T, d_vocab] of the last forward
  std::vector<float> logits_to_host() const;
  int batch() const { return B_; }
  int seq_len() const { return T_; }

  // Opaque outside the model's own .cpp files (defined in transformer_activations.h).
  struct Activations;

 private:
  void ensure_activations(int B, int T);
  void backward_impl(HookSet* hooks);

  ModelConfig cfg_;
  ParamTable table_;
  Backend& be_;
  float* params_ = nullptr;
  float* grads_ = nullptr;
  std::unique_ptr<Activations> acts_;
  int B_ = 0, T_ = 0;
  int64_t n_valid_targets_ = 0;
};

// TransformerLens' run_with_cache: a forward on tokens [B, T] that caches the given points (the
// logits stay in the model, as after any forward).
ActivationCache run_with_cache(Transformer& model, const int32_t* tokens, int B, int T,
                               const std::vector<HookPoint>& points);

}  // namespace headlab
