// Helpers shared by the train tests: a temporary directory, a tiny model and run, datasets on disk.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "data/token_dataset.h"
#include "train/options.h"

namespace headlab::testing {

// A fresh directory under the test temp dir, removed when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::string pattern = ::testing::TempDir() + "headlab_train_" + tag + "_XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

// A small GPT-2 style model (MLP, LN): every kind of parameter, fast.
inline ModelRequest tiny_model(int n_ctx, int d_vocab, bool attn_only = false) {
  ModelRequest r;
  ModelConfig& c = r.config;
  c.n_layers = 2;
  c.d_model = 16;
  c.n_heads = 2;
  c.d_head = 8;
  c.d_mlp = 32;
  c.n_ctx = n_ctx;
  c.d_vocab = d_vocab;
  c.attn_only = attn_only;
  r.any_given = r.n_ctx_given = r.d_vocab_given = true;
  return r;
}

// builtin:repeat (half length 4, 16 tokens), the tiny model, a few steps that exercise warmup,
// cosine decay, clipping, weight decay and gradient accumulation.
inline TrainOptions tiny_run(const std::string& out) {
  TrainOptions o;
  o.data = kBuiltinRepeat;
  o.repeat_half_len = 4;
  o.model = tiny_model(8, 16);
  o.out = out;
  o.steps = 12;
  o.batch_size = 4;
  o.grad_accum = 2;
  o.lr = 3e-3f;
  o.warmup = 3;
  o.schedule = LrShape::cosine;
  o.min_lr = 1e-4f;
  o.grad_clip = 0.5f;
  o.weight_decay = 0.1f;
  o.seed = 1234;
  o.threads = 1;  // tests run side by side under ctest: one thread each avoids OpenMP barrier waits
  o.log_every = 1;
  o.eval_every = 4;
  o.eval_batches = 2;
  return o;
}

// A stream dataset of n random tokens below d_vocab, written to path.
inline void write_random_stream(const std::string& path, int64_t n, int d_vocab, uint64_t seed) {
  TokenDataset ds;
  ds.kind = DatasetKind::stream;
  ds.d_vocab = d_vocab;
  ds.n_seq = 1;
  ds.seq_len = n;
  ds.doc_offsets = {0};
  uint64_t x = seed;
  for (int64_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    ds.tokens.push_back(int32_t((x >> 33) % uint64_t(d_vocab)));
  }
  write_token_dataset(path, ds);
}

// A sequences dataset [n_seq, seq_len] of random tokens, loss mask 0 on every third position.
inline void write_random_sequences(const std::string& path, int64_t n_seq, int64_t seq_len, int d_vocab,
                                   uint64_t seed) {
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = d_vocab;
  ds.n_seq = n_seq;
  ds.seq_len = seq_len;
  uint64_t x = seed;
  for (int64_t i = 0; i < n_seq * seq_len; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    ds.tokens.push_back(int32_t((x >> 33) % uint64_t(d_vocab)));
    ds.loss_mask.push_back(i % 3 == 0 ? 0 : 1);
  }
  write_token_dataset(path, ds);
}

}  // namespace headlab::testing
