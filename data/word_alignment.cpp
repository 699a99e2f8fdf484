#include "data/word_alignment.h"

#include "core/errors.h"

namespace headlab {

TokenWordAlignment align_tokens_to_words(const Tokenizer& tokenizer, const std::vector<int32_t>& tokens,
                                         const std::vector<WordSpan>& words) {
  TokenWordAlignment a;
  a.word.assign(tokens.size(), -1);
  a.word_start.assign(tokens.size(), 0);
  size_t w = 0, begin = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const size_t end = begin + tokenizer.token_bytes(tokens[t]).size();
    while (w < words.size() && words[w].end <= begin) ++w;  // words wholly before this token
    if (w < words.size() && words[w].begin < end) {
      a.word[t] = int32_t(w);
      if (words[w].begin >= begin) a.word_start[t] = 1;
      // Later words that start inside this token get no token of their own.
      for (size_t v = w + 1; v < words.size() && words[v].begin < end; ++v) ++a.words_starting_mid_token;
    }
    begin = end;
  }
  if (!words.empty() && words.back().end > begin)
    throw InputError("word spans", "a word ends at byte " + std::to_string(words.back().end) +
                                       " but the tokens cover only " + std::to_string(begin) + " bytes");
  return a;
}

std::vector<int32_t> labels_per_token(const TokenWordAlignment& alignment, const std::vector<int32_t>& word_labels) {
  std::vector<int32_t> labels(alignment.word.size(), -1);
  for (size_t t = 0; t < labels.size(); ++t)
    if (alignment.word[t] >= 0) labels[t] = word_labels.at(size_t(alignment.word[t]));
  return labels;
}

std::vector<size_t> word_end_cuts(const std::vector<WordSpan>& words) {
  std::vector<size_t> cuts;
  cuts.reserve(words.size());
  for (const WordSpan& w : words) cuts.push_back(w.end);
  return cuts;
}

}  // namespace headlab
