// `headlab-data text`: a user's own corpus (files, folders, JSONL, standard input; data/text_corpus.h)
// into train / validation stream datasets with document offsets and the tokenizer, as `headlab-data
// brown` writes them, without ever holding the corpus in memory:
//  1. the split is decided per document as it is read: document i (counted from 0) goes to validation
//     when floor((i + phase) * f) > floor((i - 1 + phase) * f), phase drawn from the seed in
//     [0, 1/f): every 1/f-th document, exactly f of them, at seeded places; document 0 always trains;
//  2. without a tokenizer, a BPE is trained on the first `bpe_sample_mb` MB of the training split
//     (the whole split when it is smaller), read in a first pass that stops there;
//  3. a second pass encodes batches of pieces in parallel (OpenMP) and appends them in order; each
//     document starts with the tokenizer's BOS.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/text_corpus.h"

namespace headlab {

struct TextDatasetOptions {
  std::vector<std::string> inputs;
  TextFormat format = TextFormat::auto_detect;
  std::string text_field = "text";
  std::string tokenizer_path;  // empty: train a BPE
  int32_t vocab_size = 8192;
  int64_t bpe_sample_mb = 256;
  double val_fraction = 0.05;
  uint64_t seed = 1;
  std::string out_dir;
  int threads = 0;  // 0 = OpenMP's default
};

// Writes out_dir/{train.h5, validation.h5 (when f > 0), tokenizer.json} whole or not at all. `log` gets
// one line per step; `progress` the running progress line (MB read, MB/s, ETA), to show in place.
void build_text_datasets(const TextDatasetOptions& options, const std::function<void(const std::string&)>& log,
                         const std::function<void(const std::string&)>& progress);

// Whether document `index` goes to validation under fraction f and the seed (rule 1 above).
bool text_document_is_validation(int64_t index, double fraction, uint64_t seed);

}  // namespace headlab
