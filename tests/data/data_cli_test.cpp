// The headlab-data command: bad inputs end in one line "headlab-data: error: ..." and exit status 2,
// and leave no output file; good ones write a dataset that reads back. Runs the built binary, and
// skips when it has not been built.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/sanitizers.h"
#include "data/token_dataset.h"
#include "tests/command_runner.h"
#include "tests/data/bad_token_datasets.h"
#include "tests/temp_dir.h"

namespace {

const std::string kBinary = std::string(HEADLAB_BINARY_DIR) + "/bin/headlab-data";

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Each call captures into its own files (tests run in parallel under ctest -j).
headlab::testing::CommandResult run(const std::string& args) {
  return headlab::testing::run_command_line(kBinary + " " + args);
}

void expect_input_error(const std::string& args, const std::string& mentions) {
  const headlab::testing::CommandResult r = run(args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
  EXPECT_EQ(r.err.rfind("headlab-data: error: ", 0), 0u) << args << "\n" << r.err;
  EXPECT_EQ(r.err_lines(), 1) << "one line: " << r.err;
  EXPECT_NE(r.err.find(mentions), std::string::npos) << args << "\n" << r.err;
}

// The refusal, and the same under `ulimit -v 4 GiB`: the command must refuse before allocating, not
// after (a request that allocated what it asked for would end in an out-of-memory exit 1). An AddressSanitizer or
// ThreadSanitizer build cannot start under that limit (they reserve terabytes of address space for their shadow
// memory), so there only the refusal is checked.
void expect_refused_before_allocating(const std::string& args, const std::string& mentions) {
  expect_input_error(args, mentions);
  if (headlab::kUnderShadowSanitizer) return;
  const headlab::testing::CommandResult r =
      headlab::testing::run_command_line("ulimit -v 4194304; " + kBinary + " " + args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
}

// Three tiny documents in the Brown corpus' word/tag format.
void write_tiny_brown_corpus(const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (const char* id : {"ca01", "ca02", "ca03"})
    std::ofstream(dir + "/" + id) << "\n\tThe/at jury/nn said/vbd it/pps was/bedz late/jj ./.\n\n"
                                     "\tThe/at cat/nn sat/vbd on/in the/at mat/nn ./.\n";
}

class DataCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!exists(kBinary)) GTEST_SKIP() << kBinary << " is not built (cmake --build ... --target headlab-data)";
  }
  headlab::testing::TempDir temp_;
  const std::string dir_ = temp_.path("");
};

}  // namespace

TEST_F(DataCliTest, BadInputsGiveOneLineAndStatusTwo) {
  const std::string out = dir_ + "/cli_never.h5";
  expect_input_error("task nosuch --n 5 --out " + out, "unknown task 'nosuch'");
  expect_input_error("task ioi --n 0 --out " + out, "--n");
  expect_input_error("task ioi --n=-4 --out " + out, "--n");
  expect_input_error("task ioi --out " + out, "--n");
  expect_input_error("task ioi --n 5 --bogus 1 --out " + out, "bogus");
  expect_input_error("brown --corpus /nonexistent/corpus --out " + dir_ + "/cli_brown", "fetch_brown.sh");
  const std::string bad_tokenizer = dir_ + "/cli_bad_tokenizer.json";
  std::ofstream(bad_tokenizer)
      << "{\"format\": \"headlab.tokenizer\", \"format_version\": 1, \"type\": \"bpe\", \"merg";
  expect_input_error("task ioi --n 5 --tokenizer " + bad_tokenizer + " --out " + out, "not a headlab tokenizer");
  expect_input_error("task ioi --n 5 --tokenizer " + dir_ + "/cli_missing.json --out " + out, "cli_missing.json");
  expect_input_error("tokenizer decode --tokenizer " + bad_tokenizer + " --ids 1", "cli_bad_tokenizer.json");
  expect_input_error("mix --source " + dir_ + "/cli_missing.h5 --n 4 --out " + out, "cli_missing.h5");
  expect_input_error("frobnicate", "unknown command");
  expect_input_error("", "command");
  EXPECT_FALSE(exists(out)) << "a failed command left a file";
}

