// Shared by the circuits tests: a small random model whose attention is far from uniform, and a
// small synthetic task with clean/corrupted pairs.
#pragma once
#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/temp_dir.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "circuits/task_data.h"
#include "data/token_dataset.h"
#include "model/backend.h"
#include "model/config.h"
#include "model/transformer.h"

namespace headlab::testing {

inline ModelConfig small_config() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 16;
  c.n_heads = 3;
  c.d_head = 4;
  c.d_mlp = 24;
  c.n_ctx = 12;
  c.d_vocab = 23;
  return c;
}

// GPT-2 initialisation with every weight scaled up, so attention patterns and logit differences
// are far from uniform and zero (at 0.02 they nearly are).
inline std::unique_ptr<Transformer> random_model(const ModelConfig& cfg, Backend& be, uint64_t seed,
                                                 float scale = 4.0f) {
  auto m = std::make_unique<Transformer>(cfg, be);
  m->init_gpt2(seed);
  std::vector<float> p = m->params_to_host();
  for (float& x : p) x *= scale;
  m->params_from_host(p);
  return m;
}

// n rows of T random tokens; the corrupted twin differs at positions 1 and 3; answers at T - 1
// unless answer_pos_early (then T - 2, so the last position follows every answer).
inline TokenDataset synthetic_task(int64_t n, int64_t T, int vocab, uint64_t seed, bool answer_pos_early = false,
                                   bool pairs = true) {
  std::mt19937_64 rng(seed);
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = vocab;
  ds.n_seq = n;
  ds.seq_len = T;
  ds.tokens.resize(size_t(n * T));
  for (auto& t : ds.tokens) t = int32_t(rng() % uint64_t(vocab));
  if (pairs) {
    ds.corrupted = ds.tokens;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t p : {int64_t(1), int64_t(3)}) {
        int32_t& t = ds.corrupted[size_t(r * T + p)];
        t = int32_t((t + 1 + rng() % uint64_t(vocab - 1)) % uint64_t(vocab));
      }
  }
  for (int64_t r = 0; r < n; ++r) {
    const int32_t a = int32_t(rng() % uint64_t(vocab));
    ds.answer.push_back(a);
    ds.wrong_answer.push_back(int32_t((a + 1 + rng() % uint64_t(vocab - 1)) % uint64_t(vocab)));
    ds.answer_pos.push_back(int32_t(answer_pos_early ? T - 2 : T - 1));
  }
  return ds;
}

inline TaskData task_of(const TokenDataset& ds, MetricKind metric = MetricKind::logit_diff) {
  return task_data_from(ds, "test task", metric, ds.has_pairs() ? PairsNeeded::yes : PairsNeeded::no);
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// A fresh directory per test, removed afterwards.

}  // namespace headlab::testing
