#include "data/token_file_reader.h"

#include <algorithm>
#include <climits>
#include <filesystem>

#include "core/errors.h"
#include "core/h5_file.h"
#include "core/hash.h"

namespace headlab {
namespace {

constexpr int64_t kScanRows = int64_t(1) << 22;  // elements (stream) read per block of the checking pass

}  // namespace

struct TokenFileReader::Impl {
  h5::File file;
};

TokenFileReader::TokenFileReader(const std::string& path) : path_(path) {
  impl_.reset(new Impl{h5::File::open(path)});
  const h5::File& f = impl_->file;
  const bool plain = !f.has_attr("format") && !f.has_attr("kind") && !f.has_attr("d_vocab") && f.is_dataset("tokens");
  TokenDataset& h = header_;
  h5::Shape shape;
  if (plain) {
    // The same assumptions as read_token_dataset's, made without reading the tokens into memory.
    shape = f.shape("tokens");
    const h5::DType type = f.dtype("tokens");
    if (type == h5::DType::f32 || type == h5::DType::f64)
      throw InputError(f.where("tokens"), "expected integer token ids; found " + h5::to_string(type));
    if (shape.size() != 1 && shape.size() != 2)
      throw InputError(f.where("tokens"),
                       "expected a 1-D stream or 2-D [n_seq, seq_len] sequences; found shape " + h5::to_string(shape));
    h.kind = shape.size() == 1 ? DatasetKind::stream : DatasetKind::sequences;
    h.source = "plain /tokens";
    if (h.kind == DatasetKind::stream) h.doc_offsets = {0};
  } else {
    h5::check_format(f, "headlab.tokens", 1);
    const std::string kind = f.attr_string("kind");
    if (kind != "stream" && kind != "sequences")
      throw InputError(f.attr_where("kind"), "expected 'stream' or 'sequences'; found '" + kind + "'");
    h.kind = kind == "stream" ? DatasetKind::stream : DatasetKind::sequences;
    h.d_vocab = f.attr_int("d_vocab");
    if (h.d_vocab < 1 || h.d_vocab > INT32_MAX)
      throw InputError(f.attr_where("d_vocab"), "expected 1 to 2^31-1; found " + std::to_string(h.d_vocab));
    if (f.has_attr("tokenizer")) h.tokenizer_json = f.attr_string("tokenizer");
    if (f.has_attr("source")) h.source = f.attr_string("source");
    shape = f.shape("tokens");
    if (h.kind == DatasetKind::stream && shape.size() != 1)
      throw InputError(f.where("tokens"), "expected a 1-D stream; found shape " + h5::to_string(shape));
    if (h.kind == DatasetKind::sequences && shape.size() != 2)
      throw InputError(f.where("tokens"), "expected [n_seq, seq_len]; found shape " + h5::to_string(shape));
    if (h.kind == DatasetKind::stream) h.doc_offsets = f.read<uint64_t>("doc_offsets", h5::Shape{-1});
    has_mask_ = h.kind == DatasetKind::sequences && f.exists("loss_mask");
    if (has_mask_ && f.shape("loss_mask") != shape)
      throw InputError(f.where("loss_mask"), "expected the shape of /tokens, " + h5::to_string(shape));
  }
  // A shape far past what the file holds (tokens compress about 2x) is damage, not data: refused before a
  // checking pass over fill values.
  std::error_code ec;
  const double file_bytes = double(std::filesystem::file_size(path, ec));
  if (!ec && double(h5::numel(shape)) > 64.0 * file_bytes)
    throw InputError(f.where("tokens"), "declares " + h5::to_string(shape) + " tokens, more than a " +
                                            std::to_string(int64_t(file_bytes)) + "-byte file can hold");
  h.n_seq = h.kind == DatasetKind::stream ? 1 : shape[0];
  h.seq_len = h.kind == DatasetKind::stream ? shape[0] : shape[1];
  const int64_t n = n_tokens();
  if (h.kind == DatasetKind::stream && !h.doc_offsets.empty()) {
    if (h.doc_offsets[0] != 0) throw InputError(f.where("doc_offsets"), "expected the first document to start at 0");
    for (size_t i = 1; i < h.doc_offsets.size(); ++i)
      if (h.doc_offsets[i] < h.doc_offsets[i - 1] || h.doc_offsets[i] > uint64_t(n))
        throw InputError(f.where("doc_offsets"), "expected non-decreasing offsets within [0, " + std::to_string(n) +
                                                     "]; found " + std::to_string(h.doc_offsets[i]) + " at [" +
                                                     std::to_string(i) + "]");
  }

  // The checking pass, in blocks of whole rows.
  const int64_t row = h.kind == DatasetKind::stream ? 1 : std::max<int64_t>(1, h.seq_len);
  const int64_t n_rows = h.kind == DatasetKind::stream ? n : h.n_seq;
  const int64_t block_rows = std::max<int64_t>(1, kScanRows / row);
  uint64_t hash = kFnv1aOffset;
  int64_t max_id = -1;
  for (int64_t r = 0; r < n_rows; r += block_rows) {
    const int64_t k = std::min(block_rows, n_rows - r);
    const std::vector<int32_t> ids = f.read_rows<int32_t>("tokens", r, k);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || (!plain && ids[i] >= h.d_vocab))
        throw InputError(path + ": /tokens", "expected token ids in [0, d_vocab = " + std::to_string(h.d_vocab) +
                                                 "); found " + std::to_string(ids[i]) + " at flat position " +
                                                 std::to_string(r * row + int64_t(i)));
      max_id = std::max<int64_t>(max_id, ids[i]);
    }
    hash = fnv1a(hash, ids.data(), ids.size() * sizeof(int32_t));
  }
  if (has_mask_) {
    for (int64_t r = 0; r < n_rows; r += block_rows) {
      const std::vector<uint8_t> m = f.read_rows<uint8_t>("loss_mask", r, std::min(block_rows, n_rows - r));
      for (size_t i = 0; i < m.size(); ++i) {
        if (m[i] > 1) throw InputError(path + ": /loss_mask", "expected 0 or 1; found " + std::to_string(m[i]));
        mask_has_one_ |= m[i] == 1;
      }
      hash = fnv1a(hash, m.data(), m.size());
    }
  }
  hash_ = hash;
  if (plain) {
    if (max_id < 0) throw InputError(f.where("tokens"), "holds no tokens");
    h.d_vocab = max_id + 1;
    h.assumed =
        path + " has no headlab attributes: read /tokens " + h5::to_string(shape) + " as " +
        (h.kind == DatasetKind::stream ? "one stream (a single document)" : "sequences, every position trained") +
        ", d_vocab = largest id + 1 = " + std::to_string(h.d_vocab) +
        " (a model's larger d_vocab is used where there is one), no tokenizer";
  }
}

TokenFileReader::~TokenFileReader() = default;

void TokenFileReader::read_tokens(int64_t first, int64_t n, int32_t* out) const {
  if (header_.kind == DatasetKind::stream) {
    const std::vector<int32_t> v = impl_->file.read_rows<int32_t>("tokens", first, n);
    std::copy(v.begin(), v.end(), out);
    return;
  }
  const int64_t L = header_.seq_len, r = first / L, offset = first % L;
  if (offset + n > L) throw InternalError("TokenFileReader: a range across rows");
  const std::vector<int32_t> v = impl_->file.read_rows<int32_t>("tokens", r, 1);
  std::copy(v.begin() + offset, v.begin() + offset + n, out);
}

void TokenFileReader::read_loss_mask(int64_t first, int64_t n, uint8_t* out) const {
  const int64_t L = header_.seq_len, r = first / L, offset = first % L;
  if (!has_mask_ || offset + n > L) throw InternalError("TokenFileReader: no mask, or a range across rows");
  const std::vector<uint8_t> v = impl_->file.read_rows<uint8_t>("loss_mask", r, 1);
  std::copy(v.begin() + offset, v.begin() + offset + n, out);
}

}  // namespace headlab
