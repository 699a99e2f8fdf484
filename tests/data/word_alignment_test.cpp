// Word labels onto tokens, on hand-made tokenizations.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "data/bpe_tokenizer.h"
#include "data/char_tokenizer.h"
#include "data/word_alignment.h"

using namespace headlab;

namespace {

// Merges that make " the" (258), " cat" (261) and ".\"" (262), a token that crosses from one word (the
// period) into the next (the closing quote) when nothing stops it.
BpeTokenizer hand_bpe() {
  return BpeTokenizer({{' ', 't'},
                       {256, 'h'},
                       {257, 'e'},  // " t", " th", " the"
                       {' ', 'c'},
                       {259, 'a'},
                       {260, 't'},  // " c", " ca", " cat"
                       {'.', '"'}});
}

std::vector<WordSpan> spans(const std::vector<std::pair<size_t, size_t>>& v) {
  std::vector<WordSpan> s;
  for (auto [b, e] : v) s.push_back({b, e});
  return s;
}

}  // namespace

TEST(DataWordAlignmentTest, EveryTokenOfAWordCarriesItsTag) {
  const BpeTokenizer tok = hand_bpe();
  // "the cats sat\n" : words the [0,3), cats [4,8), sat [9,12); the newline belongs to none.
  const std::string text = "the cats sat\n";
  const std::vector<WordSpan> words = spans({{0, 3}, {4, 8}, {9, 12}});
  const std::vector<int32_t> tokens = tok.encode(text, word_end_cuts(words));
  ASSERT_EQ(tok.decode(tokens), text);
  std::vector<std::string> pieces;
  for (int32_t t : tokens) pieces.push_back(tok.token_bytes(t));
  EXPECT_EQ(pieces, (std::vector<std::string>{"t", "h", "e", " cat", "s", " ", "s", "a", "t", "\n"}));
  const TokenWordAlignment a = align_tokens_to_words(tok, tokens, words);
  EXPECT_EQ(a.word, (std::vector<int32_t>{0, 0, 0, 1, 1, -1, 2, 2, 2, -1}));
  EXPECT_EQ(a.word_start, (std::vector<int32_t>{1, 0, 0, 1, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(a.words_starting_mid_token, 0);
  const std::vector<int32_t> tags = {5, 0, 1};  // DET NOUN VERB
  EXPECT_EQ(labels_per_token(a, tags), (std::vector<int32_t>{5, 5, 5, 0, 0, -1, 1, 1, 1, -1}));
}

TEST(DataWordAlignmentTest, WordCutsKeepTokensInsideWords) {
  const BpeTokenizer tok = hand_bpe();
  // ' the cat."' is four words: the, cat, the period, the closing quote. Without cuts BPE makes ".\"".
  const std::string text = " the cat.\"";
  const std::vector<WordSpan> words = spans({{1, 4}, {5, 8}, {8, 9}, {9, 10}});
  const std::vector<int32_t> plain = tok.encode(text);
  const TokenWordAlignment crossing = align_tokens_to_words(tok, plain, words);
  EXPECT_EQ(tok.token_bytes(plain.back()), ".\"");
  EXPECT_EQ(crossing.words_starting_mid_token, 1);  // the quote has no token of its own
  EXPECT_EQ(crossing.word.back(), 2);               // ".\"" belongs to the period, where it starts

  const std::vector<int32_t> cut = tok.encode(text, word_end_cuts(words));
  const TokenWordAlignment a = align_tokens_to_words(tok, cut, words);
  EXPECT_EQ(tok.decode(cut), text);
  EXPECT_EQ(a.words_starting_mid_token, 0);
  EXPECT_EQ(a.word, (std::vector<int32_t>{0, 1, 2, 3}));  // " the", " cat", ".", "\""
  EXPECT_EQ(a.word_start, (std::vector<int32_t>{1, 1, 1, 1}));
}

TEST(DataWordAlignmentTest, CharactersAlignOneByOneAndShortTokensAreAnError) {
  const CharTokenizer tok = CharTokenizer::all_bytes();
  const std::vector<WordSpan> words = spans({{0, 2}, {3, 4}});
  const TokenWordAlignment a = align_tokens_to_words(tok, tok.encode("ab c"), words);
  EXPECT_EQ(a.word, (std::vector<int32_t>{0, 0, -1, 1}));
  EXPECT_EQ(a.word_start, (std::vector<int32_t>{1, 0, 0, 1}));
  EXPECT_THROW(align_tokens_to_words(tok, tok.encode("ab"), words), InputError);
}
