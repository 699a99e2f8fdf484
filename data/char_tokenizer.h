// One token per byte of an alphabet. The full alphabet (all 256 bytes) round-trips every byte string;
// a smaller one, learned from a text, keeps a character-level model's vocabulary small and rejects
// bytes outside it.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace headlab {

class CharTokenizer : public Tokenizer {
 public:
  // alphabet: distinct bytes, in id order. InputError(what, ...) on a repeated byte or an empty alphabet.
  explicit CharTokenizer(const std::string& alphabet, const std::string& what = "alphabet");
  static CharTokenizer all_bytes();
  // The bytes that occur in the texts, ascending.
  static CharTokenizer from_texts(const std::vector<std::string>& texts);

  TokenizerKind kind() const override { return TokenizerKind::character; }
  using Tokenizer::encode;
  std::vector<int32_t> encode(std::string_view text, const std::vector<size_t>& cuts) const override;

  const std::string& alphabet() const { return alphabet_; }

 private:
  void add_kind_fields(nlohmann::json& j) const override;
  std::string alphabet_;
  std::array<int32_t, 256> id_of_byte_;  // -1 outside the alphabet
};

}  // namespace headlab
