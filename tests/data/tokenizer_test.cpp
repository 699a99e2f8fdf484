// Tokenizers: GPT-2 style pre-tokenization, BPE training and encoding (against a naive merge loop),
// byte-exact round trips, the character and word tokenizers, and the JSON file format.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "core/errors.h"
#include "data/bpe_pretokenize.h"
#include "data/bpe_tokenizer.h"
#include "data/char_tokenizer.h"
#include "data/word_tokenizer.h"
#include "tests/temp_dir.h"

using namespace headlab;

namespace {

std::vector<std::string> chunks_of(const std::string& text, std::vector<size_t> cuts = {}) {
  std::vector<std::string> chunks;
  for_each_pretoken(text, cuts.data(), cuts.size(),
                    [&](size_t b, size_t e) { chunks.push_back(text.substr(b, e - b)); });
  return chunks;
}

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = char(rng() & 0xff);
  return s;
}

// English-like text with digits, punctuation, runs of spaces and newlines: enough repeated pairs for BPE.
std::vector<std::string> training_texts() {
  const std::vector<std::string> words = {"the",  "cat",   "sat",  "on",   "mat", "and", "then", "there",      "they",
                                          "thin", "don't", "it's", "1960", "42",  "!!",  "...",  "caf\xc3\xa9"};
  std::mt19937_64 rng(7);
  std::vector<std::string> texts;
  for (int d = 0; d < 20; ++d) {
    std::string t;
    for (int w = 0; w < 200; ++w) {
      t += words[rng() % words.size()];
      t += (rng() % 17 == 0) ? "\n\n" : (rng() % 11 == 0 ? "  " : " ");
    }
    texts.push_back(t);
  }
  return texts;
}

BpeTokenizer small_bpe(int32_t vocab_size = 400) {
  BpeTrainingOptions o;
  o.vocab_size = vocab_size;
  return train_bpe(training_texts(), o);
}

// The reference: apply every merge, in order, to every chunk (GPT-2's lowest-rank-first loop gives the
// same result, since a merge never makes a pair of an earlier merge).
std::vector<int32_t> naive_bpe_encode(const BpeTokenizer& tok, const std::string& text) {
  std::vector<int32_t> out;
  for (const std::string& chunk : chunks_of(text)) {
    std::vector<int32_t> s;
    for (unsigned char c : chunk) s.push_back(c);
    for (size_t m = 0; m < tok.merges().size(); ++m) {
      std::vector<int32_t> next;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == tok.merges()[m].left && s[i + 1] == tok.merges()[m].right) {
          next.push_back(int32_t(256 + m));
          ++i;
        } else {
          next.push_back(s[i]);
        }
      }
      s = next;
    }
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

}  // namespace

TEST(DataPretokenizeTest, SplitsLikeGpt2Pattern) {
  EXPECT_EQ(chunks_of("Hello world's 123 abc!!"),
            (std::vector<std::string>{"Hello", " world", "'s", " 123", " abc", "!!"}));
  // A run of spaces leaves its last space to the next word; a newline stands alone.
  EXPECT_EQ(chunks_of("a   b\n\nc"), (std::vector<std::string>{"a", "  ", " b", "\n", "\n", "c"}));
  EXPECT_EQ(chunks_of("they'll don't I'm we've"),
            (std::vector<std::string>{"they", "'ll", " don", "'t", " I", "'m", " we", "'ve"}));
  EXPECT_EQ(chunks_of("x1y2 \"Hi.\""), (std::vector<std::string>{"x", "1", "y", "2", " \"", "Hi", ".\""}));
  // Trailing whitespace is one chunk; bytes >= 0x80 are letters, so UTF-8 words stay whole.
  EXPECT_EQ(chunks_of("caf\xc3\xa9 na\xefve  "), (std::vector<std::string>{"caf\xc3\xa9", " na\xefve", "  "}));
}

TEST(DataPretokenizeTest, CutsAtGivenOffsetsAndCapsLongRuns) {
  EXPECT_EQ(chunks_of(" hello.\"", {7}), (std::vector<std::string>{" hello", ".", "\""}));
  EXPECT_EQ(chunks_of(" hello.\"", {6}), (std::vector<std::string>{" hello", ".\""}));
  const std::string long_word(kMaxChunkBytes * 2 + 5, 'a');
  const std::vector<std::string> chunks = chunks_of(long_word);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].size(), kMaxChunkBytes);
  EXPECT_EQ(chunks[2].size(), 5u);
}

