// The task tokenizer: an explicit word list, one id per word. Text splits at whitespace, and each
// punctuation character is a word of its own ("store," -> "store", ","); a run of ASCII letters, digits
// and non-ASCII bytes is one word. Meant for synthetic tasks, where every word is known in advance.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "data/tokenizer.h"

namespace headlab {

class WordTokenizer : public Tokenizer {
 public:
  // InputError(what, ...) for an empty, repeated or unsplittable word (one the splitter would cut).
  explicit WordTokenizer(std::vector<std::string> words, const std::string& what = "word list");
  // Every word the texts contain, sorted.
  static WordTokenizer from_texts(const std::vector<std::string>& texts);
  // The words of a text as the tokenizer splits it.
  static std::vector<std::string> split(std::string_view text);

  TokenizerKind kind() const override { return TokenizerKind::word; }
  using Tokenizer::encode;
  std::vector<int32_t> encode(std::string_view text, const std::vector<size_t>& cuts) const override;
  // Words joined by spaces, with no space before punctuation and none at the start.
  std::string decode(const std::vector<int32_t>& ids,
                     SpecialTokenText specials = SpecialTokenText::show) const override;

  const std::vector<std::string>& words() const { return words_; }

 private:
  void add_kind_fields(nlohmann::json& j) const override;
  std::vector<std::string> words_;
  std::unordered_map<std::string, int32_t> id_of_word_;
};

}  // namespace headlab
