// A stream token dataset (data/token_dataset.h's format, the same file write_token_dataset makes)
// written without holding its tokens in memory: documents are appended to a raw temporary beside the
// target, and finish() copies them into the HDF5 file block by block, then renames it into place.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace headlab {

class StreamDatasetWriter {
 public:
  StreamDatasetWriter(std::string path, int64_t d_vocab, std::string tokenizer_json, std::string source);
  ~StreamDatasetWriter();  // removes the temporaries when finish() was not reached
  StreamDatasetWriter(const StreamDatasetWriter&) = delete;
  StreamDatasetWriter& operator=(const StreamDatasetWriter&) = delete;

  // Starts a document at the current end of the stream.
  void start_document();
  // Appends ids to the current document; InternalError for an id outside [0, d_vocab).
  void append(const int32_t* ids, size_t n);
  int64_t n_tokens() const { return n_tokens_; }
  int64_t n_documents() const { return int64_t(doc_offsets_.size()); }
  // Writes the HDF5 file (atomically) and removes the raw temporary.
  void finish();

 private:
  std::string path_, raw_path_, tokenizer_json_, source_;
  int64_t d_vocab_;
  std::FILE* raw_ = nullptr;
  int64_t n_tokens_ = 0;
  std::vector<uint64_t> doc_offsets_;
};

}  // namespace headlab
