// A token file written by hand with h5py (a bare /tokens) is read with assumptions that the
// dataset records (TokenDataset::assumed: stream or sequences, d_vocab = largest id + 1, no
// tokenizer). Every command that reads one says them, one warning line, as headlab-train does.
#pragma once
#include <cstdio>

#include "data/token_dataset.h"
#include "tools/common/command_main.h"

namespace headlab::cli {

inline void warn_assumed(const char* tool, const TokenDataset& ds) {
  if (!ds.assumed.empty()) std::fprintf(stderr, "%s: warning: %s\n", tool, one_line(ds.assumed.c_str()).c_str());
}

}  // namespace headlab::cli
