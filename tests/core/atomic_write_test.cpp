// Text files appear whole or not at all, through a hidden temporary beside the target.
#include "core/atomic_write.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "tests/temp_dir.h"

namespace headlab {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ModelAtomicWriteTest, TemporaryIsHiddenBesideTheTarget) {
  EXPECT_EQ(hidden_temporary_path("run/checkpoints/step_000010.h5"), "run/checkpoints/.step_000010.h5.tmp");
  EXPECT_EQ(hidden_temporary_path("heads.txt"), ".heads.txt.tmp");
  EXPECT_EQ(hidden_temporary_path("/a/.partial"), "/a/.partial.tmp");
}

TEST(ModelAtomicWriteTest, WritesTheWholeTextAndLeavesNoTemporary) {
  testing::TempDir dir;
  const std::string path = dir.path("report.txt");
  std::string text(100000, 'x');
  text += "\nend\n";
  write_text_file_atomically(path, "old");
  write_text_file_atomically(path, text);  // replaces
  EXPECT_EQ(read_text(path), text);
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path(""))) entries += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(entries, 1) << "a temporary was left beside " << path;
}

TEST(ModelAtomicWriteTest, UnwritablePathIsAnInputErrorNamingIt) {
  testing::TempDir dir;
  const std::string path = dir.path("no/such/folder/report.txt");
  testing::expect_input_error([&] { write_text_file_atomically(path, "x"); }, {path, "cannot write"});
  // A folder where the file should be: the rename fails, and nothing is left.
  std::filesystem::create_directories(dir.path("taken"));
  testing::expect_input_error([&] { write_text_file_atomically(dir.path("taken"), "x"); }, {dir.path("taken")});
  EXPECT_FALSE(std::filesystem::exists(hidden_temporary_path(dir.path("taken"))));
}

}  // namespace
}  // namespace headlab
