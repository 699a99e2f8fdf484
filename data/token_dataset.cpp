#include "data/token_dataset.h"

#include <algorithm>
#include <climits>

#include "core/errors.h"
#include "core/h5_file.h"

namespace headlab {
namespace {

constexpr const char* kTokensFormat = "headlab.tokens";
constexpr int64_t kTokensVersion = 1;
constexpr int64_t kChunkElements = int64_t(1) << 16;  // 128 KiB of uint16 tokens per chunk

// "[3, 5]" for sequences, "[17]" for a stream: where a bad value sits, for the message.
std::string position(const TokenDataset& ds, int64_t flat) {
  if (ds.kind == DatasetKind::stream || ds.seq_len == 0) return "[" + std::to_string(flat) + "]";
  return "[" + std::to_string(flat / ds.seq_len) + ", " + std::to_string(flat % ds.seq_len) + "]";
}

class Checker {
 public:
  Checker(const TokenDataset& ds, const std::string& what) : ds_(ds), what_(what) {}

  [[noreturn]] void fail(const std::string& dataset, const std::string& why) const {
    throw InputError(what_ + ": " + dataset, why);
  }
  void size(const std::string& dataset, size_t n, int64_t expected, const std::string& of) const {
    if (int64_t(n) != expected)
      fail(dataset, "expected " + std::to_string(expected) + " values (" + of + "); found " + std::to_string(n));
  }
  // `per_token`: index like /tokens (report [seq, pos]); otherwise one value per sequence.
  void ids(const std::string& dataset, const std::vector<int32_t>& v, bool per_token) const {
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] < 0 || v[i] >= ds_.d_vocab)
        fail(dataset, "expected token ids in [0, d_vocab = " + std::to_string(ds_.d_vocab) + "); found " +
                          std::to_string(v[i]) + " at " +
                          (per_token ? position(ds_, int64_t(i)) : "[" + std::to_string(i) + "]"));
  }
  void absent(const std::string& dataset, bool empty, const std::string& why) const {
    if (!empty) fail(dataset, why);
  }

 private:
  const TokenDataset& ds_;
  const std::string& what_;
};

void validate_stream(const TokenDataset& ds, const Checker& c) {
  if (ds.n_seq != 1) c.fail("/tokens", "expected n_seq = 1 for a stream; found " + std::to_string(ds.n_seq));
  const std::string not_here = "expected none in a stream dataset (it belongs to sequences)";
  c.absent("/loss_mask", ds.loss_mask.empty(), not_here);
  c.absent("/corrupted", ds.corrupted.empty(), not_here);
  c.absent("/answer", ds.answer.empty(), not_here);
  c.absent("/wrong_answer", ds.wrong_answer.empty(), not_here);
  c.absent("/answer_pos", ds.answer_pos.empty(), not_here);
  if (ds.doc_offsets.empty()) {
    if (ds.n_tokens() > 0) c.fail("/doc_offsets", "expected the start of each document (first 0); found none");
    return;
  }
  if (ds.doc_offsets[0] != 0) c.fail("/doc_offsets", "expected the first document to start at 0");
  for (size_t i = 1; i < ds.doc_offsets.size(); ++i)
    if (ds.doc_offsets[i] < ds.doc_offsets[i - 1] || ds.doc_offsets[i] > uint64_t(ds.n_tokens()))
      c.fail("/doc_offsets", "expected non-decreasing offsets within [0, " + std::to_string(ds.n_tokens()) +
                                 "]; found " + std::to_string(ds.doc_offsets[i]) + " at [" + std::to_string(i) + "]");
}

void validate_sequences(const TokenDataset& ds, const Checker& c) {
  c.absent("/doc_offsets", ds.doc_offsets.empty(), "expected none in a sequences dataset (it belongs to streams)");
  const std::string shape = "[n_seq, seq_len] = [" + std::to_string(ds.n_seq) + ", " + std::to_string(ds.seq_len) + "]";
  if (!ds.loss_mask.empty()) {
    c.size("/loss_mask", ds.loss_mask.size(), ds.n_tokens(), shape);
    for (size_t i = 0; i < ds.loss_mask.size(); ++i)
      if (ds.loss_mask[i] > 1)
        c.fail("/loss_mask",
               "expected 0 or 1; found " + std::to_string(ds.loss_mask[i]) + " at " + position(ds, int64_t(i)));
  }
  if (!ds.corrupted.empty()) {
    c.size("/corrupted", ds.corrupted.size(), ds.n_tokens(), shape);
    c.ids("/corrupted", ds.corrupted, true);
  }
  const std::string per_seq = "one per sequence, n_seq = " + std::to_string(ds.n_seq);
  if (!ds.answer.empty()) {
    c.size("/answer", ds.answer.size(), ds.n_seq, per_seq);
    c.ids("/answer", ds.answer, false);
  }
  if (!ds.wrong_answer.empty()) {
    c.absent("/answer", !ds.answer.empty(), "expected /answer beside /wrong_answer; found none");
    c.size("/wrong_answer", ds.wrong_answer.size(), ds.n_seq, per_seq);
    c.ids("/wrong_answer", ds.wrong_answer, false);
  }
  if (!ds.answer_pos.empty()) {
    c.absent("/answer", !ds.answer.empty(), "expected /answer beside /answer_pos; found none");
    c.size("/answer_pos", ds.answer_pos.size(), ds.n_seq, per_seq);
    for (size_t i = 0; i < ds.answer_pos.size(); ++i)
      if (ds.answer_pos[i] < 0 || ds.answer_pos[i] >= ds.seq_len)
        c.fail("/answer_pos", "expected positions in [0, seq_len = " + std::to_string(ds.seq_len) + "); found " +
                                  std::to_string(ds.answer_pos[i]) + " at [" + std::to_string(i) + "]");
  }
}

