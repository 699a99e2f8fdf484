#include "data/word_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "core/errors.h"

namespace headlab {
namespace {

bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool is_word_byte(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

}  // namespace

std::vector<std::string> WordTokenizer::split(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = text[i];
    if (is_space(c)) {
      ++i;
    } else if (is_word_byte(c)) {
      size_t end = i;
      while (end < text.size() && is_word_byte(text[end])) ++end;
      words.emplace_back(text.substr(i, end - i));
      i = end;
    } else {
      words.emplace_back(1, char(c));
      ++i;
    }
  }
  return words;
}

WordTokenizer::WordTokenizer(std::vector<std::string> words, const std::string& what) : words_(std::move(words)) {
  if (words_.empty()) throw InputError(what, "a word tokenizer needs at least one word");
  for (size_t i = 0; i < words_.size(); ++i) {
    const std::string& w = words_[i];
    const std::vector<std::string> parts = split(w);
    if (parts.size() != 1 || parts[0] != w)
      throw InputError(what, "word " + std::to_string(i) + " ('" + w + "') is not one word as the splitter sees it");
    if (!id_of_word_.emplace(w, int32_t(i)).second) throw InputError(what, "word '" + w + "' appears twice");
    token_bytes_.push_back(is_word_byte(w[0]) ? " " + w : w);
  }
  for (const char* name : kSpecialTokenNames) token_bytes_.push_back(name);
}

WordTokenizer WordTokenizer::from_texts(const std::vector<std::string>& texts) {
  std::set<std::string> all;
  for (const std::string& t : texts)
    for (std::string& w : split(t)) all.insert(std::move(w));
  return WordTokenizer(std::vector<std::string>(all.begin(), all.end()), "task texts");
}

std::vector<int32_t> WordTokenizer::encode(std::string_view text, const std::vector<size_t>&) const {
  std::vector<int32_t> ids;
  for (const std::string& w : split(text)) {
    auto it = id_of_word_.find(w);
    if (it == id_of_word_.end()) throw InputError("text", "word '" + w + "' is not in the word tokenizer's list");
    ids.push_back(it->second);
  }
  return ids;
}

std::string WordTokenizer::decode(const std::vector<int32_t>& ids, SpecialTokenText specials) const {
  std::string text = Tokenizer::decode(ids, specials);
  if (!text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

void WordTokenizer::add_kind_fields(nlohmann::json& j) const { j["words"] = words_; }

}  // namespace headlab
