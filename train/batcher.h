// Batches of (tokens, targets) drawn from a data source, reproducibly: the draw sequence is fixed
// by the seed, and state() / restore() capture the exact point in it, so a resumed run sees the
// same batches an uninterrupted one would.
//
// Sources:
//  - stream dataset: windows of n_ctx + 1 tokens at seeded uniform random offsets (windows may
//    cross document boundaries); tokens = the first n_ctx, targets = the last n_ctx.
//  - sequences dataset: the rows in a seeded shuffled order, a new order each epoch; T = seq_len - 1,
//    tokens[t] = row[t], targets[t] = row[t + 1], or -1 where loss_mask[t + 1] = 0: the mask of a
//    position says whether predicting THAT token (made at the position before it) counts.
//  - builtin:repeat: each batch is B fresh sequences seeded by (seed, batch index), no file:
//    [BOS, noise, r_1..r_n, r_1..r_n] with n uniform in [min_half_len, half_len] per row and
//    2 (half_len - n) noise tokens, so T = 2 * half_len always. The r part is make_repeat_dataset's.
//    With min_half_len = half_len (the default) it is exactly make_repeat_dataset's (BOS, r_1..r_n,
//    r_1..r_n) — which a model can also solve by attending a fixed distance back from learned
//    positions, without an induction circuit; a range of n takes that shortcut away.
//  - builtin:induction: each batch is B fresh rows of make_induction_dataset (data/induction_task.h)
//    seeded by (seed, batch index): random tokens in which spans recur at random distances, so only
//    an induction circuit predicts them. T = seq_len - 1; every target counts.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "data/induction_task.h"
#include "data/token_dataset.h"
#include "train/options.h"

namespace headlab {

struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> tokens;   // [B, T]
  std::vector<int32_t> targets;  // [B, T], -1 = not counted
  int64_t n_targets = 0;         // targets >= 0
};

// What a checkpoint stores (TrainState::rng_state, ::data_position). position[0] tags the source
// kind so a state cannot be restored into another kind of source.
struct BatcherState {
  std::vector<uint64_t> rng;
  std::vector<uint64_t> position;
};

class Batcher {
 public:
  virtual ~Batcher() = default;
  virtual const Batch& next() = 0;  // valid until the next call
  virtual int seq_len() const = 0;  // T of every batch
  virtual BatcherState state() const = 0;
  // InputError(what, ...) when the state belongs to another source (kind, size or length differ).
  virtual void restore(const BatcherState& s, const std::string& what) = 0;
};

// Where a dataset batcher reads a dataset's tokens and loss mask: memory (a TokenDataset) or the file
// itself, piece by piece (TokenFileReader). Both give the batcher the same values, so the batches
// are the same bit for bit.
class TokenAccess {
 public:
  virtual ~TokenAccess() = default;
  virtual DatasetKind kind() const = 0;
  virtual int64_t n_seq() const = 0;
  virtual int64_t seq_len() const = 0;  // a stream: its length
  virtual bool has_loss_mask() const = 0;
  // n values from flat position `first` (within one row for sequences).
  virtual void tokens(int64_t first, int64_t n, int32_t* out) = 0;
  virtual void loss_mask(int64_t first, int64_t n, uint8_t* out) = 0;
};
std::shared_ptr<TokenAccess> memory_token_access(std::shared_ptr<const TokenDataset> ds);
class TokenFileReader;
std::shared_ptr<TokenAccess> file_token_access(std::shared_ptr<const TokenFileReader> reader);

// `ds` must already be checked against the model (ids < d_vocab, length fits n_ctx).
std::unique_ptr<Batcher> make_dataset_batcher(std::shared_ptr<const TokenDataset> ds, int batch_size, int n_ctx,
                                              uint64_t seed);
std::unique_ptr<Batcher> make_dataset_batcher(std::shared_ptr<TokenAccess> access, int batch_size, int n_ctx,
                                              uint64_t seed);
// Read-ahead: a thread draws the next `depth` batches of `inner` while the caller trains on the
// current one. The same batches in the same order, and state() / restore() as inner's at the
// batch the caller last took.
std::unique_ptr<Batcher> make_prefetching_batcher(std::unique_ptr<Batcher> inner, int depth = 2);
// 1 <= min_half_len <= half_len.
std::unique_ptr<Batcher> make_repeat_batcher(int batch_size, int64_t half_len, int64_t min_half_len, int d_vocab,
                                             uint64_t seed);

// spec.seq_len >= 2, the rest as make_induction_dataset checks.
std::unique_ptr<Batcher> make_induction_batcher(int batch_size, const InductionTaskSpec& spec, int d_vocab,
                                                uint64_t seed);
// The batcher of built-in source `name` (builtin:repeat or builtin:induction, with its settings from
// `o`); InternalError for another name (the caller checks is_builtin_data).
std::unique_ptr<Batcher> make_builtin_batcher(const TrainOptions& o, const std::string& name, int batch_size,
                                              int d_vocab, uint64_t seed);

// SplitMix64: a whole random stream in one 64-bit word of state, so saving it is trivial.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t next();
  uint64_t below(uint64_t bound);  // uniform in [0, bound) by rejection; bound > 0
  uint64_t state() const { return state_; }

 private:
  uint64_t state_;
};

// An independent seed for stream `stream` of `seed` (data order, validation, batch k of a task).
uint64_t mix_seed(uint64_t seed, uint64_t stream);

}  // namespace headlab