h5::DatasetOptions per_token_options(const TokenDataset& ds) {
  h5::DatasetOptions opt;
  opt.chunk_rows = ds.kind == DatasetKind::stream
                       ? kChunkElements
                       : std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, ds.seq_len));
  opt.deflate = 4;
  return opt;
}

}  // namespace

void TokenDataset::validate(const std::string& what) const {
  Checker c(*this, what);
  if (d_vocab < 1 || d_vocab > INT32_MAX)
    c.fail("/ attribute d_vocab", "expected 1 to 2^31-1; found " + std::to_string(d_vocab));
  if (n_seq < 0 || seq_len < 0 || n_seq * seq_len != n_tokens())
    c.fail("/tokens", "expected n_seq * seq_len = " + std::to_string(n_seq) + " * " + std::to_string(seq_len) +
                          " tokens; found " + std::to_string(n_tokens()));
  c.ids("/tokens", tokens, true);
  if (kind == DatasetKind::stream)
    validate_stream(*this, c);
  else
    validate_sequences(*this, c);
  for (const auto& [name, values] : labels) {
    if (name.empty() || name.find('/') != std::string::npos || name == ".")
      c.fail("/labels/" + name, "expected a label name without '/'");
    c.size("/labels/" + name, values.size(), n_tokens(), "one per token");
  }
}

void write_token_dataset(const std::string& path, const TokenDataset& ds) {
  ds.validate(path);
  h5::AtomicFile out(path);
  h5::File& f = out.file();
  h5::set_format(f, kTokensFormat, kTokensVersion);
  f.set_attr("kind", ds.kind == DatasetKind::stream ? "stream" : "sequences");
  f.set_attr("d_vocab", ds.d_vocab);
  if (!ds.tokenizer_json.empty()) f.set_attr("tokenizer", ds.tokenizer_json);
  f.set_attr("source", ds.source);

  const h5::DType token_type = ds.d_vocab <= 65536 ? h5::DType::u16 : h5::DType::u32;
  const h5::Shape shape = ds.kind == DatasetKind::stream ? h5::Shape{ds.n_tokens()} : h5::Shape{ds.n_seq, ds.seq_len};
  h5::DatasetOptions as_tokens = per_token_options(ds);
  as_tokens.stored_as = token_type;
  h5::DatasetOptions per_seq_tokens;  // answers: small, contiguous
  per_seq_tokens.stored_as = token_type;

  f.write<int32_t>("tokens", ds.tokens.data(), shape, as_tokens);
  if (ds.kind == DatasetKind::stream) f.write<uint64_t>("doc_offsets", ds.doc_offsets);
  if (!ds.loss_mask.empty()) f.write<uint8_t>("loss_mask", ds.loss_mask.data(), shape, per_token_options(ds));
  if (!ds.corrupted.empty()) f.write<int32_t>("corrupted", ds.corrupted.data(), shape, as_tokens);
  if (!ds.answer.empty()) f.write<int32_t>("answer", ds.answer, per_seq_tokens);
  if (!ds.wrong_answer.empty()) f.write<int32_t>("wrong_answer", ds.wrong_answer, per_seq_tokens);
  if (!ds.answer_pos.empty()) f.write<int32_t>("answer_pos", ds.answer_pos);
  for (const auto& [name, values] : ds.labels)
    f.write<int32_t>("labels/" + name, values.data(), shape, per_token_options(ds));
  out.commit();
}

