#include "train/batcher.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>

#include "core/errors.h"
#include "data/repeat_task.h"
#include "data/token_file_reader.h"

namespace headlab {

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::below(uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t draw = next();
  while (draw >= limit) draw = next();
  return draw % bound;
}

uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  SplitMix64 a(seed), b(stream ^ 0x6a09e667f3bcc909ULL);
  return a.next() ^ (b.next() * 0x9e3779b97f4a7c15ULL);
}

namespace {

enum SourceTag : uint64_t { kStream = 1, kSequences = 2, kRepeat = 3, kInduction = 4 };

void expect_state(const BatcherState& s, SourceTag tag, size_t rng_words, size_t position_words,
                  const std::string& what) {
  static const char* names[] = {"", "a stream dataset", "a sequences dataset", "builtin:repeat", "builtin:induction"};
  if (s.position.empty() || s.position[0] < kStream || s.position[0] > kInduction)
    throw InputError(what, "the saved data position is not one headlab-train wrote");
  if (s.position[0] != tag)
    throw InputError(
        what, std::string("the run was saved reading ") + names[s.position[0]] + ", but the data now is " + names[tag]);
  if (s.rng.size() != rng_words || s.position.size() != position_words)
    throw InputError(what, "the saved data position or RNG state has the wrong length");
}

// Row r of a [n, len] array -> tokens and targets [T = len - 1] at row b of the batch.
void row_to_example(const int32_t* row, const uint8_t* mask, int64_t len, int b, Batch& out) {
  const int64_t T = len - 1;
  int32_t* tok = out.tokens.data() + b * T;
  int32_t* tgt = out.targets.data() + b * T;
  for (int64_t t = 0; t < T; ++t) {
    tok[t] = row[t];
    const bool counts = !mask || mask[t + 1] != 0;
    tgt[t] = counts ? row[t + 1] : -1;
    out.n_targets += counts;
  }
}

void reset(Batch& b, int B, int T) {
  b.B = B;
  b.T = T;
  b.tokens.assign(size_t(B) * T, 0);
  b.targets.assign(size_t(B) * T, -1);
  b.n_targets = 0;
}

class MemoryAccess : public TokenAccess {
 public:
  explicit MemoryAccess(std::shared_ptr<const TokenDataset> ds) : ds_(std::move(ds)) {}
  DatasetKind kind() const override { return ds_->kind; }
  int64_t n_seq() const override { return ds_->n_seq; }
  int64_t seq_len() const override { return ds_->seq_len; }
  bool has_loss_mask() const override { return !ds_->loss_mask.empty(); }
  void tokens(int64_t first, int64_t n, int32_t* out) override {
    std::copy(ds_->tokens.begin() + first, ds_->tokens.begin() + first + n, out);
  }
  void loss_mask(int64_t first, int64_t n, uint8_t* out) override {
    std::copy(ds_->loss_mask.begin() + first, ds_->loss_mask.begin() + first + n, out);
  }

 private:
  std::shared_ptr<const TokenDataset> ds_;
};

class FileAccess : public TokenAccess {
 public:
  explicit FileAccess(std::shared_ptr<const TokenFileReader> r) : r_(std::move(r)) {}
  DatasetKind kind() const override { return r_->header().kind; }
  int64_t n_seq() const override { return r_->header().n_seq; }
  int64_t seq_len() const override { return r_->header().seq_len; }
  bool has_loss_mask() const override { return r_->has_loss_mask(); }
  void tokens(int64_t first, int64_t n, int32_t* out) override { r_->read_tokens(first, n, out); }
  void loss_mask(int64_t first, int64_t n, uint8_t* out) override { r_->read_loss_mask(first, n, out); }

