// Where an SAE's training rows come from: anything that hands out float32 rows of a fixed width in
// a deterministic order that can be resumed. Three sources: rows held in memory (tests, small
// sets), a model run live over a token dataset with the hook cached (no store on disk), and the
// activation store read in chunks.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/token_dataset.h"
#include "model/hooks.h"
#include "model/transformer.h"
#include "probes/activation_store.h"

namespace headlab {

class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual int64_t width() const = 0;
  // The next n rows, [n, width()] into `rows`.
  virtual void next(float* rows, int64_t n) = 0;
  // Enough to continue the same sequence of rows after restore().
  virtual std::vector<uint64_t> state() const = 0;
  // InputError naming `what` when the state does not belong to this source.
  virtual void restore(const std::vector<uint64_t>& state, const std::string& what) = 0;
  virtual std::string describe() const = 0;  // for logs
};

// Rows [n_rows, width] in memory, served in a seeded shuffled order, a new order each epoch.
class ArrayRows final : public RowSource {
 public:
  ArrayRows(std::vector<float> rows, int64_t width, uint64_t seed);
  int64_t width() const override { return width_; }
  int64_t rows() const { return n_rows_; }
  void next(float* rows, int64_t n) override;
  std::vector<uint64_t> state() const override { return {epoch_, cursor_}; }
  void restore(const std::vector<uint64_t>& state, const std::string& what) override;
  std::string describe() const override;

 private:
  void shuffle_for_epoch();
  std::vector<float> data_;
  int64_t width_, n_rows_;
  uint64_t seed_, epoch_ = 0, cursor_ = 0;
  std::vector<int64_t> order_;
};

// The model run live: sequences of `dataset` (rows of a sequences file, or consecutive windows of
// `seq_len` tokens of a stream) in a seeded shuffled order, `chunk_sequences` at a time through
// the model with the hook cached, each chunk's rows shuffled before they are served (a mixing
// buffer, as SAELens mixes its activations). hook_z rows are [n_heads · d_head], heads concatenated.
class ModelRows final : public RowSource {
 public:
  ModelRows(Transformer& model, const TokenDataset& dataset, HookPoint hook, int64_t seq_len, int64_t chunk_sequences,
            uint64_t seed);
  int64_t width() const override { return width_; }
  void next(float* rows, int64_t n) override;
  std::vector<uint64_t> state() const override { return {served_}; }
  void restore(const std::vector<uint64_t>& state, const std::string& what) override;
  std::string describe() const override;
  int64_t n_sequences() const { return n_seq_; }
  int64_t seq_len() const { return seq_len_; }
  // Tokens of sequence s (in dataset order), [seq_len].
  const int32_t* sequence(int64_t s) const;

 private:
  void load_chunk(uint64_t chunk);
  Transformer& model_;
  const TokenDataset& ds_;
  HookPoint hook_;
  int64_t seq_len_, chunk_seq_, n_seq_, width_;
  uint64_t seed_, served_ = 0, loaded_chunk_ = UINT64_MAX;
  std::vector<float> chunk_rows_;  // [chunk rows, width], shuffled
};

// One hook of an activation store, read in chunks of `chunk_tokens` consecutive tokens visited in a
// seeded shuffled order (a new order each epoch), each chunk's rows shuffled before they are served.
// The store's last n_tokens mod chunk_tokens tokens are not used (at most one chunk's worth).
// hook_z rows are [n_heads · d_head], the stored head axis flattened.
class StoreRows final : public RowSource {
 public:
  StoreRows(const ActivationStore& store, const std::string& hook, int64_t chunk_tokens, uint64_t seed);
  int64_t width() const override { return width_; }
  void next(float* rows, int64_t n) override;
  std::vector<uint64_t> state() const override { return {served_}; }
  void restore(const std::vector<uint64_t>& state, const std::string& what) override;
  std::string describe() const override;

 private:
  void load_chunk(uint64_t chunk);
  const ActivationStore& store_;
  std::string hook_;
  int64_t width_, chunk_, n_chunks_;
  uint64_t seed_, served_ = 0, loaded_chunk_ = UINT64_MAX;
  std::vector<float> rows_;
};

// Runs the model on tokens [B, T] and returns the hook's activation as rows [B·T, width]
// (hook_z: heads concatenated per position).
std::vector<float> hook_rows(Transformer& model, const int32_t* tokens, int B, int T, HookPoint hook);
// The width of a hook's rows: d_model, d_mlp, or n_heads · d_head for per-head hooks.
int64_t hook_row_width(HookPoint hook, const ModelConfig& cfg);

}  // namespace headlab
