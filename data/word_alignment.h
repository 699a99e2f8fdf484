// Attaching word-level labels (part-of-speech tags) to tokens. Each token carries the label of the word
// its bytes overlap (the first such word, should a token span two); tokens of whitespace only (the
// newline between paragraphs) and special tokens carry -1. word_start is 1 on the token that holds a
// word's first byte, 0 elsewhere.
#pragma once
#include <cstdint>
#include <vector>

#include "data/tokenizer.h"

namespace headlab {

struct WordSpan {
  size_t begin = 0, end = 0;  // byte offsets into the text, end exclusive
};

struct TokenWordAlignment {
  std::vector<int32_t> word;             // [n_tokens] index of the token's word, -1 for none
  std::vector<int32_t> word_start;       // [n_tokens] 0 or 1
  int64_t words_starting_mid_token = 0;  // words whose first byte sits in a token owned by an earlier word
                                         // (0 when the text was encoded with word_end_cuts)
};

// tokens: the encoding of the text (no special tokens), so that their bytes laid end to end are the text.
// words: sorted, non-overlapping. InputError when the tokens' bytes are shorter than a word's end.
TokenWordAlignment align_tokens_to_words(const Tokenizer& tokenizer, const std::vector<int32_t>& tokens,
                                         const std::vector<WordSpan>& words);

// labels[word] for each token, -1 where the token has no word.
std::vector<int32_t> labels_per_token(const TokenWordAlignment& alignment, const std::vector<int32_t>& word_labels);

// Byte offsets to pass as `cuts` to Tokenizer::encode so that no token crosses from one word into the
// next: the end of every word.
std::vector<size_t> word_end_cuts(const std::vector<WordSpan>& words);

}  // namespace headlab