 private:
  std::shared_ptr<const TokenFileReader> r_;
};

// The producer thread runs inner->next() ahead of the caller, keeping up to `depth` finished batches
// with the state inner reports after each; the caller's state() is the one after its last batch.
class PrefetchingBatcher : public Batcher {
 public:
  PrefetchingBatcher(std::unique_ptr<Batcher> inner, int depth)
      : inner_(std::move(inner)), depth_(std::max(1, depth)), current_state_(inner_->state()) {
    start();
  }
  ~PrefetchingBatcher() override { stop(); }
  const Batch& next() override {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty() || error_; });
    if (queue_.empty()) std::rethrow_exception(error_);
    current_ = std::move(queue_.front().first);
    current_state_ = std::move(queue_.front().second);
    queue_.pop_front();
    space_.notify_one();
    return current_;
  }
  int seq_len() const override { return inner_->seq_len(); }
  BatcherState state() const override { return current_state_; }
  void restore(const BatcherState& s, const std::string& what) override {
    stop();
    inner_->restore(s, what);
    current_state_ = inner_->state();
    start();
  }

 private:
  void start() {
    queue_.clear();
    error_ = nullptr;
    stopping_ = false;
    worker_ = std::thread([this] {
      try {
        for (;;) {
          {
            std::unique_lock<std::mutex> lock(mutex_);
            space_.wait(lock, [&] { return stopping_ || int(queue_.size()) < depth_; });
            if (stopping_) return;
          }
          Batch b = inner_->next();  // outside the lock: this is the work read-ahead hides
          BatcherState st = inner_->state();
          std::lock_guard<std::mutex> lock(mutex_);
          queue_.emplace_back(std::move(b), std::move(st));
          ready_.notify_one();
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = std::current_exception();
        ready_.notify_one();
      }
    });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    space_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  std::unique_ptr<Batcher> inner_;
  int depth_;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::deque<std::pair<Batch, BatcherState>> queue_;
  std::exception_ptr error_;
  bool stopping_ = false;
  Batch current_;
  BatcherState current_state_;
};

class StreamBatcher : public Batcher {
 public:
  StreamBatcher(std::shared_ptr<TokenAccess> data, int B, int n_ctx, uint64_t seed)
      : data_(std::move(data)), B_(B), T_(n_ctx), rng_(seed) {
    if (data_->seq_len() < int64_t(n_ctx) + 1)
      throw InternalError("stream batcher: fewer than n_ctx + 1 tokens (the caller checks this)");
  }
  const Batch& next() override {
    reset(batch_, B_, T_);
    window_.resize(size_t(T_) + 1);
    const uint64_t n_starts = uint64_t(data_->seq_len() - T_);  // window [o, o + T] inclusive
    for (int b = 0; b < B_; ++b) {
      const int64_t o = int64_t(rng_.below(n_starts));
      data_->tokens(o, T_ + 1, window_.data());
      row_to_example(window_.data(), nullptr, T_ + 1, b, batch_);
      ++drawn_;
    }
    return batch_;
  }
  int seq_len() const override { return T_; }
  BatcherState state() const override { return {{rng_.state()}, {kStream, uint64_t(data_->seq_len()), drawn_}}; }
  void restore(const BatcherState& s, const std::string& what) override {
    expect_state(s, kStream, 1, 3, what);
    if (s.position[1] != uint64_t(data_->seq_len()))
      throw InputError(what, "the run was saved on a stream of " + std::to_string(s.position[1]) +
                                 " tokens, but --data has " + std::to_string(data_->seq_len()));
    rng_ = SplitMix64(s.rng[0]);
    drawn_ = s.position[2];
  }

 private:
  std::shared_ptr<TokenAccess> data_;
  int B_, T_;
  SplitMix64 rng_;
  uint64_t drawn_ = 0;           // windows so far (for the record; the RNG state alone fixes what follows)
  std::vector<int32_t> window_;  // [T + 1]
  Batch batch_;
};

class SequencesBatcher : public Batcher {
 public:
  SequencesBatcher(std::shared_ptr<TokenAccess> data, int B, uint64_t seed)
      : data_(std::move(data)), B_(B), seed_(seed) {
    if (data_->seq_len() < 2 || data_->n_seq() < 1)
      throw InternalError("sequences batcher: empty rows (the caller checks this)");
    shuffle_for(0);
  }
  const Batch& next() override {
    reset(batch_, B_, seq_len());
    const bool masked = data_->has_loss_mask();
    const int64_t L = data_->seq_len();
    row_.resize(size_t(L));
    mask_.resize(masked ? size_t(L) : 0);
    for (int b = 0; b < B_; ++b) {
      if (cursor_ == uint64_t(data_->n_seq())) shuffle_for(epoch_ + 1);
      const int64_t r = order_[cursor_++];
      data_->tokens(r * L, L, row_.data());
      if (masked) data_->loss_mask(r * L, L, mask_.data());
      row_to_example(row_.data(), masked ? mask_.data() : nullptr, L, b, batch_);
    }
    return batch_;
  }
  int seq_len() const override { return int(data_->seq_len() - 1); }
  BatcherState state() const override { return {{seed_}, {kSequences, uint64_t(data_->n_seq()), epoch_, cursor_}}; }
  void restore(const BatcherState& s, const std::string& what) override {
    expect_state(s, kSequences, 1, 4, what);
    if (s.position[1] != uint64_t(data_->n_seq()) || s.position[3] > s.position[1])
      throw InputError(what, "the run was saved on a dataset of " + std::to_string(s.position[1]) +
                                 " sequences, but --data has " + std::to_string(data_->n_seq()));
    seed_ = s.rng[0];
    shuffle_for(s.position[2]);
    cursor_ = s.position[3];
  }

 private:
  // The order of epoch e is a function of (seed, e) only, so restoring needs no history.
  void shuffle_for(uint64_t epoch) {
    epoch_ = epoch;
    cursor_ = 0;
    order_.resize(size_t(data_->n_seq()));
    std::iota(order_.begin(), order_.end(), int64_t(0));
    SplitMix64 rng(mix_seed(seed_, epoch));
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
  }
  std::shared_ptr<TokenAccess> data_;
  int B_;
  uint64_t seed_, epoch_ = 0, cursor_ = 0;
  std::vector<int64_t> order_;
  std::vector<int32_t> row_;   // [seq_len]
  std::vector<uint8_t> mask_;  // [seq_len] when masked
  Batch batch_;
};

// Row i of batch k: n ~ uniform[min_half, half], then [BOS, noise x 2(half - n), r_1..r_n, r_1..r_n]
// (the r part from make_repeat_dataset, noise uniform over the vocabulary without BOS). Varying n
// means no single positional offset finds the earlier copy; the noise keeps every row the same
// length with every target real.
class RepeatBatcher : public Batcher {
 public:
  RepeatBatcher(int B, int64_t half_len, int64_t min_half_len, int d_vocab, uint64_t seed)
      : B_(B), half_(half_len), min_half_(min_half_len), d_vocab_(d_vocab), seed_(seed) {
    if (min_half_ < 1 || min_half_ > half_) throw InternalError("repeat batcher: min_half_len outside [1, half_len]");
  }
  const Batch& next() override {
    const int64_t L = 1 + 2 * half_;
    reset(batch_, B_, seq_len());
    row_.resize(size_t(L));
    SplitMix64 rng(mix_seed(seed_, drawn_++));
    for (int b = 0; b < B_; ++b) {
      const int64_t n = min_half_ + int64_t(rng.below(uint64_t(half_ - min_half_ + 1)));
      const TokenDataset rep = make_repeat_dataset(1, n, d_vocab_, rng.next(), kBos);
      const int64_t noise = L - rep.seq_len;
      row_[0] = kBos;
      for (int64_t t = 1; t <= noise; ++t) row_[size_t(t)] = int32_t(1 + rng.below(uint64_t(d_vocab_ - 1)));
      std::copy(rep.tokens.begin() + 1, rep.tokens.end(), row_.begin() + 1 + noise);
      row_to_example(row_.data(), nullptr, L, b, batch_);
    }
    return batch_;
  }
  int seq_len() const override { return int(2 * half_); }
  BatcherState state() const override { return {{seed_}, {kRepeat, uint64_t(half_), uint64_t(min_half_), drawn_}}; }
  void restore(const BatcherState& s, const std::string& what) override {
    expect_state(s, kRepeat, 1, 4, what);
    if (s.position[1] != uint64_t(half_) || s.position[2] != uint64_t(min_half_))
      throw InputError(what, "the run was saved with repeat half lengths " + std::to_string(s.position[2]) + " to " +
                                 std::to_string(s.position[1]) + ", not " + std::to_string(min_half_) + " to " +
                                 std::to_string(half_));
    seed_ = s.rng[0];
    drawn_ = s.position[3];
  }

 private:
  static constexpr int32_t kBos = 0;
  int B_;
  int64_t half_, min_half_;
  int d_vocab_;
  uint64_t seed_, drawn_ = 0;  // batches so far
  std::vector<int32_t> row_;   // [1 + 2 half]
  Batch batch_;
};

// Batch k: B rows of make_induction_dataset seeded by mix_seed(seed, k); a function of (seed, k)
// only, so the state is the seed and the batch count.
class InductionBatcher : public Batcher {
 public:
  InductionBatcher(int B, const InductionTaskSpec& spec, int d_vocab, uint64_t seed)
      : B_(B), spec_(spec), d_vocab_(d_vocab), seed_(seed) {
    if (spec_.seq_len < 2) throw InternalError("induction batcher: rows shorter than 2 tokens");
  }
  const Batch& next() override {
    reset(batch_, B_, seq_len());
    const TokenDataset rows = make_induction_dataset(B_, spec_, d_vocab_, mix_seed(seed_, drawn_++), kBos);
    for (int b = 0; b < B_; ++b)
      row_to_example(rows.tokens.data() + b * spec_.seq_len, nullptr, spec_.seq_len, b, batch_);
    return batch_;
  }
  int seq_len() const override { return int(spec_.seq_len - 1); }
  BatcherState state() const override {
    return {
        {seed_},
        {kInduction, uint64_t(spec_.seq_len), uint64_t(spec_.min_span), uint64_t(spec_.max_span), prob_bits(), drawn_}};
  }
  void restore(const BatcherState& s, const std::string& what) override {
    expect_state(s, kInduction, 1, 6, what);
    if (s.position[1] != uint64_t(spec_.seq_len) || s.position[2] != uint64_t(spec_.min_span) ||
        s.position[3] != uint64_t(spec_.max_span) || s.position[4] != prob_bits())
      throw InputError(what,
                       "the run was saved with other builtin:induction settings (row length, copy "
                       "probability or span lengths) than the ones given now");
    seed_ = s.rng[0];
    drawn_ = s.position[5];
  }

 private:
  uint64_t prob_bits() const {
    uint64_t bits;
    std::memcpy(&bits, &spec_.copy_prob, sizeof bits);
    return bits;
  }
  static constexpr int32_t kBos = 0;
  int B_;
  InductionTaskSpec spec_;
  int d_vocab_;
  uint64_t seed_, drawn_ = 0;  // batches so far
  Batch batch_;
};

}  // namespace

