#include "data/stream_dataset_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/atomic_write.h"
#include "core/errors.h"
#include "core/h5_file.h"

namespace headlab {
namespace {
constexpr int64_t kChunkElements = int64_t(1) << 16;  // as write_token_dataset: 128 KiB of uint16 a chunk
constexpr int64_t kCopyBlock = int64_t(1) << 22;      // tokens per block copied into the HDF5 file
}  // namespace

StreamDatasetWriter::StreamDatasetWriter(std::string path, int64_t d_vocab, std::string tokenizer_json,
                                         std::string source)
    : path_(std::move(path)),
      tokenizer_json_(std::move(tokenizer_json)),
      source_(std::move(source)),
      d_vocab_(d_vocab) {
  raw_path_ = hidden_temporary_path(path_) + ".raw";
  raw_ = std::fopen(raw_path_.c_str(), "wb+");
  if (!raw_) throw InputError(path_, std::string("cannot write beside it: ") + std::strerror(errno));
}

StreamDatasetWriter::~StreamDatasetWriter() {
  if (raw_) std::fclose(raw_);
  std::remove(raw_path_.c_str());
}

void StreamDatasetWriter::start_document() { doc_offsets_.push_back(uint64_t(n_tokens_)); }

void StreamDatasetWriter::append(const int32_t* ids, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= d_vocab_) throw InternalError("stream writer: token id outside the vocabulary");
  if (n && std::fwrite(ids, sizeof(int32_t), n, raw_) != n)
    throw InputError(path_, "writing the token stream failed (disk full?)");
  n_tokens_ += int64_t(n);
}

void StreamDatasetWriter::finish() {
  if (std::fflush(raw_) != 0) throw InputError(path_, "writing the token stream failed (disk full?)");
  h5::AtomicFile out(path_);
  h5::File& f = out.file();
  h5::set_format(f, "headlab.tokens", 1);
  f.set_attr("kind", "stream");
  f.set_attr("d_vocab", d_vocab_);
  if (!tokenizer_json_.empty()) f.set_attr("tokenizer", tokenizer_json_);
  f.set_attr("source", source_);
  h5::DatasetOptions opt;
  opt.chunk_rows = kChunkElements;
  opt.deflate = 4;
  opt.stored_as = d_vocab_ <= 65536 ? h5::DType::u16 : h5::DType::u32;
  if (n_tokens_ == 0) {
    f.write<int32_t>("tokens", nullptr, {0}, opt);
  } else {
    f.create_dataset<int32_t>("tokens", {n_tokens_}, opt);
    std::rewind(raw_);
    std::vector<int32_t> block;
    for (int64_t first = 0; first < n_tokens_; first += kCopyBlock) {
      const int64_t n = std::min(kCopyBlock, n_tokens_ - first);
      block.resize(size_t(n));
      if (std::fread(block.data(), sizeof(int32_t), size_t(n), raw_) != size_t(n))
        throw InternalError("stream writer: the token stream is shorter than written");
      f.write_rows<int32_t>("tokens", first, block.data(), n);
    }
  }
  f.write<uint64_t>("doc_offsets", doc_offsets_);
  out.commit();
  std::fclose(raw_);
  raw_ = nullptr;
  std::remove(raw_path_.c_str());
}

}  // namespace headlab
