#include "data/gpt2_tokenizer.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "data/gpt2_pretokenize.h"

namespace headlab {
namespace {

inline uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

constexpr size_t kCacheFromBytes = 4096;  // shorter texts are encoded without a chunk cache

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) throw InputError(path, "is a folder; expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string utf8_of(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xc0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3f));
  } else {
    s += char(0xe0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3f));
    s += char(0x80 | (cp & 0x3f));
  }
  return s;
}

// encoder.json's key (GPT-2's printable alphabet, UTF-8) back to the bytes it stands for.
std::string bytes_of_key(const std::string& key, const std::unordered_map<std::string, unsigned char>& byte_of_char,
                         const std::string& what) {
  std::string bytes;
  for (size_t i = 0; i < key.size();) {
    const unsigned char b = (unsigned char)key[i];
    const size_t len = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    auto it = byte_of_char.find(key.substr(i, len));
    if (it == byte_of_char.end())
      throw InputError(what, "token '" + key + "' has a character outside GPT-2's byte alphabet");
    bytes += char(it->second);
    i += len;
  }
  return bytes;
}

}  // namespace

const std::vector<std::string>& gpt2_byte_to_unicode() {
  // Printable Latin-1 bytes stand for themselves; the other 68 map, in byte order, to U+0100 onwards.
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      t[b] = utf8_of(printable ? b : next++);
    }
    return t;
  }();
  return table;
}

Gpt2Tokenizer::Gpt2Tokenizer(std::vector<std::string> token_bytes, std::vector<std::pair<int32_t, int32_t>> merges,
                             int32_t end_of_text, const std::string& what)
    : merges_(std::move(merges)), end_of_text_(end_of_text) {
  token_bytes_ = std::move(token_bytes);
  const int32_t n = int32_t(token_bytes_.size());
  if (end_of_text_ < 0 || end_of_text_ >= n)
    throw InputError(what, "the end-of-text id " + std::to_string(end_of_text_) + " is outside the vocabulary");
  std::unordered_map<std::string, int32_t> id_of;
  id_of.reserve(token_bytes_.size() * 2);
  for (int32_t id = 0; id < n; ++id) {
    if (token_bytes_[id].empty()) throw InputError(what, "token " + std::to_string(id) + " has no bytes");
    if (!id_of.emplace(token_bytes_[id], id).second)
      throw InputError(what, "tokens " + std::to_string(id_of[token_bytes_[id]]) + " and " + std::to_string(id) +
                                 " stand for the same bytes");
  }
  for (int b = 0; b < 256; ++b) {
    auto it = id_of.find(std::string(1, char(b)));
    if (it == id_of.end()) throw InputError(what, "no token stands for the byte " + std::to_string(b));
    id_of_byte_[b] = it->second;
  }
  // The JavaScript encoder's rank table is keyed by "left,right"; a later merge with the same key wins.
  std::unordered_map<std::string, int32_t> rank_of_key;
  rank_of_key.reserve(merges_.size() * 2);
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto [left, right] = merges_[r];
    if (left < 0 || right < 0 || left >= n || right >= n)
      throw InputError(what, "merge " + std::to_string(r) + " names an id outside the vocabulary");
    rank_of_key[token_bytes_[left] + "," + token_bytes_[right]] = int32_t(r);
  }
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto [left, right] = merges_[r];
    auto made = id_of.find(token_bytes_[left] + token_bytes_[right]);
    if (made == id_of.end())
      throw InputError(what, "merge " + std::to_string(r) + " makes bytes that no token stands for");
    steps_[pair_key(left, right)] = {rank_of_key[token_bytes_[left] + "," + token_bytes_[right]], made->second};
  }
  // Every other split of a key at a comma into two tokens is a pair the JavaScript encoder also merges.
  for (const auto& [key, rank] : rank_of_key) {
    for (size_t p = 1; p + 1 < key.size(); ++p) {
      if (key[p] != ',') continue;
      auto l = id_of.find(key.substr(0, p)), r = id_of.find(key.substr(p + 1));
      if (l == id_of.end() || r == id_of.end() || steps_.count(pair_key(l->second, r->second))) continue;
      auto made = id_of.find(key.substr(0, p) + key.substr(p + 1));
      if (made != id_of.end()) steps_[pair_key(l->second, r->second)] = {rank, made->second};
    }
  }
}

