#include "probes/extract.h"

#include <algorithm>
#include <optional>

#include "core/errors.h"

namespace headlab {
namespace {

constexpr const char* kTokensFormat = "headlab.tokens";

}  // namespace

TokenPositions parse_token_positions(const std::string& text, const std::string& what) {
  if (text == "all") return TokenPositions::all;
  if (text == "answer") return TokenPositions::answer;
  if (text == "last") return TokenPositions::last;
  if (text == "statements") return TokenPositions::statements;
  throw InputError(what, "expected all, answer, last or statements; got '" + text + "'");
}

std::string to_string(TokenPositions p) {
  switch (p) {
    case TokenPositions::all:
      return "all";
    case TokenPositions::answer:
      return "answer";
    case TokenPositions::last:
      return "last";
    case TokenPositions::statements:
      return "statements";
  }
  return "?";
}

// ---------------------------------------------------------------- TokenSource

TokenSource::TokenSource(const std::string& path, const ModelConfig& cfg, int seq_len)
    : path_(path), file_(h5::File::open(path)), cfg_(cfg) {
  h5::check_format(file_, kTokensFormat, 1);
  const std::string kind = file_.attr_string("kind");
  if (kind != "stream" && kind != "sequences")
    throw InputError(file_.attr_where("kind"), "expected 'stream' or 'sequences'; found '" + kind + "'");
  stream_ = kind == "stream";
  const int64_t d_vocab = file_.attr_int("d_vocab");
  if (d_vocab > cfg.d_vocab)
    throw InputError(file_.attr_where("d_vocab"), "the dataset's tokenizer has " + std::to_string(d_vocab) +
                                                      " tokens; the model reads only d_vocab = " +
                                                      std::to_string(cfg.d_vocab) + " (another model's data?)");
  const h5::Shape shape = file_.shape("tokens");
  if (stream_) {
    if (shape.size() != 1)
      throw InputError(file_.where("tokens"), "expected a 1-D stream; found " + h5::to_string(shape));
    n_tokens_ = shape[0];
    window_ = seq_len > 0 ? seq_len : cfg.n_ctx;
    if (window_ > cfg.n_ctx)
      throw InputError("--seq-len",
                       "expected at most n_ctx = " + std::to_string(cfg.n_ctx) + "; got " + std::to_string(window_));
    doc_offsets_ = file_.read<uint64_t>("doc_offsets", h5::Shape{-1});
    for (size_t i = 0; i < doc_offsets_.size(); ++i)
      if (doc_offsets_[i] > uint64_t(n_tokens_) || (i > 0 && doc_offsets_[i] < doc_offsets_[i - 1]) ||
          (i == 0 && doc_offsets_[0] != 0))
        throw InputError(file_.where("doc_offsets"), "expected increasing offsets from 0 within the stream");
  } else {
    if (shape.size() != 2)
      throw InputError(file_.where("tokens"), "expected [n_seq, seq_len]; found " + h5::to_string(shape));
    n_rows_ = shape[0];
    row_len_ = shape[1];
    n_tokens_ = n_rows_ * row_len_;
    if (row_len_ > cfg.n_ctx)
      throw InputError(file_.where("tokens"), "expected rows of at most n_ctx = " + std::to_string(cfg.n_ctx) +
                                                  " tokens; found " + std::to_string(row_len_));
    if (file_.exists("answer_pos")) {
      answer_pos_ = file_.read<int32_t>("answer_pos", h5::Shape{n_rows_});
      for (size_t i = 0; i < answer_pos_.size(); ++i)
        if (answer_pos_[i] < 0 || answer_pos_[i] >= row_len_)
          throw InputError(file_.where("answer_pos"), "expected positions in [0, " + std::to_string(row_len_) +
                                                          "); found " + std::to_string(answer_pos_[i]) + " at [" +
                                                          std::to_string(i) + "]");
    }
  }
  if (file_.is_group("labels")) {
    const h5::Group g = file_.group("labels");
    for (const std::string& name : g.children()) {
      if (g.shape(name) != shape)
        throw InputError(g.where(name), "expected one label per token, shaped like /tokens " + h5::to_string(shape) +
                                            "; found " + h5::to_string(g.shape(name)));
      labels_.push_back(name);
    }
  }
  if (file_.has_attr("label_names")) label_names_json_ = file_.attr_string("label_names");
}

void TokenSource::use_statements() {
  if (stream_) throw InputError("--positions statements", "a stream dataset has no answers (use a task's rows)");
  for (const char* name : {"answer", "wrong_answer"})
    if (!file_.exists(name))
      throw InputError(file_.where(name), "--positions statements needs each row's /answer and /wrong_answer");
  answer_ = file_.read<int32_t>("answer", h5::Shape{n_rows_});
  wrong_answer_ = file_.read<int32_t>("wrong_answer", h5::Shape{n_rows_});
  for (const std::vector<int32_t>* v : {&answer_, &wrong_answer_})
    for (int32_t t : *v)
      if (t < 0 || t >= cfg_.d_vocab)
        throw InputError(
            file_.where(v == &answer_ ? "answer" : "wrong_answer"),
            "expected token ids in [0, d_vocab = " + std::to_string(cfg_.d_vocab) + "); found " + std::to_string(t));
  int last = int(row_len_) - 1;
  if (!answer_pos_.empty()) last = *std::max_element(answer_pos_.begin(), answer_pos_.end());
  statement_len_ = last + 2;
  if (statement_len_ > cfg_.n_ctx)
    throw InputError(file_.where("tokens"), "a statement (the row up to its answer position and the answer) has " +
                                                std::to_string(statement_len_) +
                                                " tokens; the model reads n_ctx = " + std::to_string(cfg_.n_ctx));
  statements_ = true;
  labels_ = {"truth"};
  label_names_json_ = R"({"truth": ["false", "true"]})";
}

int64_t TokenSource::n_sequences() const {
  if (statements_) return 2 * n_rows_;
  return stream_ ? (n_tokens_ + window_ - 1) / window_ : n_rows_;
}

int TokenSource::sequence_length(int64_t s) const {
  if (statements_) return statement_len_;
  if (!stream_) return int(row_len_);
  return int(std::min<int64_t>(window_, n_tokens_ - s * window_));
}

int TokenSource::selected_position(int64_t s, TokenPositions p) const {
  if (statements_) return (answer_pos_.empty() ? int(row_len_) - 1 : answer_pos_[size_t(s / 2)]) + 1;
  if (p == TokenPositions::answer) return answer_pos_.empty() ? int(row_len_) - 1 : answer_pos_[size_t(s)];
  return sequence_length(s) - 1;
}

TokenSource::Batch TokenSource::read(int64_t first, int count) const {
  Batch b;
  b.first = first;
  b.count = count;
  b.T = sequence_length(first);
  const int64_t n = int64_t(count) * b.T;
  b.tokens.resize(static_cast<size_t>(n));
  b.labels.assign(labels_.size(), std::vector<int32_t>(static_cast<size_t>(n)));
  b.doc_ids.resize(static_cast<size_t>(n));
  if (statements_) {  // rows first / 2 ..: even sequences end in the answer, odd ones in the wrong answer
    const int64_t row0 = first / 2, rows = (first + count - 1) / 2 - row0 + 1;
    std::vector<int32_t> source(size_t(rows * row_len_));
    file_.read_rows_into<int32_t>("tokens", row0, rows, source.data());
    for (int i = 0; i < count; ++i) {
      const int64_t s = first + i, row = s / 2;
      const int end = selected_position(s, TokenPositions::statements);  // where the answer goes
      int32_t* out = b.tokens.data() + int64_t(i) * b.T;
      std::copy_n(source.data() + (row - row0) * row_len_, std::min<int64_t>(end, row_len_), out);
      out[end] = s % 2 == 0 ? answer_[size_t(row)] : wrong_answer_[size_t(row)];
      for (int p = 0; p < b.T; ++p) {
        b.labels[0][size_t(int64_t(i) * b.T + p)] = s % 2 == 0 ? 1 : 0;
        b.doc_ids[size_t(int64_t(i) * b.T + p)] = row;
      }
    }
  } else if (stream_) {
    const h5::Group labels = labels_.empty() ? h5::Group(file_) : file_.group("labels");
    const int64_t start = first * window_;
    file_.read_rows_into<int32_t>("tokens", start, n, b.tokens.data());
    for (size_t l = 0; l < labels_.size(); ++l)
      labels.read_rows_into<int32_t>(labels_[l], start, n, b.labels[l].data());
    auto doc = std::upper_bound(doc_offsets_.begin(), doc_offsets_.end(), uint64_t(start));
    int64_t d = int64_t(doc - doc_offsets_.begin()) - 1;
    for (int64_t i = 0; i < n; ++i) {
      while (size_t(d + 1) < doc_offsets_.size() && doc_offsets_[size_t(d + 1)] <= uint64_t(start + i)) ++d;
      b.doc_ids[size_t(i)] = std::max<int64_t>(d, 0);
    }
  } else {
    const h5::Group labels = labels_.empty() ? h5::Group(file_) : file_.group("labels");
    file_.read_rows_into<int32_t>("tokens", first, count, b.tokens.data());
    for (size_t l = 0; l < labels_.size(); ++l)
      labels.read_rows_into<int32_t>(labels_[l], first, count, b.labels[l].data());
    for (int64_t i = 0; i < n; ++i) b.doc_ids[size_t(i)] = first + i / b.T;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int32_t t = b.tokens[size_t(i)];
    if (t < 0 || t >= cfg_.d_vocab) {
      const std::string at = stream_       ? std::to_string(first * window_ + i)
                             : statements_ ? std::to_string((first + i / b.T) / 2) + ", " + std::to_string(i % b.T)
                                           : std::to_string(first + i / b.T) + ", " + std::to_string(i % b.T);
      throw InputError(file_.where("tokens"), "expected token ids in [0, d_vocab = " + std::to_string(cfg_.d_vocab) +
                                                  "); found " + std::to_string(t) + " at [" + at + "]");
    }
  }
  return b;
}

// ---------------------------------------------------------------- extraction

ExtractSummary extract_activations(Transformer& model, const std::string& data_path, const ExtractOptions& o,
                                   const std::string& out_path, const ExtractProgress& progress) {
  const ModelConfig& cfg = model.config();
  if (o.hooks.empty()) throw InputError("--hooks", "expected at least one hook point");
  if (o.batch_size < 1) throw InputError("--batch-size", "expected a positive integer");
  for (HookPoint p : o.hooks)
    if (p.site == HookSite::attn_pattern || p.site == HookSite::attn_scores)
      throw InputError("--hooks " + hook_name(p),
                       "an attention pattern has no row per token; store hook_z or hook_result for heads");
  TokenSource src(data_path, cfg, o.seq_len);
  if (o.positions == TokenPositions::statements) src.use_statements();
  if (o.positions == TokenPositions::answer && src.is_stream())
    throw InputError("--positions answer", "a stream dataset has no answer positions (use all or last)");

  const int64_t n_seq = src.n_sequences();
  const int64_t selected = o.positions == TokenPositions::all ? src.n_tokens() : n_seq;
  const int64_t total = o.max_tokens > 0 ? std::min(o.max_tokens, selected) : selected;
  if (total < 1) throw InputError("--data " + data_path, "has no tokens to store");

  StoreSpec spec;
  for (HookPoint p : o.hooks) {
    const h5::Shape s = hook_shape(p, cfg, 1, 1);
    spec.hooks.push_back({hook_name(p), h5::Shape(s.begin() + 2, s.end())});
  }
  spec.labels = src.label_names();
  spec.n_tokens = total;
  spec.dtype = o.dtype;
  spec.deflate = o.deflate;
  spec.provenance.model_hash = o.model_hash;
  spec.provenance.checkpoint = o.checkpoint_path;
  spec.provenance.data = data_path;
  spec.provenance.positions = to_string(o.positions);
  spec.provenance.seq_len = src.sequence_length(0);
  spec.provenance.label_names_json = src.label_names_json();
  spec.provenance.config = cfg;
  const bool writes = o.shard.index == 0;
  if (o.shard.count > 1 && !(writes ? bool(o.receive) : bool(o.send)))
    throw InternalError("extract_activations: a shared extraction needs send (or receive on process 0)");
  std::optional<ActivationStoreWriter> writer;
  if (writes) writer.emplace(out_path, spec);

  ExtractSummary sum;
  sum.chunk_rows = writer ? writer->chunk_rows() : 0;
  std::vector<std::vector<float>> gathered(o.hooks.size());
  std::vector<int32_t> tokens, positions;
  std::vector<int64_t> rows, docs;
  std::vector<std::vector<int32_t>> labels(spec.labels.size());
  int64_t s = 0, done = 0;
  for (int64_t batch = 0; done < total; ++batch) {
    const int T = src.sequence_length(s);
    int count = 1;
    while (count < o.batch_size && s + count < n_seq && src.sequence_length(s + count) == T) ++count;
    const int64_t still = total - done;
    count = int(std::min<int64_t>(count, o.positions == TokenPositions::all ? (still + T - 1) / T : still));
    // Row i of the batch's [count * T] tokens that the store keeps, in order.
    std::vector<int64_t> keep;
    if (o.positions == TokenPositions::all) {
      for (int64_t i = 0; i < std::min<int64_t>(int64_t(count) * T, still); ++i) keep.push_back(i);
    } else {
      for (int r = 0; r < count; ++r) keep.push_back(int64_t(r) * T + src.selected_position(s + r, o.positions));
    }
    const int64_t n = int64_t(keep.size());
    const bool mine = o.shard.owns(batch);
    if (mine || writes) {
      const TokenSource::Batch b = src.read(s, count);
      std::vector<const float*> acts(o.hooks.size());
      HookSet hooks;
      if (mine) {
        for (HookPoint p : o.hooks) hooks.cache(p);
        model.forward(b.tokens.data(), count, T, &hooks);
        ++sum.forwards;
        for (size_t h = 0; h < o.hooks.size(); ++h) {
          const HostTensor& t = hooks.cached(hook_name(o.hooks[h]));
          const int64_t w = spec.hooks[h].row_width();
          if (o.positions == TokenPositions::all) {  // the cache's first n rows, as they are
            acts[h] = t.data.data();
            continue;
          }
          gathered[h].resize(size_t(n * w));
          for (int64_t i = 0; i < n; ++i)
            std::copy_n(t.data.data() + keep[size_t(i)] * w, w, gathered[h].data() + i * w);
          acts[h] = gathered[h].data();
        }
      } else {
        for (size_t h = 0; h < o.hooks.size(); ++h) {
          const int64_t w = spec.hooks[h].row_width();
          gathered[h].resize(size_t(n * w));
          o.receive(o.shard.owner(batch), gathered[h].data(), n * w);
          acts[h] = gathered[h].data();
        }
      }
      if (!writes) {
        for (size_t h = 0; h < o.hooks.size(); ++h) o.send(acts[h], n * spec.hooks[h].row_width());
      } else {
        tokens.resize(static_cast<size_t>(n));
        positions.resize(static_cast<size_t>(n));
        rows.resize(static_cast<size_t>(n));
        docs.resize(static_cast<size_t>(n));
        for (size_t l = 0; l < labels.size(); ++l) labels[l].resize(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          const int64_t k = keep[size_t(i)];
          tokens[size_t(i)] = b.tokens[size_t(k)];
          positions[size_t(i)] = int32_t(k % T);
          rows[size_t(i)] = s + k / T;
          docs[size_t(i)] = b.doc_ids[size_t(k)];
          for (size_t l = 0; l < labels.size(); ++l) labels[l][size_t(i)] = b.labels[l][size_t(k)];
        }
        StoreTokenRows meta{tokens.data(), positions.data(), rows.data(), docs.data(), {}};
        for (auto& l : labels) meta.labels.push_back(l.data());
        writer->append(n, acts, meta);
      }
    }
    done += n;
    s += count;
    sum.n_sequences += count;
    if (progress) progress(done, total);
  }
  if (writer) writer->commit();
  sum.n_tokens = total;
  return sum;
}

}  // namespace headlab
