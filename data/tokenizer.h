// The tokenizer interface shared by the three kinds (byte-level BPE, characters, an explicit word list),
// and their JSON file format.
//
// headlab's own kinds end their vocabulary with three special tokens, in this order: <|bos|>, <|eos|>,
// <|pad|>; an imported GPT-2 tokenizer has its one <|endoftext|> for all three (data/gpt2_tokenizer.h).
// encode() never produces them from text (the text "<|bos|>" encodes as ordinary bytes), so for BPE and
// the full-byte character tokenizer decode(encode(x)) == x for every byte string, valid UTF-8 or not.
//
// JSON (one object; written compact):
//   format "headlab.tokenizer", format_version 1, type "bpe" | "char" | "word" | "gpt2", vocab_size,
//   special_tokens {bos, eos, pad} (ids),
//   token_bytes [hex string per id]   -- the bytes each id decodes to; enough for any reader to decode
//                                        (concatenate; specials decode to their names),
//   bpe:  merges [[left, right], ...] -- merge i makes id 256 + i; pretokenizer "gpt2-bytes"
//   gpt2: merges [[left, right], ...] in rank order (ids are GPT-2's), pretokenizer "gpt2-unicode"
//   char: alphabet (hex string of the bytes, in id order)
//   word: words [string per id]       -- token_bytes holds " word" (a leading space) for words and the
//                                        bare character for punctuation, so concatenation reads naturally.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace headlab {

enum class TokenizerKind { bpe, character, word, gpt2 };

struct SpecialTokenIds {
  int32_t bos = -1, eos = -1, pad = -1;
};

enum class SpecialTokenText { show, skip };

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual TokenizerKind kind() const = 0;
  int32_t vocab_size() const { return int32_t(token_bytes_.size()); }  // including the special tokens
  virtual SpecialTokenIds special() const { return {vocab_size() - 3, vocab_size() - 2, vocab_size() - 1}; }
  virtual bool is_special(int32_t id) const { return id >= vocab_size() - 3 && id < vocab_size(); }
  // Ids [0, ordinary_vocab_size()) are the ones text encodes to.
  virtual int32_t ordinary_vocab_size() const { return vocab_size() - 3; }

  // Text to ids. InputError naming the text when the tokenizer cannot represent it
  // (a word outside a word list, a byte outside a character alphabet).
  std::vector<int32_t> encode(std::string_view text) const { return encode(text, {}); }
  // Same, but no token crosses any of the given byte offsets (sorted ascending): used to keep
  // tokens inside words when labels are attached to words. Kinds whose tokens cannot cross a
  // boundary anyway ignore the cuts.
  virtual std::vector<int32_t> encode(std::string_view text, const std::vector<size_t>& cuts) const = 0;

  // Ids to text; InputError for an id outside [0, vocab_size).
  virtual std::string decode(const std::vector<int32_t>& ids, SpecialTokenText specials = SpecialTokenText::show) const;
  // The bytes one id stands for (specials: their names, e.g. "<|bos|>"); InputError outside the vocabulary.
  const std::string& token_bytes(int32_t id) const;

  // The JSON text above: the fields every kind has, and the kind's own (add_kind_fields).
  std::string to_json() const;

 protected:
  virtual void add_kind_fields(nlohmann::json& j) const = 0;  // merges, alphabet or words, pretokenizer
  std::vector<std::string> token_bytes_;                      // [vocab_size]: what each id decodes to
};

extern const char* const kSpecialTokenNames[3];  // "<|bos|>", "<|eos|>", "<|pad|>"

// Parses a tokenizer from its JSON text; `what` names the source in errors (a file, "/tokenizer").
std::unique_ptr<Tokenizer> tokenizer_from_json(const std::string& json_text, const std::string& what);
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);
// Writes path + ".tmp" and renames it into place.
void save_tokenizer(const Tokenizer& tokenizer, const std::string& path);

const char* tokenizer_kind_name(TokenizerKind kind);

// Hex helpers for the JSON format ("e2809c" <-> the three bytes); from_hex throws InputError(what, ...).
std::string to_hex(std::string_view bytes);
std::string from_hex(std::string_view hex, const std::string& what);

}  // namespace headlab