std::unique_ptr<Batcher> make_dataset_batcher(std::shared_ptr<const TokenDataset> ds, int batch_size, int n_ctx,
                                              uint64_t seed) {
  return make_dataset_batcher(memory_token_access(std::move(ds)), batch_size, n_ctx, seed);
}

std::unique_ptr<Batcher> make_dataset_batcher(std::shared_ptr<TokenAccess> access, int batch_size, int n_ctx,
                                              uint64_t seed) {
  if (access->kind() == DatasetKind::stream)
    return std::make_unique<StreamBatcher>(std::move(access), batch_size, n_ctx, seed);
  return std::make_unique<SequencesBatcher>(std::move(access), batch_size, seed);
}

std::shared_ptr<TokenAccess> memory_token_access(std::shared_ptr<const TokenDataset> ds) {
  return std::make_shared<MemoryAccess>(std::move(ds));
}

std::shared_ptr<TokenAccess> file_token_access(std::shared_ptr<const TokenFileReader> reader) {
  return std::make_shared<FileAccess>(std::move(reader));
}

std::unique_ptr<Batcher> make_prefetching_batcher(std::unique_ptr<Batcher> inner, int depth) {
  return std::make_unique<PrefetchingBatcher>(std::move(inner), depth);
}

std::unique_ptr<Batcher> make_repeat_batcher(int batch_size, int64_t half_len, int64_t min_half_len, int d_vocab,
                                             uint64_t seed) {
  return std::make_unique<RepeatBatcher>(batch_size, half_len, min_half_len, d_vocab, seed);
}

std::unique_ptr<Batcher> make_induction_batcher(int batch_size, const InductionTaskSpec& spec, int d_vocab,
                                                uint64_t seed) {
  return std::make_unique<InductionBatcher>(batch_size, spec, d_vocab, seed);
}

std::unique_ptr<Batcher> make_builtin_batcher(const TrainOptions& o, const std::string& name, int batch_size,
                                              int d_vocab, uint64_t seed) {
  if (name == kBuiltinRepeat)
    return make_repeat_batcher(batch_size, o.repeat_half_len, o.repeat_min_half(), d_vocab, seed);
  if (name == kBuiltinInduction) return make_induction_batcher(batch_size, o.induction_spec(), d_vocab, seed);
  throw InternalError("make_builtin_batcher: '" + name + "' is not a built-in data source");
}

}  // namespace headlab