TEST(DataBpeTokenizerTest, RoundTripsRandomBytes) {
  const BpeTokenizer tok = small_bpe();
  ASSERT_GT(tok.merges().size(), 50u);
  std::mt19937_64 rng(11);
  for (size_t n : {0, 1, 2, 3, 17, 255, 4096, 20000}) {
    const std::string text = random_bytes(rng, n);  // mostly invalid UTF-8
    EXPECT_EQ(tok.decode(tok.encode(text)), text) << "length " << n;
  }
  // Text the merges apply to, and the special tokens' names as plain text.
  for (const std::string& text : training_texts()) EXPECT_EQ(tok.decode(tok.encode(text)), text);
  const std::string specials = "<|bos|> <|eos|><|pad|>";
  for (int32_t id : tok.encode(specials)) EXPECT_FALSE(tok.is_special(id));
  EXPECT_EQ(tok.decode(tok.encode(specials)), specials);
}

TEST(DataBpeTokenizerTest, EncodesLikeNaiveMergeLoop) {
  const BpeTokenizer tok = small_bpe();
  std::mt19937_64 rng(5);
  std::vector<std::string> texts = training_texts();
  texts.push_back(random_bytes(rng, 3000));
  texts.push_back("the thin cat, then there: they don't!! 1960 42 caf\xc3\xa9");
  for (const std::string& text : texts) {
    const std::vector<int32_t> fast = tok.encode(text), naive = naive_bpe_encode(tok, text);
    EXPECT_EQ(fast, naive);
    EXPECT_LT(fast.size(), text.size() + 1);
  }
  // The chunk cache (texts of 4 KiB and more) gives the same ids as chunk-by-chunk encoding.
  std::string joined;
  for (const std::string& t : training_texts()) joined += t;
  EXPECT_EQ(tok.encode(joined), naive_bpe_encode(tok, joined));
}

TEST(DataBpeTokenizerTest, TrainingIsDeterministic) {
  const BpeTokenizer a = small_bpe(), b = small_bpe();
  EXPECT_EQ(a.to_json(), b.to_json());
  // The input order does not matter either: chunks are counted, then sorted.
  std::vector<std::string> reversed = training_texts();
  std::reverse(reversed.begin(), reversed.end());
  BpeTrainingOptions o;
  o.vocab_size = 400;
  EXPECT_EQ(train_bpe(reversed, o).to_json(), a.to_json());
}

TEST(DataBpeTokenizerTest, MergesMostFrequentPairFirstAndBreaksTiesBySmallerIds) {
  // Chunks: "ab", " ab" x5, " cd" x3, " xy", " pq". Pairs: ab 6, " a" 5, " c" 3, cd 3, the rest once.
  BpeTrainingOptions o;
  o.vocab_size = 300;
  BpeTrainingReport report;
  const BpeTokenizer tok = train_bpe({"ab ab ab ab ab ab cd cd cd xy pq"}, o, &report);
  ASSERT_EQ(tok.merges().size(), 4u);  // a pair seen once is never merged
  const std::vector<std::pair<int32_t, int32_t>> expected = {
      {'a', 'b'},   // 6
      {' ', 256},   // " ab" 5
      {' ', 'c'},   // 3, tied with (c, d): the smaller left id wins
      {258, 'd'}};  // " cd" 3
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(tok.merges()[i].left, expected[i].first) << "merge " << i;
    EXPECT_EQ(tok.merges()[i].right, expected[i].second) << "merge " << i;
  }
  EXPECT_TRUE(report.stopped_early);
  EXPECT_EQ(tok.vocab_size(), 256 + 4 + 3);
  EXPECT_EQ(tok.encode(" ab"), (std::vector<int32_t>{257}));
  EXPECT_EQ(tok.encode(" cd ab"), (std::vector<int32_t>{259, 257}));
  EXPECT_EQ(tok.encode(" xy").size(), 3u);
}

TEST(DataBpeTokenizerTest, RejectsTooSmallVocabulary) {
  BpeTrainingOptions o;
  o.vocab_size = 100;
  EXPECT_THROW(train_bpe({"abc"}, o), InputError);
}

