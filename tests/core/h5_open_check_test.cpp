// File::open's check in a child process (core/h5_open_check.cpp): a file that crashes the HDF5
// library, that takes too long or that points outside itself is refused with one InputError.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "core/errors.h"
#include "core/h5_file.h"
#include "tests/temp_dir.h"

namespace headlab {
using testing::TempDir;
namespace {

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Restores the process-wide limits however a test ends.
struct LimitsGuard {
  h5::OpenCheckLimits saved = h5::open_check_limits();
  ~LimitsGuard() { h5::set_open_check_limits(saved); }
};

// A file with a variable-length string attribute whose object in the global heap claims 512 MiB:
// reading the attribute makes HDF5 copy that much out of a 4 KiB heap block.
std::string file_with_damaged_global_heap(const TempDir& tmp) {
  const std::string path = tmp.path("heap.h5");
  {
    h5::AtomicFile out(path);
    out.file().set_attr("note", "a variable-length string, kept in the global heap");
    out.commit();
  }
  std::string bytes = bytes_of(path);
  const size_t heap = bytes.find("GCOL");
  EXPECT_NE(heap, std::string::npos) << "no global heap in the file";
  // "GCOL", version, 3 reserved, collection size (8); then object 1: index (2), references (2),
  // reserved (4), size (8).
  const size_t size_at = heap + 16 + 8;
  const uint64_t huge = uint64_t(512) << 20;
  std::memcpy(&bytes[size_at], &huge, sizeof huge);
  write_bytes(path, bytes);
  return path;
}

TEST(ModelH5OpenCheckTest, ADamagedGlobalHeapIsRefusedNotACrash) {
  TempDir tmp;
  const std::string path = file_with_damaged_global_heap(tmp);
  try {
    h5::File f = h5::File::open(path);
    f.attr_string("note");  // reached only if the damage went unseen
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path + ": damaged HDF5 file ("), std::string::npos) << what;
    EXPECT_NE(what.find("attribute note"), std::string::npos) << what;
  }
}

// The same file read without the check takes the reading process down (or makes HDF5 allocate
// and copy 512 MiB of garbage): what the check exists for. In a child, so the test survives.
TEST(ModelH5OpenCheckTest, WithoutTheCheckTheSameFileIsNotReadCleanly) {
  TempDir tmp;
  const std::string path = file_with_damaged_global_heap(tmp);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    h5::OpenCheckLimits off;
    off.enabled = false;
    h5::set_open_check_limits(off);
    std::string text;
    try {
      text = h5::File::open(path).attr_string("note");
    } catch (const std::exception&) {
      ::_exit(2);  // a clean refusal after all
    }
    ::_exit(text == "a variable-length string, kept in the global heap" ? 0 : 3);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  // 0 would mean HDF5 read the damaged heap as if it were whole: the test file does not test.
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(ModelH5OpenCheckTest, AValidFilePassesAndReadsTheSame) {
  TempDir tmp;
  const std::string path = tmp.path("ok.h5");
  {
    h5::AtomicFile out(path);
    out.file().set_attr("note", "caf\xc3\xa9");
    out.file().write<float>("x", std::vector<float>{1, 2, 3});
    h5::DatasetOptions chunked;
    chunked.chunk_rows = 2;
    chunked.deflate = 4;
    out.file().write<int32_t>("g/y", std::vector<int32_t>(1000, 7).data(), {250, 4}, chunked);
    out.commit();
  }
  const h5::File f = h5::File::open(path);
  EXPECT_EQ(f.attr_string("note"), "caf\xc3\xa9");
  EXPECT_EQ(f.read<int32_t>("g/y", {250, 4})[999], 7);
}

TEST(ModelH5OpenCheckTest, TakingLongerThanTheBoundIsRefused) {
  LimitsGuard guard;
  TempDir tmp;
  const std::string path = tmp.path("ok.h5");
  {
    h5::AtomicFile out(path);
    out.file().write<float>("x", std::vector<float>{1, 2, 3});
    out.commit();
  }
  h5::OpenCheckLimits limits;
  limits.seconds = 0;
  limits.bytes_per_second = 1e30;
  h5::set_open_check_limits(limits);
  testing::expect_input_error([&] { h5::File::open(path); }, {path, "damaged HDF5 file", "took longer than 0 s"});
}

TEST(ModelH5OpenCheckTest, NotHdf5OrMissingIsRefusedBeforeAnyChild) {
  TempDir tmp;
  const std::string path = tmp.path("text.h5");
  write_bytes(path, "not an HDF5 file\n");
  testing::expect_input_error([&] { h5::File::open(path); }, {path, "not one"});
}

}  // namespace
}  // namespace headlab