const Gpt2Tokenizer::MergeStep* Gpt2Tokenizer::step_of(int32_t left, int32_t right) const {
  auto it = steps_.find(pair_key(left, right));
  return it == steps_.end() ? nullptr : &it->second;
}

// The JavaScript loop: find the lowest rank among adjacent pairs (the rightmost pair on a tie), then
// merge every occurrence of that pair, left to right.
void Gpt2Tokenizer::encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const {
  thread_local std::vector<int32_t> symbols;
  symbols.resize(chunk.size());
  for (size_t i = 0; i < chunk.size(); ++i) symbols[i] = id_of_byte_[(unsigned char)chunk[i]];
  while (symbols.size() > 1) {
    int32_t best_rank = INT32_MAX, left = -1, right = -1, result = -1;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const MergeStep* s = step_of(symbols[i], symbols[i + 1]);
      if (s && s->rank <= best_rank) {
        best_rank = s->rank, left = symbols[i], right = symbols[i + 1], result = s->result;
      }
    }
    if (result < 0) break;
    size_t kept = 0;
    for (size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
        symbols[kept++] = result;
        ++i;
      } else {
        symbols[kept++] = symbols[i];
      }
    }
    symbols.resize(kept);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

std::vector<int32_t> Gpt2Tokenizer::encode(std::string_view text, const std::vector<size_t>& cuts) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  if (text.size() < kCacheFromBytes) {
    for_each_gpt2_pretoken(text, cuts.data(), cuts.size(),
                           [&](size_t b, size_t e) { encode_chunk(text.substr(b, e - b), out); });
    return out;
  }
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> cache;  // chunk -> (start, count) in out
  for_each_gpt2_pretoken(text, cuts.data(), cuts.size(), [&](size_t b, size_t e) {
    const std::string_view chunk = text.substr(b, e - b);
    auto it = cache.find(chunk);
    if (it != cache.end()) {
      for (size_t k = 0; k < it->second.second; ++k) out.push_back(out[it->second.first + k]);
      return;
    }
    const size_t start = out.size();
    encode_chunk(chunk, out);
    cache.emplace(chunk, std::make_pair(start, out.size() - start));
  });
  return out;
}

void Gpt2Tokenizer::add_kind_fields(nlohmann::json& j) const {
  j["pretokenizer"] = "gpt2-unicode";
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& [l, r] : merges_) merges.push_back({l, r});
  j["merges"] = std::move(merges);
}

bool has_gpt2_tokenizer_files(const std::string& dir) {
  std::error_code ec;
  const std::filesystem::path d(dir);
  return (std::filesystem::exists(d / "encoder.json", ec) && std::filesystem::exists(d / "vocab.bpe", ec)) ||
         (std::filesystem::exists(d / "vocab.json", ec) && std::filesystem::exists(d / "merges.txt", ec));
}

