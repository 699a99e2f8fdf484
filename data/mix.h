// One training dataset from several token datasets in stated proportions, e.g. Brown text with IOI
// prompts. The result is a sequences dataset of rows of seq_len tokens:
//  - from a stream source, a window of seq_len tokens at a seeded random offset (every position trained);
//  - from a sequences source, one of its rows (in a seeded shuffled order, cycling), padded with PAD to
//    seq_len; its own loss mask is kept and padding is masked out.
// Rows are counted per source by the weights (largest remainder, so they add up to n_seq) and then
// shuffled together. /labels/source names the source of each row. Every source must carry the same
// tokenizer (it supplies PAD, and ids must mean the same thing in every row).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset_annotations.h"
#include "data/token_dataset.h"

namespace headlab {

struct MixSource {
  std::string path;
  double weight = 1;
};

struct MixOptions {
  std::vector<MixSource> sources;
  int64_t n_seq = 0;
  int64_t seq_len = 128;
  uint64_t seed = 0;
};

struct MixedDataset {
  TokenDataset data;
  DatasetAnnotations annotations;
  std::vector<int64_t> rows_per_source;
};

// "FILE:WEIGHT" (or "FILE", weight 1) as typed after --source. InputError on a bad weight.
MixSource parse_mix_source(const std::string& text);

// Rows per source for the weights: proportional, summing to n_seq. InputError on negative or all-zero weights.
std::vector<int64_t> rows_per_weight(const std::vector<double>& weights, int64_t n_seq);

// InputError for no source, n_seq or seq_len out of range, an unreadable source, differing tokenizers, a
// stream shorter than seq_len or a row longer than it.
MixedDataset mix_datasets(const MixOptions& options);

}  // namespace headlab