TEST_F(DataCliTest, TaskWritesADatasetThatReadsBack) {
  const std::string out = dir_ + "/cli_ioi.h5", tokenizer = dir_ + "/cli_ioi_tokenizer.json";
  const headlab::testing::CommandResult r =
      run("task ioi --n 16 --seed 2 --out " + out + " --save-tokenizer " + tokenizer);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("16 rows"), std::string::npos) << r.out;
  const headlab::TokenDataset ds = headlab::read_token_dataset(out);
  EXPECT_EQ(ds.n_seq, 16);
  EXPECT_EQ(ds.corrupted.size(), ds.tokens.size());
  // The saved word list round-trips text through encode and decode.
  const headlab::testing::CommandResult enc =
      run("tokenizer encode --tokenizer " + tokenizer + " --text 'Mary gave a drink to John'");
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  const headlab::testing::CommandResult dec =
      run("tokenizer decode --tokenizer " + tokenizer + " --ids '" + enc.out.substr(0, enc.out.size() - 1) + "'");
  ASSERT_EQ(dec.exit_code, 0) << dec.err;
  EXPECT_EQ(dec.out, "Mary gave a drink to John\n");
  expect_input_error("tokenizer encode --tokenizer " + tokenizer + " --text 'Mary sang'", "'sang'");
  std::remove(out.c_str());
  std::remove(tokenizer.c_str());
}

