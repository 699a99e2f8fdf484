#include "probes/sae_source.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/errors.h"
#include "core/seeded_rng.h"

namespace headlab {

// ---- ArrayRows ------------------------------------------------------------------------------

ArrayRows::ArrayRows(std::vector<float> rows, int64_t width, uint64_t seed)
    : data_(std::move(rows)), width_(width), n_rows_(width > 0 ? int64_t(data_.size()) / width : 0), seed_(seed) {
  if (width_ <= 0 || n_rows_ <= 0 || int64_t(data_.size()) != n_rows_ * width_)
    throw InputError("rows", "expected at least one row of " + std::to_string(width) + " values");
  shuffle_for_epoch();
}

void ArrayRows::shuffle_for_epoch() {
  order_.resize(size_t(n_rows_));
  for (int64_t i = 0; i < n_rows_; ++i) order_[size_t(i)] = i;
  SeededRng rng(seed_ * 0x9e3779b97f4a7c15ULL + epoch_ + 1);
  rng.shuffle(order_);
}

void ArrayRows::next(float* rows, int64_t n) {
  for (int64_t r = 0; r < n; ++r) {
    if (cursor_ >= uint64_t(n_rows_)) {
      ++epoch_;
      cursor_ = 0;
      shuffle_for_epoch();
    }
    std::memcpy(rows + r * width_, data_.data() + order_[size_t(cursor_++)] * width_, size_t(width_) * sizeof(float));
  }
}

void ArrayRows::restore(const std::vector<uint64_t>& state, const std::string& what) {
  if (state.size() != 2 || state[1] > uint64_t(n_rows_))
    throw InputError(what, "expected the position of an in-memory row source (epoch, row)");
  epoch_ = state[0];
  cursor_ = state[1];
  shuffle_for_epoch();
}

std::string ArrayRows::describe() const {
  return std::to_string(n_rows_) + " rows of " + std::to_string(width_) + " in memory";
}

// ---- rows of a hook ---------------------------------------------------------------------------

int64_t hook_row_width(HookPoint hook, const ModelConfig& cfg) {
  const std::vector<int64_t> shape = hook_shape(hook, cfg, 1, 1);
  // [1, 1, ...] for per-position hooks; a pattern or scores hook is not a per-token row.
  if (hook.site == HookSite::attn_pattern || hook.site == HookSite::attn_scores)
    throw InputError("--hook", hook_name(hook) + " is per pair of positions, not a row per token");
  int64_t w = 1;
  for (size_t d = 2; d < shape.size(); ++d) w *= shape[d];
  return w;
}

std::vector<float> hook_rows(Transformer& model, const int32_t* tokens, int B, int T, HookPoint hook) {
  HookSet hooks;
  std::vector<float> rows;
  hooks.add_forward(hook, [&rows](HookPoint, ActivationView& v, Backend& be) {
    rows.resize(size_t(v.numel()));
    be.copy_to_host(rows.data(), v.data, rows.size() * sizeof(float));
  });
  model.forward(tokens, B, T, &hooks);
  return rows;
}

// ---- ModelRows ----------------------------------------------------------------------------

ModelRows::ModelRows(Transformer& model, const TokenDataset& dataset, HookPoint hook, int64_t seq_len,
                     int64_t chunk_sequences, uint64_t seed)
    : model_(model), ds_(dataset), hook_(hook), seed_(seed) {
  const ModelConfig& cfg = model.config();
  if (ds_.kind == DatasetKind::sequences) {
    seq_len_ = ds_.seq_len;
    n_seq_ = ds_.n_seq;
  } else {
    seq_len_ = seq_len > 0 ? seq_len : cfg.n_ctx;
    n_seq_ = ds_.n_tokens() / std::max<int64_t>(seq_len_, 1);
  }
  if (seq_len_ < 1 || seq_len_ > cfg.n_ctx)
    throw InputError("--data", "expected sequences of 1 to n_ctx = " + std::to_string(cfg.n_ctx) + " tokens, got " +
                                   std::to_string(seq_len_));
  if (n_seq_ < 1)
    throw InputError("--data", "expected at least one sequence of " + std::to_string(seq_len_) + " tokens");
  if (ds_.d_vocab > cfg.d_vocab)
    throw InputError("--data", "its vocabulary (" + std::to_string(ds_.d_vocab) + ") is larger than the model's (" +
                                   std::to_string(cfg.d_vocab) + ")");
  width_ = hook_row_width(hook, cfg);
  chunk_seq_ = std::max<int64_t>(1, std::min(chunk_sequences, n_seq_));
}

const int32_t* ModelRows::sequence(int64_t s) const { return ds_.tokens.data() + s * seq_len_; }

void ModelRows::load_chunk(uint64_t chunk) {
  const uint64_t per_epoch = uint64_t(n_seq_ / chunk_seq_);
  const uint64_t epoch = chunk / per_epoch, within = chunk % per_epoch;
  std::vector<int64_t> order(static_cast<size_t>(n_seq_));
  for (int64_t i = 0; i < n_seq_; ++i) order[size_t(i)] = i;
  SeededRng rng(seed_ * 0x9e3779b97f4a7c15ULL + epoch + 1);
  rng.shuffle(order);
  const int64_t rows_per_seq = seq_len_;
  chunk_rows_.assign(size_t(chunk_seq_ * rows_per_seq * width_), 0.0f);
  constexpr int64_t kBatch = 32;
  std::vector<int32_t> tokens;
  for (int64_t s0 = 0; s0 < chunk_seq_; s0 += kBatch) {
    const int64_t nb = std::min(kBatch, chunk_seq_ - s0);
    tokens.resize(size_t(nb * seq_len_));
    for (int64_t s = 0; s < nb; ++s)
      std::memcpy(tokens.data() + s * seq_len_, sequence(order[size_t(int64_t(within) * chunk_seq_ + s0 + s)]),
                  size_t(seq_len_) * sizeof(int32_t));
    std::vector<float> rows = hook_rows(model_, tokens.data(), int(nb), int(seq_len_), hook_);
    std::memcpy(chunk_rows_.data() + s0 * rows_per_seq * width_, rows.data(), rows.size() * sizeof(float));
  }
  // Mix the chunk's rows so that a batch holds tokens of many sequences and positions.
  const int64_t R = chunk_seq_ * rows_per_seq;
  SeededRng mix(seed_ ^ (0xa5a5a5a5ULL + chunk * 0x9e3779b97f4a7c15ULL));
  std::vector<float> tmp(static_cast<size_t>(width_));
  for (int64_t i = R - 1; i > 0; --i) {
    const int64_t j = int64_t(mix.below(uint64_t(i + 1)));
    if (i == j) continue;
    float* a = chunk_rows_.data() + i * width_;
    float* b = chunk_rows_.data() + j * width_;
    std::memcpy(tmp.data(), a, size_t(width_) * sizeof(float));
    std::memcpy(a, b, size_t(width_) * sizeof(float));
    std::memcpy(b, tmp.data(), size_t(width_) * sizeof(float));
  }
  loaded_chunk_ = chunk;
}

void ModelRows::next(float* rows, int64_t n) {
  const uint64_t R = uint64_t(chunk_seq_ * seq_len_);
  for (int64_t r = 0; r < n; ++r) {
    const uint64_t chunk = served_ / R, off = served_ % R;
    if (chunk != loaded_chunk_) load_chunk(chunk);
    std::memcpy(rows + r * width_, chunk_rows_.data() + off * uint64_t(width_), size_t(width_) * sizeof(float));
    ++served_;
  }
}

void ModelRows::restore(const std::vector<uint64_t>& state, const std::string& what) {
  if (state.size() != 1) throw InputError(what, "expected the position of a live model row source (rows served)");
  served_ = state[0];
  loaded_chunk_ = UINT64_MAX;
}

std::string ModelRows::describe() const {
  return hook_name(hook_) + " of the model run live on " + std::to_string(n_seq_) + " sequences of " +
         std::to_string(seq_len_) + " tokens (" + std::to_string(width_) + " values per token)";
}

// ---- StoreRows ----------------------------------------------------------------------------

StoreRows::StoreRows(const ActivationStore& store, const std::string& hook, int64_t chunk_tokens, uint64_t seed)
    : store_(store), hook_(hook), seed_(seed) {
  if (!store.has_hook(hook)) {
    std::string held;
    for (const std::string& h : store.hooks()) held += (held.empty() ? "" : ", ") + h;
    throw InputError(store.path(), "has no activations of " + hook + " (it holds " + held + ")");
  }
  width_ = store.row_width(hook);
  chunk_ = std::max<int64_t>(1, std::min(chunk_tokens, store.n_tokens()));
  n_chunks_ = store.n_tokens() / chunk_;
  if (n_chunks_ < 1) throw InputError(store.path(), "holds no tokens");
}

void StoreRows::load_chunk(uint64_t chunk) {
  const uint64_t epoch = chunk / uint64_t(n_chunks_), within = chunk % uint64_t(n_chunks_);
  std::vector<int64_t> order(static_cast<size_t>(n_chunks_));
  for (int64_t i = 0; i < n_chunks_; ++i) order[size_t(i)] = i;
  SeededRng rng(seed_ * 0x9e3779b97f4a7c15ULL + epoch + 1);
  rng.shuffle(order);
  rows_.resize(size_t(chunk_ * width_));
  store_.read_rows(hook_, order[size_t(within)] * chunk_, chunk_, rows_.data());
  SeededRng mix(seed_ ^ (0xa5a5a5a5ULL + chunk * 0x9e3779b97f4a7c15ULL));
  std::vector<float> tmp(static_cast<size_t>(width_));
  for (int64_t i = chunk_ - 1; i > 0; --i) {
    const int64_t j = int64_t(mix.below(uint64_t(i + 1)));
    if (i == j) continue;
    float* a = rows_.data() + i * width_;
    float* b = rows_.data() + j * width_;
    std::memcpy(tmp.data(), a, size_t(width_) * sizeof(float));
    std::memcpy(a, b, size_t(width_) * sizeof(float));
    std::memcpy(b, tmp.data(), size_t(width_) * sizeof(float));
  }
  loaded_chunk_ = chunk;
}

void StoreRows::next(float* rows, int64_t n) {
  for (int64_t r = 0; r < n; ++r) {
    const uint64_t chunk = served_ / uint64_t(chunk_), off = served_ % uint64_t(chunk_);
    if (chunk != loaded_chunk_) load_chunk(chunk);
    std::memcpy(rows + r * width_, rows_.data() + off * uint64_t(width_), size_t(width_) * sizeof(float));
    ++served_;
  }
}

void StoreRows::restore(const std::vector<uint64_t>& state, const std::string& what) {
  if (state.size() != 1) throw InputError(what, "expected the position of a store row source (rows served)");
  served_ = state[0];
  loaded_chunk_ = UINT64_MAX;
}

std::string StoreRows::describe() const {
  return hook_ + " of the store " + store_.path() + " (" + std::to_string(n_chunks_ * chunk_) +
         " tokens in chunks of " + std::to_string(chunk_) + ", " + std::to_string(width_) + " values per token)";
}

}  // namespace headlab
