// The headlab-data command: bad inputs end in one line "headlab-data: error: ..." and exit status 2,
// and leave no output file; good ones write a dataset that reads back. Runs the built binary, and
// skips when it has not been built.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "data/token_dataset.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"

namespace {

const std::string kBinary = std::string(HEADLAB_BINARY_DIR) + "/data/headlab-data";

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
  const headlab::testing::CommandResult r = run("task ioi --n 16 --seed 2 --out " + out + " --save-tokenizer " + tokenizer);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("16 rows"), std::string::npos) << r.out;
  const headlab::TokenDataset ds = headlab::read_token_dataset(out);
  EXPECT_EQ(ds.n_seq, 16);
  EXPECT_EQ(ds.corrupted.size(), ds.tokens.size());
  // The saved word list round-trips text through encode and decode.
  const headlab::testing::CommandResult enc = run("tokenizer encode --tokenizer " + tokenizer + " --text 'Mary gave a drink to John'");
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  const headlab::testing::CommandResult dec =
      run("tokenizer decode --tokenizer " + tokenizer + " --ids '" + enc.out.substr(0, enc.out.size() - 1) + "'");
  ASSERT_EQ(dec.exit_code, 0) << dec.err;
  EXPECT_EQ(dec.out, "Mary gave a drink to John\n");
  expect_input_error("tokenizer encode --tokenizer " + tokenizer + " --text 'Mary sang'", "'sang'");
  std::remove(out.c_str());
  std::remove(tokenizer.c_str());
}
