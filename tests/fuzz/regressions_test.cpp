// The inputs that once made a fuzz target crash, hang or trip a sanitizer, kept under
// tests/fuzz/regressions/<target>/, fed to the same entry points as the fuzzer's: each must now be
// parsed or refused with an InputError.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_target.h"

namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(FuzzRegressionTest, EveryKeptInputIsParsedOrRefused) {
  headlab::fuzz::use_fuzzing_limits();
  const fs::path root = fs::path(HEADLAB_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
  ASSERT_FALSE(headlab::fuzz::targets().empty());
  int fed = 0;
  for (const auto& [name, entry] : headlab::fuzz::targets()) {
    if (!fs::is_directory(root / name)) continue;
    std::vector<fs::path> inputs;
    for (const fs::directory_entry& e : fs::directory_iterator(root / name))
      if (e.is_regular_file()) inputs.push_back(e.path());
    std::sort(inputs.begin(), inputs.end());
    for (const fs::path& input : inputs) {
      SCOPED_TRACE(name + " <- " + input.string());
      const std::vector<uint8_t> data = bytes_of(input);
      EXPECT_NO_THROW(headlab::fuzz::run_entry(entry, data.data(), data.size()));
      ++fed;
    }
  }
  EXPECT_GT(fed, 0) << "no inputs under " << root;
}

// Each regression folder belongs to a target that exists (a renamed target would leave its inputs
// unread).
TEST(FuzzRegressionTest, EveryRegressionFolderNamesATarget) {
  const fs::path root = fs::path(HEADLAB_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
  for (const fs::directory_entry& e : fs::directory_iterator(root)) {
    if (e.is_directory()) {
      EXPECT_TRUE(headlab::fuzz::targets().count(e.path().filename().string())) << e.path();
    }
  }
}

}  // namespace
