// Token datasets in HDF5 (docs/files.md), one of two shapes:
//  - stream (corpora): /tokens (uint16 or uint32, 1-D, chunked), /doc_offsets (uint64, start of each
//    document, first 0), optional /labels/<name> (1-D, same length as /tokens);
//  - sequences (tasks): /tokens [n_seq, seq_len], optional /loss_mask (uint8, same shape),
//    /corrupted (same shape), /answer and /wrong_answer [n_seq] (answer tokens), optional
//    /answer_pos [n_seq] (the position whose next-token prediction is the answer; default seq_len-1),
//    optional /labels/<name> [n_seq, seq_len].
// Root attributes: format = "headlab.tokens", format_version = 1, kind = "stream" | "sequences",
// d_vocab (the tokenizer's vocabulary size), tokenizer (JSON text, optional), source (free text).
//
// A file written by hand (h5py: f["tokens"] = ids) without any of those attributes is read too, when
// its meaning is clear: /tokens of an integer type, 1-D (a stream of one document) or 2-D (sequences,
// every position trained), ids >= 0, and no other headlab dataset. d_vocab is then the largest id + 1;
// TokenDataset::assumed says so, for the command to print as a warning.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace headlab {

enum class DatasetKind { stream, sequences };

// The most tokens headlab-data builds into one file (tasks, mixtures): 2^28, about 3.5 GiB while
// it is built with its twins and labels. Options asking for more are refused before anything is
// allocated; split the rows over several files instead.
constexpr int64_t kMaxBuiltTokens = int64_t(1) << 28;

struct TokenDataset {
  DatasetKind kind = DatasetKind::sequences;
  int64_t d_vocab = 0;
  std::string tokenizer_json;  // may be empty
  std::string source;
  // stream: tokens is 1-D (n_seq = 1, seq_len = number of tokens).
  // sequences: tokens is [n_seq, seq_len] row-major.
  int64_t n_seq = 0, seq_len = 0;
  std::vector<int32_t> tokens;
  std::vector<uint64_t> doc_offsets;                   // stream only
  std::vector<uint8_t> loss_mask;                      // sequences; empty = every position counts
  std::vector<int32_t> corrupted;                      // sequences; empty when no pairs
  std::vector<int32_t> answer, wrong_answer;           // [n_seq]; empty when none
  std::vector<int32_t> answer_pos;                     // [n_seq]; empty = seq_len - 1
  std::map<std::string, std::vector<int32_t>> labels;  // same length as tokens
  std::string assumed;  // non-empty for a file without headlab's attributes: what reading it assumed

  int64_t n_tokens() const { return int64_t(tokens.size()); }
  bool has_pairs() const { return !corrupted.empty(); }
  // Checks every invariant (shapes agree, ids < d_vocab, answers in range); InputError naming `what`.
  void validate(const std::string& what) const;
};

// Writes to path + ".tmp" and renames into place. InputError when the path cannot be written.
void write_token_dataset(const std::string& path, const TokenDataset& ds);
// Reads and validates; InputError naming the file and the dataset that is missing or misshapen.
TokenDataset read_token_dataset(const std::string& path);

}  // namespace headlab
