// A 2-layer attention-only model trained by the circuits tests until it forms an induction circuit
// (a previous-token head in layer 0, induction heads in layer 1): about 800 AdamW steps on one
// thread, a few seconds.
//
// Training rows: BOS, then a random segment of n tokens repeated until the row is n_ctx long, with
// n varying from batch to batch (every length in [4, 12], in turn). No position-based head can
// predict the repeats: only content — a previous-token head feeding an induction head — can. (With
// one fixed repeat length, a layer-0 head attending n - 1 back solves the task and no induction
// circuit forms; with (BOS, r, r) rows of varying n, some seeds find a positional shortcut.) 64
// tokens keep repeats inside a segment rare.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "data/repeat_task.h"
#include "model/backend.h"
#include "model/transformer.h"

namespace headlab::testing {

constexpr int kToyMinPeriod = 4, kToyMaxPeriod = 12, kToyVocab = 64, kToyContext = 24;

inline ModelConfig toy_induction_config() {
  ModelConfig c;
  c.n_layers = 2;
  c.n_heads = 4;
  c.d_model = 64;
  c.d_head = 16;
  c.d_vocab = kToyVocab;
  c.n_ctx = kToyContext;
  c.attn_only = true;
  c.normalization_type = Normalization::none;
  c.validate();
  return c;
}

// Called after each update with the step (1-based), the step's loss and the model.
using ToyStepFn = std::function<void(int step, float loss, Transformer& model)>;

// AdamW over the whole arena with the backend's kernel (lr 1e-2, then 2e-3 for the last 40% of the
// steps), from init_gpt2(seed). One thread: the result does not depend on the machine's core count,
// and a busy second core does not stall it. `before` runs on the initial model (step 0).
inline std::vector<float> train_toy_induction_model(const ModelConfig& cfg, int steps, uint64_t seed, float* last_loss,
                                                    const ToyStepFn& after_step = nullptr,
                                                    const std::function<void(Transformer&)>& before = nullptr) {
  auto be = make_cpu_backend(1);
  Transformer model(cfg, *be);
  model.init_gpt2(seed);
  if (before) before(model);
  const int64_t n = model.table().arena_size();
  float* m = static_cast<float*>(be->alloc_bytes(size_t(n) * sizeof(float)));
  float* v = static_cast<float*>(be->alloc_bytes(size_t(n) * sizeof(float)));
  const int B = 32, T = cfg.n_ctx;
  std::vector<int32_t> input(size_t(B * T)), target(size_t(B * T));  // [B, T]
  float loss = 0;
  for (int step = 1; step <= steps; ++step) {
    const int64_t period = kToyMinPeriod + (step * 5) % (kToyMaxPeriod - kToyMinPeriod + 1);
    // make_repeat_dataset's rows start BOS, r_1..r_n: repeat that segment to T + 1 tokens.
    const TokenDataset ds = make_repeat_dataset(B, period, cfg.d_vocab, uint64_t(step), 0);
    for (int b = 0; b < B; ++b) {
      const int32_t* row = ds.tokens.data() + b * ds.seq_len;
      auto at = [&](int t) { return t == 0 ? row[0] : row[1 + (t - 1) % period]; };
      for (int t = 0; t < T; ++t) {
        input[size_t(b * T + t)] = at(t);
        target[size_t(b * T + t)] = at(t + 1);
      }
    }
    model.zero_grads();
    loss = model.forward_loss(input.data(), target.data(), B, T);
    model.backward();
    const float lr = step < steps * 6 / 10 ? 1e-2f : 2e-3f;
    be->adamw_update(model.params(), model.grads(), m, v, n, lr, 0.9f, 0.99f, 1e-8f, 0.0f, step, 1.0f);
    if (after_step) after_step(step, loss, model);
  }
  be->free_bytes(m);
  be->free_bytes(v);
  if (last_loss) *last_loss = loss;
  return model.params_to_host();
}

}  // namespace headlab::testing
