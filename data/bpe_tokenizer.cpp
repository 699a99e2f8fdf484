#include "data/bpe_tokenizer.h"

#include <algorithm>
#include <climits>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "data/bpe_pretokenize.h"

namespace headlab {
namespace {

inline uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

// Texts shorter than this are encoded without a chunk cache: building one costs more than it saves.
constexpr size_t kCacheFromBytes = 4096;

}  // namespace

BpeTokenizer::BpeTokenizer(std::vector<BpeMerge> merges, const std::string& what) : merges_(std::move(merges)) {
  token_bytes_.reserve(256 + merges_.size() + 3);
  for (int b = 0; b < 256; ++b) token_bytes_.push_back(std::string(1, char(b)));
  merge_rank_.reserve(merges_.size() * 2);
  for (size_t i = 0; i < merges_.size(); ++i) {
    const BpeMerge m = merges_[i];
    const int32_t next_id = int32_t(256 + i);
    if (m.left < 0 || m.right < 0 || m.left >= next_id || m.right >= next_id)
      throw InputError(what, "merge " + std::to_string(i) + " names id " + std::to_string(std::max(m.left, m.right)) +
                                 ", which does not exist before id " + std::to_string(next_id));
    if (!merge_rank_.emplace(pair_key(m.left, m.right), int32_t(i)).second)
      throw InputError(what, "merge " + std::to_string(i) + " repeats an earlier merge");
    token_bytes_.push_back(token_bytes_[m.left] + token_bytes_[m.right]);
  }
  for (const char* name : kSpecialTokenNames) token_bytes_.push_back(name);
}

// GPT-2's rule: repeatedly merge every occurrence of the adjacent pair whose merge came first.
void BpeTokenizer::encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const {
  thread_local std::vector<int32_t> symbols;  // [chunk length], shrinking as merges apply
  symbols.assign(chunk.size(), 0);
  for (size_t i = 0; i < chunk.size(); ++i) symbols[i] = (unsigned char)chunk[i];
  while (symbols.size() > 1) {
    int32_t best_rank = INT32_MAX;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merge_rank_.find(pair_key(symbols[i], symbols[i + 1]));
      if (it != merge_rank_.end() && it->second < best_rank) best_rank = it->second;
    }
    if (best_rank == INT32_MAX) break;
    const BpeMerge m = merges_[best_rank];
    size_t kept = 0;
    for (size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && symbols[i] == m.left && symbols[i + 1] == m.right) {
        symbols[kept++] = 256 + best_rank;
        ++i;
      } else {
        symbols[kept++] = symbols[i];
      }
    }
    symbols.resize(kept);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, const std::vector<size_t>& cuts) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  if (text.size() < kCacheFromBytes) {
    for_each_pretoken(text, cuts.data(), cuts.size(),
                      [&](size_t b, size_t e) { encode_chunk(text.substr(b, e - b), out); });
    return out;
  }
  // Long texts repeat their chunks ("the", " of", ...): encode each distinct chunk once.
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;  // chunk -> (start, count) in out
  for_each_pretoken(text, cuts.data(), cuts.size(), [&](size_t b, size_t e) {
    const std::string_view chunk = text.substr(b, e - b);
    auto it = cache.find(chunk);
    if (it != cache.end()) {
      const size_t start = it->second.first, count = it->second.second;
      for (size_t k = 0; k < count; ++k) out.push_back(out[start + k]);
      return;
    }
    const size_t start = out.size();
    encode_chunk(chunk, out);
    cache.emplace(chunk, std::make_pair(uint32_t(start), uint32_t(out.size() - start)));
  });
  return out;
}

void BpeTokenizer::add_kind_fields(nlohmann::json& j) const {
  j["pretokenizer"] = "gpt2-bytes";
  nlohmann::json merges = nlohmann::json::array();
  for (const BpeMerge& m : merges_) merges.push_back({m.left, m.right});
  j["merges"] = std::move(merges);
}

}  // namespace headlab
