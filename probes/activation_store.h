// The activation store: a model's activations at some hook points over a token dataset, one row per
// token, for probes and sparse autoencoders to train on without running the model again.
//
// File (HDF5, readable by h5py without headlab):
//   /                      attributes format = "headlab.activations", format_version = 1,
//                          n_tokens, hooks (the hook names, comma-separated, in the order given),
//                          dtype ("float32" | "float16" | "bfloat16"), and where it came from:
//                          model_hash, checkpoint, data, positions ("all" | "answer" | "last"),
//                          seq_len, label_names (JSON {label: [name of 0, name of 1 ...]}, or "{}")
//   /<hook name>           [n_tokens, ...] one dataset per hook, named as TransformerLens names the
//                          point ("blocks.1.hook_resid_post"): [n_tokens, d_model] for the residual
//                          stream, [n_tokens, n_heads, d_head] for hook_z, [n_tokens, n_heads, d_model]
//                          for hook_result (the head axis kept); chunked along tokens, optionally
//                          shuffle + gzip, float32 or 16-bit (float16, bfloat16: read as float32
//                          by HDF5's conversion, e.g. h5py's ds.astype("f4"))
//   /tokens                [n_tokens] int32  the token id
//   /positions             [n_tokens] int32  its position in the sequence the model saw
//   /rows                  [n_tokens] int64  that sequence's index (a task's row, a stream's window)
//   /doc_ids               [n_tokens] int64  its document (a stream's document, a task's row):
//                          probes split by it, never by token
//   /labels/<name>         [n_tokens] int32 class labels copied from the dataset (-1 = none), or
//                          float32 scalar labels
//   /config                the model's ModelConfig as attributes (as in a checkpoint)
//
// Written streaming (ActivationStoreWriter keeps one chunk of rows per hook), read streaming
// (ActivationStore::read_rows reads any token range of one hook into the caller's buffer).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/h5_file.h"
#include "model/config.h"

namespace headlab {

constexpr const char* kActivationStoreFormat = "headlab.activations";
constexpr int64_t kActivationStoreVersion = 1;

enum class StoredFloat { f32, f16, bf16 };
StoredFloat parse_stored_float(const std::string& text, const std::string& what);  // float32 | float16 | bfloat16
std::string to_string(StoredFloat t);

// float32 -> 16-bit, round to nearest even (NaN stays NaN, overflow becomes inf), and back.
uint16_t float_to_half(float x);
float half_to_float(uint16_t h);
uint16_t float_to_bfloat16(float x);
float bfloat16_to_float(uint16_t b);

// What a store holds besides the activations.
struct StoreProvenance {
  std::string model_hash, checkpoint, data, positions = "all";
  int64_t seq_len = 0;
  std::string label_names_json = "{}";
  std::optional<ModelConfig> config;  // absent for synthetic stores (tests)
};

struct StoreHookSpec {
  std::string name;
  h5::Shape row_shape;  // one token's shape: {d_model}, {n_heads, d_head} ...
  int64_t row_width() const { return h5::numel(row_shape); }
};

struct StoreSpec {
  std::vector<StoreHookSpec> hooks;
  std::vector<std::string> labels;  // class labels (int32), in append order
  int64_t n_tokens = 0;
  StoredFloat dtype = StoredFloat::f32;
  int deflate = 0;  // 0 = none, 1..9 = shuffle + gzip level
  StoreProvenance provenance;
};

// One append's token metadata: arrays of `count` entries each.
struct StoreTokenRows {
  const int32_t* tokens = nullptr;
  const int32_t* positions = nullptr;
  const int64_t* rows = nullptr;
  const int64_t* doc_ids = nullptr;
  std::vector<const int32_t*> labels;  // one per StoreSpec::labels
};

// Writes a store of exactly spec.n_tokens rows, appended in order, into a hidden temporary renamed
// into place by commit(); destroyed uncommitted, it leaves nothing. Memory: one chunk of rows per
// hook (the chunk is at most 1 MiB, HDF5's chunk cache, so every chunk is written whole, once).
class ActivationStoreWriter {
 public:
  ActivationStoreWriter(const std::string& path, const StoreSpec& spec);
  ~ActivationStoreWriter();
  ActivationStoreWriter(const ActivationStoreWriter&) = delete;
  ActivationStoreWriter& operator=(const ActivationStoreWriter&) = delete;

  // `count` tokens: activations[h] holds count * row_width floats of spec.hooks[h].
  // InternalError past n_tokens or with the wrong number of arrays.
  void append(int64_t count, const std::vector<const float*>& activations, const StoreTokenRows& meta);
  int64_t written() const { return appended_; }
  int64_t chunk_rows() const { return chunk_rows_; }
  // InternalError unless every token was appended.
  void commit();

 private:
  void flush();
  StoreSpec spec_;
  h5::AtomicFile file_;
  int64_t chunk_rows_ = 1, appended_ = 0, flushed_ = 0;
  std::vector<std::vector<float>> staged_;  // per hook, [buffered rows, width]
  std::vector<int32_t> tokens_, positions_;
  std::vector<int64_t> rows_, doc_ids_;
  std::vector<std::vector<int32_t>> labels_;
  std::vector<uint16_t> half_;
};

enum class LabelKind { classes, scalar };

// A store opened for reading. Every accessor that names a hook or label not in the store throws
// InputError("<file>: /<name>", ...) listing what is there.
class ActivationStore {
 public:
  // InputError naming the file when it is not a store or its arrays disagree in length.
  explicit ActivationStore(const std::string& path);

  const std::string& path() const { return path_; }
  int64_t n_tokens() const { return n_tokens_; }
  const std::vector<std::string>& hooks() const { return hooks_; }
  bool has_hook(const std::string& hook) const;
  h5::Shape shape(const std::string& hook) const;    // [n_tokens, ...]
  int64_t row_width(const std::string& hook) const;  // floats per token
  StoredFloat stored_as(const std::string& hook) const;
  // Tokens [first, first + count) of `hook` as float32 into out[count * row_width(hook)].
  void read_rows(const std::string& hook, int64_t first, int64_t count, float* out) const;

  std::vector<int32_t> tokens() const;
  std::vector<int32_t> positions() const;
  std::vector<int64_t> rows() const;
  std::vector<int64_t> doc_ids() const;
  std::vector<std::string> label_names() const;  // the /labels/ datasets, sorted
  bool has_label(const std::string& name) const;
  LabelKind label_kind(const std::string& name) const;
  std::vector<int32_t> class_label(const std::string& name) const;  // InputError for a scalar label
  std::vector<float> scalar_label(const std::string& name) const;
  // The names of a class label's values, from label_names; empty when the store has none.
  std::vector<std::string> class_names(const std::string& label) const;

  const StoreProvenance& provenance() const { return provenance_; }
  const h5::File& file() const { return file_; }

 private:
  void require_hook(const std::string& hook) const;
  void require_label(const std::string& name) const;
  std::string path_;
  h5::File file_;
  int64_t n_tokens_ = 0;
  std::vector<std::string> hooks_;
  StoreProvenance provenance_;
};

}  // namespace headlab
