// Extraction: the model run over a token dataset in batches, the activations at the chosen hook points
// streamed into an activation store (probes/activation_store.h) with the tokens, their positions,
// documents and every label of the dataset. Memory stays bounded by one batch and one chunk per
// hook, whatever the size of the dataset or the store: the dataset is read batch by batch too.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/work_shard.h"
#include "model/hooks.h"
#include "model/transformer.h"
#include "probes/activation_store.h"

namespace headlab {

// Which tokens of each sequence go into the store.
enum class TokenPositions {
  all,     // every token (a stream is cut into consecutive windows of seq_len tokens)
  answer,  // each task row's answer position (/answer_pos; seq_len - 1 where the file has none)
  last,    // the last token of each sequence (each window, for a stream)
  // True and false statements from a task with answers (the facts task): each row twice, its
  // tokens up to answer_pos followed by /answer (label truth = 1) and by /wrong_answer (truth = 0);
  // the store keeps the appended token, where ITI reads a statement's truth.
  statements,
};
TokenPositions parse_token_positions(const std::string& text, const std::string& what);
std::string to_string(TokenPositions p);

struct ExtractOptions {
  std::vector<HookPoint> hooks;
  TokenPositions positions = TokenPositions::all;
  int64_t max_tokens = 0;  // 0 = every selected token
  int seq_len = 0;         // windows of a stream; 0 = the model's n_ctx
  int batch_size = 16;     // sequences per forward
  StoredFloat dtype = StoredFloat::f32;
  int deflate = 0;
  std::string checkpoint_path, model_hash;  // provenance
  // Several processes sharing the extraction: batch b runs on process b mod count (WorkShard).
  // Process 0 writes the store, the same one process writes, taking the other batches' activations
  // from `receive` (hook by hook, in the order of `hooks`); the others hand theirs to it through
  // `send` and write nothing.
  WorkShard shard;
  std::function<void(const float* data, int64_t n)> send;
  std::function<void(int from, float* data, int64_t n)> receive;
};

// A token dataset (data/token_dataset.h) opened for reading batch by batch: only its small arrays
// (document offsets, answer positions) are held. The constructor checks the format, the shapes of
// /tokens and every /labels/<name>, and that the dataset fits `cfg` where it can without reading the
// tokens (their ids are checked batch by batch: InputError naming the file and the token).
class TokenSource {
 public:
  TokenSource(const std::string& path, const ModelConfig& cfg, int seq_len);
  // Switches to TokenPositions::statements: InputError unless the rows have /answer and /wrong_answer
  // and a row up to its answer position, plus one token, fits n_ctx.
  void use_statements();
  bool is_stream() const { return stream_; }
  int64_t n_tokens() const { return n_tokens_; }
  int64_t n_sequences() const;  // task rows, or windows of a stream
  int sequence_length(int64_t s) const;
  std::vector<std::string> label_names() const { return labels_; }
  std::string label_names_json() const { return label_names_json_; }
  // Sequences [first, first + count), all of sequence_length(first) tokens: [count, T] tokens and
  // each label, and the document of each sequence's tokens.
  struct Batch {
    int64_t first = 0;
    int count = 0, T = 0;
    std::vector<int32_t> tokens;               // [count, T]
    std::vector<std::vector<int32_t>> labels;  // per label_names(), [count, T]
    std::vector<int64_t> doc_ids;              // [count, T]
  };
  Batch read(int64_t first, int count) const;
  // The position whose tokens the store keeps for sequence s under `p`.
  int selected_position(int64_t s, TokenPositions p) const;

 private:
  std::string path_;
  h5::File file_;
  ModelConfig cfg_;
  bool stream_ = false;
  int64_t n_tokens_ = 0, n_rows_ = 0, row_len_ = 0;
  int window_ = 0;
  std::vector<uint64_t> doc_offsets_;
  std::vector<int32_t> answer_pos_, answer_, wrong_answer_;
  bool statements_ = false;
  int statement_len_ = 0;
  std::vector<std::string> labels_;
  std::string label_names_json_ = "{}";
};

// Called after each batch with the tokens stored so far and the total.
using ExtractProgress = std::function<void(int64_t done, int64_t total)>;

struct ExtractSummary {
  int64_t n_tokens = 0, n_sequences = 0, forwards = 0;
  int64_t chunk_rows = 0;
};

// Runs `model` over `data` and writes the store at `out_path` (atomically). InputError for a
// dataset the model cannot read, --positions answer on a stream, or nothing to store.
ExtractSummary extract_activations(Transformer& model, const std::string& data_path, const ExtractOptions& o,
                                   const std::string& out_path, const ExtractProgress& progress = nullptr);

}  // namespace headlab
