// A token dataset read from its file piece by piece (HDF5 hyperslabs of /tokens and /loss_mask), for
// training on data larger than memory: only the attributes, the shape and /doc_offsets are held.
// Opening makes one pass over the file in blocks that checks what read_token_dataset checks for
// training (ids within [0, d_vocab), masks 0 or 1, document offsets), and hashes the tokens and mask
// as they are read, so a run's data fingerprint is the same whichever way the data is read. A plain
// h5py file (/tokens only) is read as read_token_dataset reads it, its d_vocab found by that pass.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/token_dataset.h"

namespace headlab {

class TokenFileReader {
 public:
  explicit TokenFileReader(const std::string& path);
  ~TokenFileReader();
  TokenFileReader(const TokenFileReader&) = delete;
  TokenFileReader& operator=(const TokenFileReader&) = delete;

  // kind, d_vocab, tokenizer_json, source, n_seq, seq_len, doc_offsets and assumed; no per-token arrays.
  const TokenDataset& header() const { return header_; }
  const std::string& path() const { return path_; }
  int64_t n_tokens() const { return header_.n_seq * header_.seq_len; }
  bool has_loss_mask() const { return has_mask_; }
  bool mask_has_a_one() const { return mask_has_one_; }
  // FNV-1a 64 over the tokens as int32 then the mask bytes: the hash of the whole arrays in memory.
  uint64_t content_hash() const { return hash_; }

  // n tokens from flat position `first` (row-major for sequences; any range within one row there).
  void read_tokens(int64_t first, int64_t n, int32_t* out) const;
  void read_loss_mask(int64_t first, int64_t n, uint8_t* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  TokenDataset header_;
  bool has_mask_ = false, mask_has_one_ = false;
  uint64_t hash_ = 0;
};

}  // namespace headlab
