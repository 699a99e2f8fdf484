// headlab-data text: a user's files, folders, JSONL and standard input into train / validation stream
// datasets. Documents come back byte for byte from the datasets, pieces of long documents encode to
// the ids of the whole, the split takes exactly the stated share, and bad corpora are one-line errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/errors.h"
#include "core/sanitizers.h"
#include "data/bpe_tokenizer.h"
#include "data/text_corpus.h"
#include "data/text_dataset.h"
#include "data/token_dataset.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"

using namespace headlab;
using namespace headlab::testing;

namespace {

const std::string kTool = HEADLAB_BINARY_DIR "/bin/headlab-data";

void write_file(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string some_text(std::mt19937_64& rng, size_t words) {
  const std::vector<std::string> w = {"the",
                                      "cat",
                                      "sat",
                                      "on",
                                      "a",
                                      "mat",
                                      "and",
                                      "dog's",
                                      "1984",
                                      "caf\xc3\xa9",
                                      "Hello",
                                      "world",
                                      ",",
                                      ".",
                                      "\n",
                                      "  ",
                                      "\xe6\x97\xa5\xe6\x9c\xac",
                                      "ran"};
  std::string s;
  for (size_t i = 0; i < words; ++i) s += (i ? " " : "") + w[rng() % w.size()];
  return s;
}

// The documents of a stream dataset, decoded, without their BOS.
std::vector<std::string> documents_of(const TokenDataset& ds, const Tokenizer& tok) {
  std::vector<std::string> docs;
  for (size_t d = 0; d < ds.doc_offsets.size(); ++d) {
    const size_t b = ds.doc_offsets[d], e = d + 1 < ds.doc_offsets.size() ? ds.doc_offsets[d + 1] : ds.tokens.size();
    EXPECT_EQ(ds.tokens[b], tok.special().bos);
    docs.push_back(tok.decode(std::vector<int32_t>(ds.tokens.begin() + b + 1, ds.tokens.begin() + e)));
  }
  return docs;
}

}  // namespace

TEST(DataTextDatasetTest, FoldersAndJsonlComeBackByteForByte) {
  TempDir dir;
  std::mt19937_64 rng(3);
  std::vector<std::string> expected;  // in reading order: the folder's files sorted, then the JSONL lines
  for (const char* name : {"corpus/a.txt", "corpus/b/c.txt", "corpus/b/d.md", "corpus/z.txt"}) {
    expected.push_back(some_text(rng, 3000));
    write_file(dir.path(name), expected.back());
  }
  write_file(dir.path("corpus/.hidden"), "never read");
  std::string jsonl;
  for (int i = 0; i < 40; ++i) {
    expected.push_back(some_text(rng, 40) + "\t\"quoted\"");
    jsonl += nlohmann::json{{"id", i}, {"body", expected.back()}}.dump() + "\n";
    if (i % 7 == 0) jsonl += "\n";  // blank lines are skipped
  }
  write_file(dir.path("more.jsonl"), jsonl);

  TextDatasetOptions o;
  o.inputs = {dir.path("corpus"), dir.path("more.jsonl")};
  o.text_field = "body";
  o.vocab_size = 400;
  o.val_fraction = 0.1;
  o.seed = 7;
  o.out_dir = dir.path("out");
  o.threads = 2;
  std::vector<std::string> lines, progress;
  build_text_datasets(
      o, [&](const std::string& l) { lines.push_back(l); }, [&](const std::string& l) { progress.push_back(l); });
  ASSERT_FALSE(progress.empty());
  EXPECT_NE(progress.back().find("MB/s"), std::string::npos);
  const TokenDataset train = read_token_dataset(dir.path("out/train.h5"));
  const TokenDataset val = read_token_dataset(dir.path("out/validation.h5"));
  const std::unique_ptr<Tokenizer> tok = load_tokenizer(dir.path("out/tokenizer.json"));
  EXPECT_EQ(train.kind, DatasetKind::stream);
  EXPECT_EQ(train.tokenizer_json, tok->to_json());
  EXPECT_EQ(train.d_vocab, tok->vocab_size());
  EXPECT_GT(train.d_vocab, 300);
  const std::vector<std::string> t = documents_of(train, *tok), v = documents_of(val, *tok);
  ASSERT_EQ(t.size() + v.size(), expected.size());
  size_t ti = 0, vi = 0;
  for (size_t d = 0; d < expected.size(); ++d) {
    const bool is_val = text_document_is_validation(int64_t(d), 0.1, 7);
    EXPECT_EQ(is_val ? v[vi++] : t[ti++], expected[d]) << "document " << d;
  }
  EXPECT_NEAR(double(v.size()), 4.4, 0.61);  // 44 documents, every 10th
  EXPECT_FALSE(std::filesystem::exists(dir.path("out/.train.h5.tmp.raw")));
}

TEST(DataTextDatasetTest, PiecesOfLongDocumentsEncodeLikeTheWhole) {
  TempDir dir;
  std::mt19937_64 rng(5);
  std::string doc;
  for (int i = 0; i < 50; ++i) doc += some_text(rng, 200) + "\n\n";
  write_file(dir.path("long.txt"), doc);
  BpeTrainingOptions bo;
  bo.vocab_size = 500;
  const BpeTokenizer tok = train_bpe({doc}, bo);
  DocumentReader reader(list_corpus_files({dir.path("long.txt")}, TextFormat::auto_detect), "text", 100);
  TextPiece piece;
  std::vector<int32_t> ids;
  std::string joined;
  int pieces = 0;
  while (reader.next(piece)) {
    EXPECT_EQ(piece.document, 0);
    EXPECT_EQ(piece.starts_document, pieces == 0);
    const std::vector<int32_t> p = tok.encode(piece.text);
    ids.insert(ids.end(), p.begin(), p.end());
    joined += piece.text;
    ++pieces;
  }
  EXPECT_GT(pieces, 50);
  EXPECT_EQ(joined, doc);
  EXPECT_EQ(ids, tok.encode(doc));
}

TEST(DataTextDatasetTest, SplitTakesEveryKthDocumentAtSeededPlaces) {
  for (double f : {0.05, 0.1, 0.25}) {
    int n = 0;
    for (int64_t i = 0; i < 1000; ++i) n += text_document_is_validation(i, f, 3);
    EXPECT_NEAR(n, 1000 * f, 1.0) << f;
  }
  EXPECT_FALSE(text_document_is_validation(0, 0.5, 1));
  int differ = 0;
  for (int64_t i = 0; i < 100; ++i)
    differ += text_document_is_validation(i, 0.1, 1) != text_document_is_validation(i, 0.1, 2);
  EXPECT_GT(differ, 0);
}

TEST(DataTextDatasetTest, CommandLineStdinAndBadCorpora) {
  TempDir dir;
  std::mt19937_64 rng(9);
  for (int i = 0; i < 6; ++i) write_file(dir.path("docs/" + std::to_string(i) + ".txt"), some_text(rng, 500));
  CommandResult r = run_command_line(kTool + " text --input " + dir.path("docs") + " --vocab-size 300 --out " +
                                     dir.path("out") + " --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("train: "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("MB/s"), std::string::npos) << r.err;
  // Standard input, with the tokenizer just made.
  r = run_command_line("printf 'the cat sat on the mat' | " + kTool + " text --input - --tokenizer " +
                       dir.path("out/tokenizer.json") + " --val-fraction 0 --out " + dir.path("stdin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const TokenDataset ds = read_token_dataset(dir.path("stdin/train.h5"));
  EXPECT_EQ(load_tokenizer(dir.path("out/tokenizer.json"))->decode(ds.tokens, SpecialTokenText::skip),
            "the cat sat on the mat");
  EXPECT_FALSE(std::filesystem::exists(dir.path("stdin/validation.h5")));

  write_file(dir.path("bin/x.bin"), std::string("\x7f"
                                                "ELF\0\0\1",
                                                7));
  write_file(dir.path("empty/a.txt"), "");
  write_file(dir.path("nofield.jsonl"), "{\"text\": \"fine\"}\n{\"body\": \"no text field\"}\n");
  write_file(dir.path("notjson.jsonl"), "{\"text\": \"fine\"}\nnot json\n");
  std::filesystem::create_directories(dir.path("nothing"));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--input " + dir.path("bin"), "looks binary"},
      {"--input " + dir.path("empty"), "no text"},
      {"--input " + dir.path("nothing"), "holds no files"},
      {"--input " + dir.path("nofield.jsonl"), "line 2: has no field 'text'"},
      {"--input " + dir.path("notjson.jsonl"), "line 2: not valid JSON"},
      {"--input " + dir.path("missing"), "no such file"},
      {"--input " + dir.path("docs") + " --val-fraction 1.5", "--val-fraction"},
      {"--input - ", "give --tokenizer"}};
  for (const auto& [args, why] : bad) {
    r = run_command_line(kTool + " text " + args + " --vocab-size 300 --out " + dir.path("bad") + " </dev/null");
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(r.err_lines(), 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path("bad"))) << args;
  }

  // Found only while encoding, after the output was begun: binary bytes past the first 8 KiB or on
  // standard input, a JSONL line without the field, a tokenizer that lacks some of the text's bytes.
  // Each is still one line, and the staged output is gone.
  write_file(dir.path("late_binary.txt"), std::string(20000, 'a') + std::string("\0\x01\x02", 3) + "tail");
  write_file(dir.path("abc.txt"), "abc cab");
  r = run_command_line(kTool + " tokenizer train --input " + dir.path("abc.txt") + " --kind char --out " +
                       dir.path("abc_char.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string tok = " --tokenizer " + dir.path("out/tokenizer.json");
  const std::vector<std::pair<std::string, std::string>> late = {
      {"--input " + dir.path("late_binary.txt") + tok, "looks binary (a NUL byte at offset 20000)"},
      {"--input - " + tok + " <" + dir.path("late_binary.txt"), "standard input: looks binary"},
      {"--input " + dir.path("nofield.jsonl") + tok, "line 2: has no field 'text'"},
      {"--input " + dir.path("docs") + " --tokenizer " + dir.path("abc_char.json"),
       "cannot be encoded with --tokenizer"},
  };
  for (const auto& [args, why] : late) {
    r = run_command_line(kTool + " text " + args + " --threads 2 --out " + dir.path("bad"));
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(r.err_lines(), 1) << args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("headlab-data: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path("bad"))) << args;
  }
  for (const auto& e : std::filesystem::directory_iterator(dir.path("")))
    EXPECT_NE(e.path().filename().string().rfind(".bad", 0), 0u) << "left behind: " << e.path();
}

// Many small files: each document's piece must hold its own bytes, not the 1 MiB a read reserves (6,000
// files of 200 bytes once held 6 GiB in one 16 MB batch). Under a 2 GiB address-space limit, outside
// the sanitizer builds (their shadow memory needs terabytes of address space).
TEST(DataTextDatasetTest, ManySmallFilesStayInBoundedMemory) {
  if (kUnderShadowSanitizer) GTEST_SKIP() << "address-space limit under a sanitizer";
  TempDir dir;
  std::mt19937_64 rng(4);
  std::filesystem::create_directories(dir.path("many"));
  for (int i = 0; i < 6000; ++i) {
    std::string text = some_text(rng, 40);
    text.resize(std::min<size_t>(text.size(), 200));
    std::ofstream(dir.path("many/" + std::to_string(100000 + i) + ".txt"), std::ios::binary) << text;
  }
  write_file(dir.path("seed.txt"), some_text(rng, 2000));
  CommandResult r = run_command_line(kTool + " tokenizer train --input " + dir.path("seed.txt") +
                                     " --vocab-size 300 --out " + dir.path("tok.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_command_line("ulimit -v 2097152; " + kTool + " text --input " + dir.path("many") + " --tokenizer " +
                       dir.path("tok.json") + " --val-fraction 0 --threads 2 --out " + dir.path("out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("train: 6000 documents"), std::string::npos) << r.out;
}