TEST_F(DataCliTest, HelpWorksForEveryCommand) {
  for (const char* args : {"--help", "-h", "brown --help", "task --help", "mix --help", "tokenizer --help",
                           "tokenizer train --help", "tokenizer encode --help", "tokenizer decode --help"}) {
    const headlab::testing::CommandResult r = run(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
    EXPECT_FALSE(r.out.empty()) << args;
    EXPECT_TRUE(r.err.empty()) << args << "\n" << r.err;
  }
}

TEST_F(DataCliTest, BadTokenDatasetsAreInputErrors) {
  const std::string valid = dir_ + "/valid.h5";
  ASSERT_EQ(run("task ioi --n 4 --seed 1 --out " + valid).exit_code, 0);
  const std::string out = dir_ + "/mixed.h5";
  for (const headlab::testing::BadDataset& bad : headlab::testing::write_bad_token_datasets(valid, dir_, 209)) {
    SCOPED_TRACE(bad.name);
    expect_input_error("mix --source " + bad.path + " --n 4 --seq-len 32 --out " + out, bad.path);
    if (!bad.mentions.empty())
      expect_input_error("mix --source " + bad.path + " --n 4 --seq-len 32 --out " + out, bad.mentions);
  }
  EXPECT_FALSE(exists(out));
}

TEST_F(DataCliTest, HugeRequestsAreRefusedBeforeAllocating) {
  const std::string out = dir_ + "/huge.h5", valid = dir_ + "/valid.h5";
  ASSERT_EQ(run("task ioi --n 4 --out " + valid).exit_code, 0);
  expect_refused_before_allocating("task ioi --n 1000000000000 --out " + out, "--n");
  // 10^7 rows are allowed, but not of 8193 tokens each.
  expect_refused_before_allocating("task induction --n 10000000 --length 4096 --out " + out, "tokens");
  expect_refused_before_allocating("mix --source " + valid + " --n 10000000 --seq-len 1000000 --out " + out,
                                   "--seq-len");
  expect_refused_before_allocating("tokenizer train --input " + valid + " --vocab-size 1000000000 --out " + out,
                                   "--vocab-size");
  EXPECT_FALSE(exists(out));
  if (headlab::kUnderShadowSanitizer)
    GTEST_SKIP() << "under AddressSanitizer or ThreadSanitizer: the refusals were checked, but not under ulimit -v "
                    "(the sanitizer's "
                    "shadow memory needs terabytes of address space, more than any such limit allows)";
}

TEST_F(DataCliTest, MissingOutputFoldersAreCreated) {
  ASSERT_EQ(run("task ioi --n 4 --out " + dir_ + "/a/b/ioi.h5 --save-tokenizer " + dir_ + "/c/tok.json").exit_code, 0);
  EXPECT_EQ(headlab::read_token_dataset(dir_ + "/a/b/ioi.h5").n_seq, 4);
  EXPECT_TRUE(exists(dir_ + "/c/tok.json"));
  const headlab::testing::CommandResult mix =
      run("mix --source " + dir_ + "/a/b/ioi.h5 --n 6 --seq-len 24 --out " + dir_ + "/d/mix.h5");
  ASSERT_EQ(mix.exit_code, 0) << mix.err;
  EXPECT_EQ(headlab::read_token_dataset(dir_ + "/d/mix.h5").n_seq, 6);
  std::ofstream(dir_ + "/text.txt") << "the cat sat on the mat, the cat sat on the hat\n";
  ASSERT_EQ(
      run("tokenizer train --input " + dir_ + "/text.txt --vocab-size 270 --out " + dir_ + "/e/f/t.json").exit_code, 0);
  EXPECT_TRUE(exists(dir_ + "/e/f/t.json"));
}

TEST_F(DataCliTest, OutputsThatCannotBeWrittenFailBeforeTheWork) {
  const std::string file = dir_ + "/plain.txt";
  std::ofstream(file) << "not a folder\n";
  expect_input_error("task ioi --n 4 --out " + file + "/x.h5", "--out");
  expect_input_error("task ioi --n 4 --out " + dir_, "folder");
  // The dataset and its tokenizer are one result: an unwritable tokenizer path leaves no dataset.
  expect_input_error("task ioi --n 4 --out " + dir_ + "/ioi.h5 --save-tokenizer " + file + "/t.json",
                     "--save-tokenizer");
  EXPECT_FALSE(exists(dir_ + "/ioi.h5"));
  ASSERT_EQ(run("task ioi --n 4 --out " + dir_ + "/ioi.h5 --save-tokenizer " + dir_ + "/tok.json").exit_code, 0);
  // Writing over an input would destroy it.
  expect_input_error("task ioi --n 4 --tokenizer " + dir_ + "/tok.json --out " + dir_ + "/tok.json", "--tokenizer");
  expect_input_error("mix --source " + dir_ + "/ioi.h5 --n 4 --seq-len 24 --out " + dir_ + "/ioi.h5", "--source");
  EXPECT_EQ(headlab::read_token_dataset(dir_ + "/ioi.h5").n_seq, 4);
}

TEST_F(DataCliTest, BrownWritesItsFolderWholeOrNotAtAll) {
  const std::string corpus = dir_ + "/corpus", out = dir_ + "/brown";
  write_tiny_brown_corpus(corpus);
  ASSERT_EQ(run("task ioi --n 2 --out " + dir_ + "/ioi.h5 --save-tokenizer " + dir_ + "/words.json").exit_code, 0);
  // The IOI word list cannot encode the corpus: the failure comes after the tokenizer and the text
  // files are written, and must not leave them.
  expect_input_error("brown --corpus " + corpus + " --tokenizer " + dir_ + "/words.json --out " + out, "--tokenizer");
  EXPECT_FALSE(exists(out));
  expect_input_error("brown --corpus " + corpus + " --tokenizer " + dir_ + "/words.json --vocab-size 300 --out " + out,
                     "--vocab-size");
  expect_input_error("brown --corpus " + corpus + " --vocab-size 2000000000 --out " + out, "--vocab-size");
  const headlab::testing::CommandResult r = run("brown --corpus " + corpus + " --vocab-size 270 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"tokenizer.json", "train.h5", "validation.h5", "test.h5", "splits.json", "text/ca01.txt"})
    EXPECT_TRUE(exists(out + "/" + f)) << f;
  EXPECT_FALSE(exists(dir_ + "/.brown.partial-" + std::to_string(::getpid())));
  // Damaged corpora: an empty document, bytes that are no word/tag (the message stays one line).
  std::ofstream(corpus + "/ca02", std::ios::trunc);
  expect_input_error("brown --corpus " + corpus + " --out " + dir_ + "/b2", "ca02: holds no word/tag");
  std::ofstream(corpus + "/ca02", std::ios::binary | std::ios::trunc) << std::string("a\x01\x02\x7f\xff\r", 6) << "\n";
  expect_input_error("brown --corpus " + corpus + " --out " + dir_ + "/b2", "\\x01\\x02\\x7f\\xff'");
  EXPECT_FALSE(exists(dir_ + "/b2"));
}

TEST_F(DataCliTest, TokenizerCommandsRejectBadInput) {
  std::ofstream(dir_ + "/text.txt") << "hello world, hello there\n";
  std::ofstream(dir_ + "/empty.txt");
  const std::string tok = dir_ + "/tok.json";
  ASSERT_EQ(run("tokenizer train --input " + dir_ + "/text.txt --vocab-size 262 --out " + tok).exit_code, 0);
  for (const char* ids : {"+3", "-1", "x", "262", "1,2", "99999999999999999999"})
    expect_input_error("tokenizer decode --tokenizer " + tok + " --ids '" + ids + "'", std::string("'") + ids + "'");
  expect_input_error("tokenizer encode --tokenizer " + tok + " --text a --input " + dir_ + "/text.txt", "--text");
  expect_input_error("tokenizer encode --tokenizer " + tok + " --input " + dir_, "is a folder");
  expect_input_error("tokenizer encode --tokenizer " + dir_ + " --text a", "is a folder");
  expect_input_error("tokenizer train --input " + dir_ + "/empty.txt --out " + dir_ + "/t2.json", "no text");
  expect_input_error(
      "tokenizer train --input " + dir_ + "/text.txt --kind char --vocab-size 300 --out " + dir_ + "/t2.json",
      "--vocab-size");
  expect_input_error("tokenizer train --input " + dir_ + "/text.txt --out " + dir_ + "/text.txt", "--input");
  expect_input_error("tokenizer", "train, import, encode or decode");
  EXPECT_FALSE(exists(dir_ + "/t2.json"));
  // Bytes that are not UTF-8 round-trip through the byte-level BPE.
  const headlab::testing::CommandResult enc =
      run("tokenizer encode --tokenizer " + tok + " --text \"$(printf '\\377\\376ab')\"");
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  EXPECT_EQ(enc.out, "255 254 97 98\n");
}

TEST_F(DataCliTest, MixRejectsEmptyAndConflictingSources) {
  const std::string ioi = dir_ + "/ioi.h5", ind = dir_ + "/ind.h5", out = dir_ + "/mix.h5";
  ASSERT_EQ(run("task ioi --n 4 --out " + ioi).exit_code, 0);
  ASSERT_EQ(run("task induction --n 4 --length 4 --out " + ind).exit_code, 0);
  {
    headlab::h5::File f = headlab::testing::bad_datasets_detail::open_copy(ioi, dir_ + "/no_rows.h5");
    headlab::testing::bad_datasets_detail::empty_rows(f, 20);
  }
  expect_input_error("mix --source " + dir_ + "/no_rows.h5 --n 4 --seq-len 24 --out " + out, "no rows");  // crashed
  expect_input_error("mix --source " + ioi + ":-1 --n 4 --seq-len 24 --out " + out, ">= 0");
  expect_input_error("mix --source " + ioi + ":0 --source " + ioi + ":0 --n 4 --seq-len 24 --out " + out, "positive");
  expect_input_error("mix --source " + ioi + " --source " + ind + " --n 4 --seq-len 24 --out " + out, "tokenizer");
  expect_input_error("mix --source " + ioi + " --n 4 --seq-len 24 --seed=-1 --out " + out, "--seed");
  EXPECT_FALSE(exists(out));
  // Weights need not sum to 1: they are proportions.
  const headlab::testing::CommandResult r =
      run("mix --source " + ioi + ":3 --source " + ioi + ":1 --n 8 --seq-len 24 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(weight 3): 6 rows"), std::string::npos) << r.out;
}

TEST_F(DataCliTest, TaskRejectsOptionsItDoesNotRead) {
  const std::string out = dir_ + "/x.h5";
  expect_input_error("task ioi --n 4 --pairs 5 --out " + out, "--pairs");
  expect_input_error("task retrieval --n 4 --length 5 --out " + out, "--length");
  expect_input_error("task ioi --n 4 --split test --out " + out, "--split");
  expect_input_error("task ioi --n 4 --seed=-1 --out " + out, "--seed");
  expect_input_error("task ioi facts --n 4 --out " + out, "positional");
  EXPECT_FALSE(exists(out));
}

TEST_F(DataCliTest, InContextTasksCheckTheirOptions) {
  const std::string out = dir_ + "/icl.h5";
  expect_input_error("task markov --n 4 --states 1 --out " + out, "--states");
  expect_input_error("task markov --n 4 --alpha=-0.5 --out " + out, "--alpha");
  expect_input_error("task triggers --n 4 --vocab 8 --triggers 5 --out " + out, "--triggers");
  expect_input_error("task bursty --n 4 --burstiness 3 --out " + out, "--burstiness");
  expect_input_error("task bursty --n 4 --split ic --burstiness 0 --out " + out, "--burstiness");
  expect_input_error("task bursty --n 4 --split test --out " + out, "--split");
  expect_input_error("task parity --n 4 --length 1 --out " + out, "--length");
  expect_input_error("task parity_cot --n 4 --classes 3 --out " + out, "--classes");
  expect_input_error("task ioi --n 4 --states 3 --out " + out, "--states");
  EXPECT_FALSE(exists(out));
  const headlab::testing::CommandResult r = run("task markov --n 4 --states 5 --length 12 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const headlab::TokenDataset ds = headlab::read_token_dataset(out);
  EXPECT_EQ(ds.seq_len, 13);
  EXPECT_EQ(ds.d_vocab, 5 + 3);  // five states and BOS, EOS, PAD
}