namespace {

// A bare /tokens as h5py writes it: nothing but the ids, so the rest is assumed and said.
TokenDataset read_plain_tokens(const h5::File& f, const std::string& path) {
  const h5::Shape shape = f.shape("tokens");
  const h5::DType type = f.dtype("tokens");
  if (type == h5::DType::f32 || type == h5::DType::f64)
    throw InputError(f.where("tokens"), "expected integer token ids; found " + h5::to_string(type) +
                                            " (write them with an integer dtype, e.g. np.int32)");
  if (shape.size() != 1 && shape.size() != 2)
    throw InputError(f.where("tokens"),
                     "expected a 1-D stream or 2-D [n_seq, seq_len] sequences; found shape " + h5::to_string(shape));
  for (const char* other : {"doc_offsets", "loss_mask", "corrupted", "answer", "wrong_answer", "answer_pos"})
    if (f.exists(other))
      throw InputError(path + ": / attribute format",
                       std::string("missing, but /") + other +
                           " is there: a headlab dataset needs its attributes (format, format_version, kind, d_vocab)");
  TokenDataset ds;
  ds.source = "plain /tokens";
  if (shape.size() == 1) {
    ds.kind = DatasetKind::stream;
    ds.tokens = f.read<int32_t>("tokens", h5::Shape{-1});
    ds.n_seq = 1;
    ds.seq_len = ds.n_tokens();
    ds.doc_offsets = {0};
  } else {
    ds.kind = DatasetKind::sequences;
    ds.tokens = f.read<int32_t>("tokens", h5::Shape{-1, -1});
    ds.n_seq = shape[0];
    ds.seq_len = shape[1];
  }
  int32_t max_id = -1;
  for (size_t i = 0; i < ds.tokens.size(); ++i) {
    if (ds.tokens[i] < 0)
      throw InputError(f.where("tokens"), "expected token ids >= 0; found " + std::to_string(ds.tokens[i]) + " at [" +
                                              std::to_string(i) + "]");
    max_id = std::max(max_id, ds.tokens[i]);
  }
  if (max_id < 0) throw InputError(f.where("tokens"), "holds no tokens");
  ds.d_vocab = int64_t(max_id) + 1;
  ds.assumed =
      path + " has no headlab attributes: read /tokens " + h5::to_string(shape) + " as " +
      (ds.kind == DatasetKind::stream ? "one stream (a single document)" : "sequences, every position trained") +
      ", d_vocab = largest id + 1 = " + std::to_string(ds.d_vocab) +
      " (a model's larger d_vocab is used where there is one), no tokenizer";
  ds.validate(path);
  return ds;
}

}  // namespace

TokenDataset read_token_dataset(const std::string& path) {
  const h5::File f = h5::File::open(path);
  if (!f.has_attr("format") && !f.has_attr("kind") && !f.has_attr("d_vocab") && f.is_dataset("tokens"))
    return read_plain_tokens(f, path);
  h5::check_format(f, kTokensFormat, kTokensVersion);
  TokenDataset ds;
  const std::string kind = f.attr_string("kind");
  if (kind == "stream")
    ds.kind = DatasetKind::stream;
  else if (kind == "sequences")
    ds.kind = DatasetKind::sequences;
  else
    throw InputError(f.attr_where("kind"), "expected 'stream' or 'sequences'; found '" + kind + "'");
  ds.d_vocab = f.attr_int("d_vocab");
  if (f.has_attr("tokenizer")) ds.tokenizer_json = f.attr_string("tokenizer");
  if (f.has_attr("source")) ds.source = f.attr_string("source");

  h5::Shape shape;
  if (ds.kind == DatasetKind::stream) {
    ds.tokens = f.read<int32_t>("tokens", h5::Shape{-1});
    ds.n_seq = 1;
    ds.seq_len = ds.n_tokens();
    shape = {ds.seq_len};
    ds.doc_offsets = f.read<uint64_t>("doc_offsets", h5::Shape{-1});
  } else {
    ds.tokens = f.read<int32_t>("tokens", h5::Shape{-1, -1});
    shape = f.shape("tokens");
    ds.n_seq = shape[0];
    ds.seq_len = shape[1];
    if (f.exists("loss_mask")) ds.loss_mask = f.read<uint8_t>("loss_mask", shape);
    if (f.exists("corrupted")) ds.corrupted = f.read<int32_t>("corrupted", shape);
    if (f.exists("answer")) ds.answer = f.read<int32_t>("answer", h5::Shape{ds.n_seq});
    if (f.exists("wrong_answer")) ds.wrong_answer = f.read<int32_t>("wrong_answer", h5::Shape{ds.n_seq});
    if (f.exists("answer_pos")) ds.answer_pos = f.read<int32_t>("answer_pos", h5::Shape{ds.n_seq});
  }
  if (f.exists("labels")) {
    const h5::Group labels = f.group("labels");
    for (const std::string& name : labels.children()) ds.labels[name] = labels.read<int32_t>(name, shape);
  }
  ds.validate(path);
  return ds;
}

}  // namespace headlab
