// The Brown corpus as headlab data: plain-text documents, per-word tags (full Brown and universal), a
// document-level train / validation / test split, a BPE trained on the train split, and one token
// dataset (stream) per split with /labels/pos_tag, /labels/brown_tag and /labels/word_start aligned to
// the tokens. Each document starts with BOS; labels are -1 on BOS and on whitespace-only tokens.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/brown.h"
#include "data/dataset_annotations.h"
#include "data/token_dataset.h"
#include "data/tokenizer.h"

namespace headlab {

// The distinct full Brown tags of the documents, sorted: the meaning of /labels/brown_tag values.
std::vector<std::string> brown_tag_vocabulary(const std::vector<BrownDocument>& docs);

struct BrownEncodingStats {
  int64_t bytes = 0, tokens = 0;  // text bytes and tokens (without BOS)
  int64_t words = 0, words_starting_mid_token = 0;
  double encode_seconds = 0;  // the tokenizer's time alone
};

// The stream dataset of the given documents (in the given order), with labels.
TokenDataset brown_token_dataset(const std::vector<BrownDocument>& docs, const std::vector<size_t>& which,
                                 const Tokenizer& tokenizer, const std::vector<std::string>& tag_vocabulary,
                                 BrownEncodingStats* stats = nullptr);

// The annotations written beside a split's dataset: label names, the split, its document ids and the
// Brown-to-universal tag mapping.
DatasetAnnotations brown_annotations(const std::vector<BrownDocument>& docs, const std::vector<size_t>& which,
                                     const std::string& split, const std::vector<std::string>& tag_vocabulary);

struct BrownExportOptions {
  std::string corpus_dir;  // empty: default_brown_dir()
  std::string out_dir;
  std::string tokenizer_path;  // empty: train a BPE on the train split
  int32_t vocab_size = 8192;
  uint64_t seed = 1;
};

// Everything `headlab-data brown` writes under out_dir:
//   text/<id>.txt, {train,validation,test}.jsonl (one document per line: id, genre, text, words as
//   [begin, end] byte spans, brown_tags, pos_tags), tags.json (both tag sets and the mapping),
//   splits.json, tokenizer.json, {train,validation,test}.h5.
// `log` receives one line per step, for the command to print.
void export_brown(const BrownExportOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace headlab
