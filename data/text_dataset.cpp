#include "data/text_dataset.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <random>

#include "core/errors.h"
#include "core/output_files.h"
#include "data/bpe_tokenizer.h"
#include "data/stream_dataset_writer.h"
#include "data/tokenizer.h"

namespace headlab {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600)
    return std::to_string(t / 3600) + "h" + (t % 3600 / 60 < 10 ? "0" : "") + std::to_string(t % 3600 / 60) + "m";
  if (t >= 60) return std::to_string(t / 60) + "m" + (t % 60 < 10 ? "0" : "") + std::to_string(t % 60) + "s";
  return std::to_string(t) + "s";
}

class Progress {
 public:
  Progress(uint64_t total, const std::function<void(const std::string&)>& show) : total_(total), show_(show) {}
  void update(uint64_t done, bool force = false) {
    const double s = seconds_since(t0_);
    if (!force && s - last_ < 1.0) return;
    last_ = s;
    const double mb = double(done) / 1e6, rate = mb / std::max(s, 1e-9);
    std::string line = fixed(mb, 1) + " MB";
    if (total_ > 0) line += " of " + fixed(double(total_) / 1e6, 1) + " MB";
    line += ", " + fixed(rate, 1) + " MB/s";
    if (total_ > 0 && done < total_)
      line += ", eta " + duration_text(double(total_ - done) / 1e6 / std::max(rate, 1e-9));
    show_(line);
  }
  double seconds() const { return seconds_since(t0_); }

 private:
  uint64_t total_;
  const std::function<void(const std::string&)>& show_;
  Clock::time_point t0_ = Clock::now();
  double last_ = -1;
};

std::unique_ptr<Tokenizer> train_tokenizer(const TextDatasetOptions& o, const std::vector<CorpusFile>& files,
                                           const std::function<void(const std::string&)>& log) {
  const uint64_t budget = uint64_t(o.bpe_sample_mb) << 20;
  std::vector<std::string> texts;
  uint64_t bytes = 0;
  DocumentReader reader(files, o.text_field);
  TextPiece piece;
  while (bytes < budget && reader.next(piece)) {
    if (text_document_is_validation(piece.document, o.val_fraction, o.seed)) continue;
    bytes += piece.text.size();
    if (piece.starts_document || texts.empty())
      texts.push_back(std::move(piece.text));
    else
      texts.back() += piece.text;
  }
  if (bytes == 0) throw InputError("--input", "the training split holds no text to train a tokenizer on");
  BpeTrainingOptions bpe;
  bpe.vocab_size = o.vocab_size;
  BpeTrainingReport report;
  const auto t0 = Clock::now();
  auto tok = std::make_unique<BpeTokenizer>(train_bpe(texts, bpe, &report));
  log("tokenizer: BPE trained on " + fixed(double(bytes) / 1e6, 1) + " MB of the train split (" +
      std::to_string(texts.size()) + " documents) in " + fixed(seconds_since(t0), 2) +
      " s: " + std::to_string(tok->vocab_size()) + " tokens (" + std::to_string(report.n_merges) + " merges over " +
      std::to_string(report.n_distinct_chunks) + " distinct pre-token chunks)" +
      (report.stopped_early ? ", stopped early: no pair occurs twice" : ""));
  return tok;
}

}  // namespace

bool text_document_is_validation(int64_t index, double fraction, uint64_t seed) {
  if (fraction <= 0 || index == 0) return false;
  const double period = 1.0 / fraction;
  const double phase = double(std::mt19937_64(seed)() >> 11) * 0x1.0p-53 * period;
  return std::floor((double(index) + phase) * fraction) > std::floor((double(index) - 1 + phase) * fraction);
}

