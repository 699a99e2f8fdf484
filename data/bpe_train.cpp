// BPE training: count the distinct pre-token chunks once, then merge the most frequent adjacent pair
// until the vocabulary is full. Pair counts are kept up to date incrementally (only the chunks that
// contain the merged pair are touched), and a max-heap with lazy deletion finds the next pair.
#include <algorithm>
#include <map>
#include <queue>
#include <unordered_map>

#include "core/errors.h"
#include "core/limits.h"
#include "data/bpe_pretokenize.h"
#include "data/bpe_tokenizer.h"

namespace headlab {
namespace {

inline uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

struct Chunk {
  std::vector<int32_t> symbols;  // [current length]
  int64_t count = 0;
};

struct HeapEntry {
  int64_t count;
  uint64_t key;
  // The most frequent pair first; among equals the smaller (left, right), so training is deterministic.
  bool operator<(const HeapEntry& other) const {
    if (count != other.count) return count < other.count;
    return key > other.key;
  }
};

std::vector<Chunk> count_chunks(const std::vector<std::string>& texts, BpeTrainingReport& report) {
  std::unordered_map<std::string_view, int64_t> counts;
  for (const std::string& text : texts) {
    const std::string_view view(text);
    for_each_pretoken(view, nullptr, 0, [&](size_t b, size_t e) {
      ++counts[view.substr(b, e - b)];
      ++report.n_chunks;
    });
  }
  // Sorted, so that the chunk order (and with it every later step) does not depend on hashing.
  std::vector<std::pair<std::string_view, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<Chunk> chunks;
  chunks.reserve(sorted.size());
  for (const auto& [text, count] : sorted) {
    if (text.size() < 2) continue;  // nothing to merge inside
    Chunk c;
    c.symbols.assign(text.begin(), text.end());
    for (int32_t& s : c.symbols) s = int32_t(uint8_t(s));
    c.count = count;
    chunks.push_back(std::move(c));
  }
  report.n_distinct_chunks = int64_t(sorted.size());
  return chunks;
}

class PairStatistics {
 public:
  explicit PairStatistics(const std::vector<Chunk>& chunks) {
    for (size_t w = 0; w < chunks.size(); ++w) {
      const auto& s = chunks[w].symbols;
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t key = pair_key(s[i], s[i + 1]);
        count_[key] += chunks[w].count;
        where_[key].push_back(int32_t(w));
      }
    }
    for (const auto& [key, count] : count_) heap_.push({count, key});
  }

  // The most frequent pair and its count, or count 0 when none is left.
  HeapEntry best() {
    while (!heap_.empty()) {
      const HeapEntry top = heap_.top();
      auto it = count_.find(top.key);
      if (it != count_.end() && it->second == top.count) return top;
      heap_.pop();  // stale: the pair's count changed after this entry was pushed
    }
    return {0, 0};
  }

  // Replaces every occurrence of the pair by new_id in the chunks that hold it.
  void merge(std::vector<Chunk>& chunks, uint64_t key, int32_t new_id) {
    const int32_t left = int32_t(key >> 32), right = int32_t(key & 0xffffffffu);
    std::vector<int32_t> holders = std::move(where_[key]);
    where_.erase(key);
    std::sort(holders.begin(), holders.end());
    holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    std::unordered_map<uint64_t, int64_t> delta;
    for (int32_t w : holders) {
      Chunk& chunk = chunks[w];
      std::vector<int32_t>& s = chunk.symbols;
      for (size_t i = 0; i + 1 < s.size(); ++i) delta[pair_key(s[i], s[i + 1])] -= chunk.count;
      size_t kept = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
          s[kept++] = new_id;
          ++i;
        } else {
          s[kept++] = s[i];
        }
      }
      s.resize(kept);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = pair_key(s[i], s[i + 1]);
        delta[k] += chunk.count;
        if (s[i] == new_id || s[i + 1] == new_id) where_[k].push_back(w);
      }
    }
    for (const auto& [k, d] : delta) {
      if (d == 0) continue;
      const int64_t now = (count_[k] += d);
      if (now > 0)
        heap_.push({now, k});
      else
        count_.erase(k);
    }
    count_.erase(key);
  }

 private:
  std::unordered_map<uint64_t, int64_t> count_;
  std::unordered_map<uint64_t, std::vector<int32_t>> where_;  // chunks that hold the pair (may hold stale ones)
  std::priority_queue<HeapEntry> heap_;
};

}  // namespace

void check_bpe_vocab_size(int64_t vocab_size) {
  if (vocab_size < 259 || vocab_size > kMaxVocabSize)
    throw InputError("--vocab-size", "expected 259 (256 bytes + 3 special tokens) to " + std::to_string(kMaxVocabSize) +
                                         ", got " + std::to_string(vocab_size));
}

BpeTokenizer train_bpe(const std::vector<std::string>& texts, const BpeTrainingOptions& options,
                       BpeTrainingReport* report_out) {
  check_bpe_vocab_size(options.vocab_size);
  BpeTrainingReport report;
  std::vector<Chunk> chunks = count_chunks(texts, report);
  PairStatistics stats(chunks);
  const int32_t n_merges_wanted = options.vocab_size - 256 - 3;
  std::vector<BpeMerge> merges;
  merges.reserve(size_t(std::min<int32_t>(n_merges_wanted, 1 << 16)));  // a corpus may stop it far earlier
  while (int32_t(merges.size()) < n_merges_wanted) {
    const HeapEntry best = stats.best();
    if (best.count < std::max<int64_t>(options.min_pair_count, 1)) {
      report.stopped_early = true;
      break;
    }
    merges.push_back({int32_t(best.key >> 32), int32_t(best.key & 0xffffffffu)});
    stats.merge(chunks, best.key, int32_t(256 + merges.size() - 1));
  }
  report.n_merges = int32_t(merges.size());
  if (report_out) *report_out = report;
  return BpeTokenizer(std::move(merges));
}

}  // namespace headlab