Gpt2Tokenizer import_gpt2_tokenizer(const std::string& dir) {
  std::error_code ec;
  // OpenAI's names, or Hugging Face's for the same two files.
  std::string encoder_path = (std::filesystem::path(dir) / "encoder.json").string();
  std::string vocab_path = (std::filesystem::path(dir) / "vocab.bpe").string();
  if (!std::filesystem::exists(encoder_path, ec) &&
      std::filesystem::exists(std::filesystem::path(dir) / "vocab.json", ec)) {
    encoder_path = (std::filesystem::path(dir) / "vocab.json").string();
    vocab_path = (std::filesystem::path(dir) / "merges.txt").string();
  }
  if (!std::filesystem::is_directory(dir, ec))
    throw InputError(dir,
                     "not a folder (expected one holding GPT-2's encoder.json and vocab.bpe, or vocab.json and "
                     "merges.txt)");
  const std::vector<std::string>& b2u = gpt2_byte_to_unicode();
  std::unordered_map<std::string, unsigned char> byte_of_char;
  for (int b = 0; b < 256; ++b) byte_of_char[b2u[b]] = (unsigned char)b;

  nlohmann::json encoder;
  try {
    encoder = nlohmann::json::parse(read_file(encoder_path));
  } catch (const nlohmann::json::exception&) {
    throw InputError(encoder_path, "not valid JSON");
  }
  if (!encoder.is_object() || encoder.empty())
    throw InputError(encoder_path, "expected a JSON object from token to id");
  const size_t n = encoder.size();
  std::vector<std::string> keys(n);
  std::vector<bool> seen(n, false);
  for (const auto& [key, value] : encoder.items()) {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() >= int64_t(n))
      throw InputError(encoder_path,
                       "token '" + key + "' has id " + value.dump() + ", expected 0.." + std::to_string(n - 1));
    const int64_t id = value.get<int64_t>();
    if (seen[id]) throw InputError(encoder_path, "id " + std::to_string(id) + " is given to two tokens");
    seen[id] = true;
    keys[id] = key;
  }
  std::unordered_map<std::string, int32_t> id_of_key;
  for (size_t id = 0; id < n; ++id) id_of_key[keys[id]] = int32_t(id);

  const std::string vocab = read_file(vocab_path);
  if (vocab.rfind("#version", 0) != 0) throw InputError(vocab_path, "expected a first line '#version: ...'");
  // As GPT-2's own loader: the first line and whatever follows the last newline are not merges.
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<bool> made(n, false);
  size_t line_start = vocab.find('\n');
  size_t line_no = 1;
  while (line_start != std::string::npos) {
    const size_t next = vocab.find('\n', line_start + 1);
    if (next == std::string::npos) break;
    ++line_no;
    std::istringstream line(vocab.substr(line_start + 1, next - line_start - 1));
    std::string left, right, extra;
    if (!(line >> left >> right) || (line >> extra))
      throw InputError(vocab_path, "line " + std::to_string(line_no) + ": expected two tokens");
    auto l = id_of_key.find(left), r = id_of_key.find(right), m = id_of_key.find(left + right);
    if (l == id_of_key.end() || r == id_of_key.end() || m == id_of_key.end())
      throw InputError(vocab_path, "line " + std::to_string(line_no) + ": merge '" + left + " " + right +
                                       "' names a token encoder.json lacks (the two files do not match)");
    merges.emplace_back(l->second, r->second);
    made[m->second] = true;
    line_start = next;
  }
  std::vector<std::string> bytes(n);
  for (size_t id = 0; id < n; ++id) bytes[id] = bytes_of_key(keys[id], byte_of_char, encoder_path);
  for (int b = 0; b < 256; ++b) {
    auto it = id_of_key.find(b2u[b]);
    if (it == id_of_key.end())
      throw InputError(encoder_path, "no token for the byte " + std::to_string(b) + " (not GPT-2's byte alphabet)");
    made[it->second] = true;
  }
  int32_t end_of_text = -1;
  for (size_t id = 0; id < n; ++id) {
    if (made[id]) continue;
    if (keys[id] != "<|endoftext|>" || end_of_text >= 0)
      throw InputError(vocab_path,
                       "no merge makes encoder.json's token '" + keys[id] + "' (the two files do not match)");
    end_of_text = int32_t(id);
  }
  if (end_of_text < 0) throw InputError(encoder_path, "has no <|endoftext|> token");
  return Gpt2Tokenizer(std::move(bytes), std::move(merges), end_of_text, encoder_path);
}

}  // namespace headlab