void build_text_datasets(const TextDatasetOptions& o, const std::function<void(const std::string&)>& log,
                         const std::function<void(const std::string&)>& progress) {
  if (!(o.val_fraction >= 0 && o.val_fraction < 1))
    throw InputError("--val-fraction", "expected a fraction in [0, 1), got " + std::to_string(o.val_fraction));
  check_output_dir(o.out_dir, "--out");
  const std::vector<CorpusFile> files = list_corpus_files(o.inputs, o.format);
  uint64_t total = 0;
  for (const CorpusFile& f : files) total += f.bytes;
  const bool has_stdin = std::any_of(files.begin(), files.end(), [](const CorpusFile& f) { return f.path == "-"; });
  if (has_stdin) total = 0;  // unknown: no ETA
  if (has_stdin && o.tokenizer_path.empty())
    throw InputError("--input -", "standard input is read once; give --tokenizer (or a file) to train a BPE first");
  log("corpus: " + std::to_string(files.size()) + " file" + (files.size() == 1 ? "" : "s") +
      (has_stdin ? " (standard input included)" : ", " + fixed(double(total) / 1e6, 1) + " MB"));
  std::unique_ptr<Tokenizer> tok;
  if (!o.tokenizer_path.empty()) {
    tok = load_tokenizer(o.tokenizer_path);
    log("tokenizer: " + o.tokenizer_path + " (" + tokenizer_kind_name(tok->kind()) + ", " +
        std::to_string(tok->vocab_size()) + " tokens)");
  } else {
    check_bpe_vocab_size(o.vocab_size);
    tok = train_tokenizer(o, files, log);
  }
  const std::string tokenizer_json = tok->to_json();
  const int32_t bos = tok->special().bos;

  StagedDir staged(o.out_dir, "--out");
  const std::string source = "headlab-data text";
  StreamDatasetWriter train(staged.path() + "/train.h5", tok->vocab_size(), tokenizer_json, source);
  std::unique_ptr<StreamDatasetWriter> val;
  if (o.val_fraction > 0)
    val = std::make_unique<StreamDatasetWriter>(staged.path() + "/validation.h5", tok->vocab_size(), tokenizer_json,
                                                source);
  DocumentReader reader(files, o.text_field);
  Progress bar(total, progress);
  const size_t batch_bytes = size_t(16) << 20;
  std::vector<TextPiece> batch;
  std::vector<std::vector<int32_t>> ids;
  uint64_t train_bytes = 0, val_bytes = 0;
  bool more = true;
  while (more) {
    batch.clear();
    size_t bytes = 0;
    TextPiece piece;
    while (bytes < batch_bytes && (more = reader.next(piece))) {
      bytes += piece.text.size();
      batch.push_back(std::move(piece));
    }
    ids.assign(batch.size(), {});
    const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
    // An exception must not leave an OpenMP region: each piece's is kept and the first rethrown.
    std::vector<std::exception_ptr> failed(batch.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t i = 0; i < int64_t(batch.size()); ++i) {
      try {
        ids[size_t(i)] = tok->encode(batch[size_t(i)].text);
      } catch (...) {
        failed[size_t(i)] = std::current_exception();
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!failed[i]) continue;
      try {
        std::rethrow_exception(failed[i]);
      } catch (const InputError& e) {
        // A char or word tokenizer refuses bytes or words it does not have.
        throw InputError(batch[i].where, "cannot be encoded with --tokenizer " + o.tokenizer_path + ": " + e.what());
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const bool is_val = text_document_is_validation(batch[i].document, o.val_fraction, o.seed);
      StreamDatasetWriter& w = is_val ? *val : train;
      if (batch[i].starts_document) {
        w.start_document();
        w.append(&bos, 1);
      }
      w.append(ids[i].data(), ids[i].size());
      (is_val ? val_bytes : train_bytes) += batch[i].text.size();
    }
    if (more) bar.update(reader.bytes_read());
  }
  bar.update(reader.bytes_read(), true);
  const int64_t n_docs = train.n_documents() + (val ? val->n_documents() : 0);
  if (n_docs == 0 || train_bytes + val_bytes == 0)
    throw InputError("--input", "the corpus is empty: " + std::to_string(n_docs) + " documents, no text");
  const double seconds = bar.seconds();
  auto report = [&](const char* name, StreamDatasetWriter& w, uint64_t b) {
    log(std::string(name) + ": " + std::to_string(w.n_documents()) + " documents, " + fixed(double(b) / 1e6, 2) +
        " MB, " + std::to_string(w.n_tokens()) + " tokens (" +
        fixed(double(b) / std::max<double>(1, double(w.n_tokens() - w.n_documents())), 2) + " bytes per token) -> " +
        o.out_dir + "/" + name + ".h5");
  };
  log("encoded " + fixed(double(train_bytes + val_bytes) / 1e6, 1) + " MB in " + fixed(seconds, 2) + " s (" +
      fixed(double(train_bytes + val_bytes) / 1e6 / std::max(seconds, 1e-9), 1) + " MB/s, " +
      std::to_string(o.threads > 0 ? o.threads : omp_get_max_threads()) + " threads)");
  train.finish();
  report("train", train, train_bytes);
  if (val && val->n_documents() == 0) {
    log("validation: none written: no document of " + std::to_string(n_docs) + " fell to --val-fraction " +
        fixed(o.val_fraction, 3) + " (it takes every " + fixed(1 / o.val_fraction, 0) + "th document)");
    val.reset();
  }
  if (val) {
    val->finish();
    report("validation", *val, val_bytes);
  }
  save_tokenizer(*tok, staged.path() + "/tokenizer.json");
  staged.commit();
}

}  // namespace headlab