TEST(DataCharTokenizerTest, AllBytesRoundTripAndLearnedAlphabetRejectsOthers) {
  const CharTokenizer all = CharTokenizer::all_bytes();
  EXPECT_EQ(all.vocab_size(), 259);
  std::mt19937_64 rng(3);
  const std::string text = random_bytes(rng, 1000);
  const std::vector<int32_t> ids = all.encode(text);
  EXPECT_EQ(ids.size(), text.size());
  EXPECT_EQ(all.decode(ids), text);

  const CharTokenizer learned = CharTokenizer::from_texts({"hello world"});
  EXPECT_EQ(learned.vocab_size(), 8 + 3);  // " dehlorw"
  EXPECT_EQ(learned.decode(learned.encode("lower hold")), "lower hold");
  EXPECT_THROW(learned.encode("hex"), InputError);
}

TEST(DataWordTokenizerTest, SplitsPunctuationAndDecodesReadably) {
  const WordTokenizer tok = WordTokenizer::from_texts({"When Mary went to the store, John gave a drink to"});
  EXPECT_EQ(WordTokenizer::split("store, John."), (std::vector<std::string>{"store", ",", "John", "."}));
  const std::vector<int32_t> ids = tok.encode("the store, Mary");
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(tok.decode(ids), "the store, Mary");
  EXPECT_EQ(tok.encode(" Mary").size(), 1u);
  EXPECT_EQ(tok.decode({tok.special().bos}), "<|bos|>");
  EXPECT_EQ(tok.decode({tok.special().bos, ids[0]}, SpecialTokenText::skip), "the");
  EXPECT_THROW(tok.encode("Mary went home"), InputError);
  EXPECT_THROW(WordTokenizer({"a", "a"}), InputError);
  EXPECT_THROW(WordTokenizer({"two words"}), InputError);
}

TEST(DataTokenizerJsonTest, EveryKindSurvivesJson) {
  const BpeTokenizer bpe = small_bpe();
  const CharTokenizer chars = CharTokenizer::from_texts({"abc\xff"});
  const WordTokenizer words = WordTokenizer::from_texts({"one two, three"});
  const std::vector<const Tokenizer*> all = {&bpe, &chars, &words};
  for (const Tokenizer* t : all) {
    const std::unique_ptr<Tokenizer> back = tokenizer_from_json(t->to_json(), "test");
    EXPECT_EQ(back->kind(), t->kind());
    EXPECT_EQ(back->vocab_size(), t->vocab_size());
    EXPECT_EQ(back->to_json(), t->to_json());
  }
  const std::string text = "the cat sat on the mat";
  EXPECT_EQ(tokenizer_from_json(bpe.to_json(), "test")->encode(text), bpe.encode(text));
}

TEST(DataTokenizerJsonTest, SavesAtomicallyAndLoads) {
  const headlab::testing::TempDir dir;
  const std::string path = dir.path("tokenizer_test.json");
  const BpeTokenizer bpe = small_bpe();
  save_tokenizer(bpe, path);
  EXPECT_EQ(load_tokenizer(path)->to_json(), bpe.to_json());
  std::ifstream tmp(path + ".tmp");
  EXPECT_FALSE(tmp.good());
  std::remove(path.c_str());
  EXPECT_THROW(load_tokenizer(path), InputError);
}

TEST(DataTokenizerJsonTest, RejectsCorruptFiles) {
  const std::string good = small_bpe().to_json();
  const std::vector<std::string> bad = {
      good.substr(0, good.size() / 2),                         // cut short
      "[1, 2, 3]",                                             // not an object
      R"({"format": "something.else", "format_version": 1})",  // another format
      R"({"format":"headlab.tokenizer","format_version":2,"type":"bpe","merges":[]})",
      R"({"format":"headlab.tokenizer","format_version":1,"type":"bpe","merges":[[300,1]],"vocab_size":260,)"
      R"("special_tokens":{"bos":257,"eos":258,"pad":259}})",  // a merge naming a later id
      R"({"format":"headlab.tokenizer","format_version":1,"type":"bpe","merges":[],"vocab_size":300,)"
      R"("special_tokens":{"bos":256,"eos":257,"pad":258}})",  // vocab_size disagrees
      R"({"format":"headlab.tokenizer","format_version":1,"type":"morse"})",
      R"({"format":"headlab.tokenizer","format_version":1,"type":"bpe","merges":"no"})",
  };
  for (const std::string& text : bad) EXPECT_THROW(tokenizer_from_json(text, "bad.json"), InputError) << text;
  // token_bytes that disagree with the merges.
  std::string edited = good;
  const size_t at = edited.find("\"token_bytes\":[\"00\"");
  ASSERT_NE(at, std::string::npos);
  edited.replace(at, 19, "\"token_bytes\":[\"01\"");
  EXPECT_THROW(tokenizer_from_json(edited, "bad.json"), InputError);
}
