#include "data/tokenizer.h"
#include "core/atomic_write.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "data/bpe_tokenizer.h"
#include "data/char_tokenizer.h"
#include "data/gpt2_tokenizer.h"
#include "data/word_tokenizer.h"

namespace headlab {

const char* const kSpecialTokenNames[3] = {"<|bos|>", "<|eos|>", "<|pad|>"};

const std::string& Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw InputError("token id " + std::to_string(id),
                     "outside the vocabulary [0, " + std::to_string(vocab_size()) + ")");
  return token_bytes_[size_t(id)];
}

std::string Tokenizer::to_json() const {
  nlohmann::json j;
  j["format"] = "headlab.tokenizer";
  j["format_version"] = 1;
  j["type"] = tokenizer_kind_name(kind());
  j["vocab_size"] = vocab_size();
  const SpecialTokenIds s = special();
  j["special_tokens"] = {{"bos", s.bos}, {"eos", s.eos}, {"pad", s.pad}};
  nlohmann::json bytes = nlohmann::json::array();
  for (const std::string& t : token_bytes_) bytes.push_back(to_hex(t));
  j["token_bytes"] = std::move(bytes);
  add_kind_fields(j);
  return j.dump();
}

const char* tokenizer_kind_name(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::bpe:
      return "bpe";
    case TokenizerKind::character:
      return "char";
    case TokenizerKind::word:
      return "word";
    case TokenizerKind::gpt2:
      return "gpt2";
  }
  return "?";
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, SpecialTokenText specials) const {
  std::string text;
  for (int32_t id : ids) {
    if (specials == SpecialTokenText::skip && is_special(id)) continue;
    text += token_bytes(id);
  }
  return text;
}

std::string to_hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string hex(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    hex[2 * i] = digits[(unsigned char)bytes[i] >> 4];
    hex[2 * i + 1] = digits[(unsigned char)bytes[i] & 15];
  }
  return hex;
}

std::string from_hex(std::string_view hex, const std::string& what) {
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw InputError(what, std::string("'") + c + "' is not a hex digit");
  };
  if (hex.size() % 2) throw InputError(what, "hex text of odd length " + std::to_string(hex.size()));
  std::string bytes(hex.size() / 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  return bytes;
}

namespace {

// An id or count from the JSON: an integer that fits int32. nlohmann's get<int> of a number out of
// range (6.7e23, or a float at all) is undefined behaviour, so the range is checked first.
int32_t json_int32(const nlohmann::json& v, const std::string& what, const char* field) {
  if (!v.is_number_integer()) throw InputError(what, std::string(field) + ": expected an integer, found " + v.dump());
  const bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(INT32_MAX)
                                           : v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX;
  if (!fits) throw InputError(what, std::string(field) + ": " + v.dump() + " is out of range");
  return int32_t(v.get<int64_t>());
}

std::unique_ptr<Tokenizer> build_from_json(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object() || j.value("format", "") != "headlab.tokenizer")
    throw InputError(what, "not a headlab tokenizer (format is not \"headlab.tokenizer\")");
  if (!j.contains("format_version") || !j["format_version"].is_number_integer() || j["format_version"] != 1)
    throw InputError(what, "format_version " + j.value("format_version", nlohmann::json(nullptr)).dump() +
                               " is not supported (expected 1)");
  const std::string type = j.at("type").get<std::string>();
  if (type == "bpe") {
    std::vector<BpeMerge> merges;
    for (const auto& m : j.at("merges")) {
      if (!m.is_array() || m.size() != 2) throw InputError(what, "each merge must be a pair [left, right]");
      merges.push_back({json_int32(m[0], what, "merges"), json_int32(m[1], what, "merges")});
    }
    return std::make_unique<BpeTokenizer>(std::move(merges), what);
  }
  if (type == "gpt2") {
    std::vector<std::string> bytes;
    for (const auto& h : j.at("token_bytes")) bytes.push_back(from_hex(h.get<std::string>(), what));
    std::vector<std::pair<int32_t, int32_t>> merges;
    for (const auto& m : j.at("merges")) {
      if (!m.is_array() || m.size() != 2) throw InputError(what, "each merge must be a pair [left, right]");
      merges.emplace_back(json_int32(m[0], what, "merges"), json_int32(m[1], what, "merges"));
    }
    return std::make_unique<Gpt2Tokenizer>(std::move(bytes), std::move(merges),
                                           json_int32(j.at("special_tokens").at("bos"), what, "special_tokens"), what);
  }
  if (type == "char") return std::make_unique<CharTokenizer>(from_hex(j.at("alphabet").get<std::string>(), what), what);
  if (type == "word") return std::make_unique<WordTokenizer>(j.at("words").get<std::vector<std::string>>(), what);
  throw InputError(what, "unknown tokenizer type '" + type + "' (expected bpe, char, word or gpt2)");
}

