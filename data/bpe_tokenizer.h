// Byte-level BPE: ids 0..255 are the bytes, id 256 + i is merge i (the concatenation of its two parts),
// then the three special tokens. Text is pre-tokenized GPT-2 style (data/bpe_pretokenize.h) and merges
// apply inside each chunk, lowest merge index first, as GPT-2 does.
#pragma once
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/tokenizer.h"

namespace headlab {

struct BpeMerge {
  int32_t left = 0, right = 0;
};

class BpeTokenizer : public Tokenizer {
 public:
  // InputError(what, ...) when a merge names an id that does not exist yet.
  BpeTokenizer(std::vector<BpeMerge> merges, const std::string& what = "merges");

  TokenizerKind kind() const override { return TokenizerKind::bpe; }
  using Tokenizer::encode;
  std::vector<int32_t> encode(std::string_view text, const std::vector<size_t>& cuts) const override;

  const std::vector<BpeMerge>& merges() const { return merges_; }

 private:
  void add_kind_fields(nlohmann::json& j) const override;
  void encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const;

  std::vector<BpeMerge> merges_;
  std::unordered_map<uint64_t, int32_t> merge_rank_;  // (left << 32 | right) -> merge index
};

struct BpeTrainingOptions {
  int32_t vocab_size = 8192;   // including the 256 bytes and the 3 special tokens
  int64_t min_pair_count = 2;  // stop early when the most frequent pair is rarer than this
};

struct BpeTrainingReport {
  int64_t n_chunks = 0, n_distinct_chunks = 0;
  int32_t n_merges = 0;
  bool stopped_early = false;  // the corpus ran out of pairs before vocab_size was reached
};

// InputError("--vocab-size", ...) unless 259 <= vocab_size <= kMaxVocabSize (the largest
// vocabulary a model may have).
void check_bpe_vocab_size(int64_t vocab_size);

// Learns merges from the texts. Deterministic: ties between equally frequent pairs go to the pair with
// the smaller (left, right) ids, and nothing else is random. InputError for a vocab_size that
// check_bpe_vocab_size refuses.
BpeTokenizer train_bpe(const std::vector<std::string>& texts, const BpeTrainingOptions& options,
                       BpeTrainingReport* report = nullptr);

}  // namespace headlab
