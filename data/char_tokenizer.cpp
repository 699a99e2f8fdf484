#include "data/char_tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace headlab {

CharTokenizer::CharTokenizer(const std::string& alphabet, const std::string& what) : alphabet_(alphabet) {
  if (alphabet.empty()) throw InputError(what, "a character tokenizer needs at least one byte");
  id_of_byte_.fill(-1);
  for (size_t i = 0; i < alphabet.size(); ++i) {
    const unsigned char b = alphabet[i];
    if (id_of_byte_[b] >= 0) throw InputError(what, "byte 0x" + to_hex(alphabet.substr(i, 1)) + " appears twice");
    id_of_byte_[b] = int32_t(i);
    token_bytes_.push_back(std::string(1, char(b)));
  }
  for (const char* name : kSpecialTokenNames) token_bytes_.push_back(name);
}

CharTokenizer CharTokenizer::all_bytes() {
  std::string alphabet(256, '\0');
  for (int b = 0; b < 256; ++b) alphabet[b] = char(b);
  return CharTokenizer(alphabet);
}

CharTokenizer CharTokenizer::from_texts(const std::vector<std::string>& texts) {
  bool seen[256] = {};
  for (const std::string& t : texts)
    for (unsigned char c : t) seen[c] = true;
  std::string alphabet;
  for (int b = 0; b < 256; ++b)
    if (seen[b]) alphabet.push_back(char(b));
  return CharTokenizer(alphabet, "training text");
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text, const std::vector<size_t>&) const {
  std::vector<int32_t> out(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const int32_t id = id_of_byte_[(unsigned char)text[i]];
    if (id < 0)
      throw InputError("text", "byte 0x" + to_hex(text.substr(i, 1)) + " at offset " + std::to_string(i) +
                                   " is not in the character tokenizer's alphabet");
    out[i] = id;
  }
  return out;
}

void CharTokenizer::add_kind_fields(nlohmann::json& j) const { j["alphabet"] = to_hex(alphabet_); }

}  // namespace headlab