// The redundant fields must agree with the tokenizer the essential ones built: a file edited by hand
// or cut short is caught here rather than producing wrong text later.
void check_consistent(const Tokenizer& t, const nlohmann::json& j, const std::string& what) {
  const int64_t recorded = json_int32(j.at("vocab_size"), what, "vocab_size");
  if (recorded != t.vocab_size())
    throw InputError(what, "vocab_size says " + std::to_string(recorded) + " but the tokenizer has " +
                               std::to_string(t.vocab_size()) + " tokens");
  const SpecialTokenIds s = t.special();
  const auto& sj = j.at("special_tokens");
  if (json_int32(sj.at("bos"), what, "special_tokens") != s.bos ||
      json_int32(sj.at("eos"), what, "special_tokens") != s.eos ||
      json_int32(sj.at("pad"), what, "special_tokens") != s.pad)
    throw InputError(what, t.kind() == TokenizerKind::gpt2
                               ? "special_tokens must all be <|endoftext|>'s id"
                               : "special_tokens must be the last three ids, bos, eos, pad");
  if (!j.contains("token_bytes")) return;
  const auto& bytes = j.at("token_bytes");
  if (int64_t(bytes.size()) != t.vocab_size())
    throw InputError(what, "token_bytes has " + std::to_string(bytes.size()) + " entries, expected " +
                               std::to_string(t.vocab_size()));
  for (int32_t id = 0; id < t.vocab_size(); ++id)
    if (from_hex(bytes[id].get<std::string>(), what) != t.token_bytes(id))
      throw InputError(what, "token_bytes of id " + std::to_string(id) + " disagrees with the tokenizer");
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_json(const std::string& json_text, const std::string& what) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    // nlohmann's text starts with its own tag ("[json.exception.parse_error.101] "): not for people.
    std::string why = e.what();
    if (why.rfind("[json.exception.", 0) == 0 && why.find("] ") != std::string::npos)
      why = why.substr(why.find("] ") + 2);
    throw InputError(what, "not a headlab tokenizer (not valid JSON: " + why + ")");
  }
  try {
    std::unique_ptr<Tokenizer> t = build_from_json(j, what);
    check_consistent(*t, j, what);
    return t;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(what, std::string("malformed tokenizer: ") + e.what());
  }
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path, "is a folder; expected a tokenizer JSON file");
  // Bounded before reading: a FIFO or a device would be read for ever, and parsing holds about ten
  // times the text in memory (a BPE of 10^6 tokens is some 50 MB of JSON).
  constexpr uintmax_t kMaxBytes = uintmax_t(256) << 20;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    throw InputError(path, "expected a tokenizer JSON file; this is not a regular file (a device or FIFO?)");
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxBytes)
    throw InputError(
        path, "expected a tokenizer JSON file of at most 256 MiB; this one has " + std::to_string(size >> 20) + " MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return tokenizer_from_json(text.str(), path);
}

void save_tokenizer(const Tokenizer& tokenizer, const std::string& path) {
  write_text_file_atomically(path, tokenizer.to_json() + "\n");
}

}  // namespace headlab
