// The HDF5 wrapper (core/h5_file.h) and the checkpoint format (model/checkpoint.h).
#include <gtest/gtest.h>

#include <hdf5.h>
#include <unistd.h>
#include "tests/temp_dir.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "core/errors.h"
#include "core/h5_file.h"
#include "model/checkpoint.h"
#include "model/params.h"

namespace headlab {
using testing::expect_input_error;
using testing::TempDir;
namespace {

namespace fs = std::filesystem;
using h5::Shape;

template <class T>
std::vector<T> random_ints(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<T> v(n);
  for (auto& x : v) x = T(rng());
  return v;
}

// ==================================================================== h5 wrapper

TEST(ModelH5FileTest, RoundTripsEveryTypeAndShape) {
  TempDir tmp;
  const std::string path = tmp.path("types.h5");
  std::vector<float> f32(24);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = float(i) * 0.37f - 3.0f;
  std::vector<double> f64 = {1e300, -2.5, 0.1};
  const auto i32 = random_ints<int32_t>(5, 1);
  const auto u32 = random_ints<uint32_t>(6, 2);
  const auto i64 = random_ints<int64_t>(7, 3);
  const auto u64 = random_ints<uint64_t>(8, 4);
  const auto u8 = random_ints<uint8_t>(4, 5);
  const auto u16 = random_ints<uint16_t>(9, 6);
  {
    h5::AtomicFile out(path);
    h5::File& f = out.file();
    f.write<float>("a/f32", f32.data(), {2, 3, 4});
    f.write("f64", f64);
    f.write("i32", i32);
    f.write("u32", u32);
    f.write("i64", i64);
    f.write("u64", u64);
    f.write<uint8_t>("u8", u8.data(), {2, 2});
    f.write<uint16_t>("u16", u16.data(), {3, 1, 3});
    out.commit();
  }
  const h5::File f = h5::File::open(path);
  EXPECT_EQ(f.shape("a/f32"), (Shape{2, 3, 4}));
  EXPECT_EQ(f.dtype("a/f32"), h5::DType::f32);
  EXPECT_EQ(f.read<float>("a/f32", Shape{2, 3, 4}), f32);
  EXPECT_EQ(f.dtype("f64"), h5::DType::f64);
  EXPECT_EQ(f.read<double>("f64"), f64);
  EXPECT_EQ(f.dtype("i32"), h5::DType::i32);
  EXPECT_EQ(f.read<int32_t>("i32"), i32);
  EXPECT_EQ(f.dtype("u32"), h5::DType::u32);
  EXPECT_EQ(f.read<uint32_t>("u32"), u32);
  EXPECT_EQ(f.dtype("i64"), h5::DType::i64);
  EXPECT_EQ(f.read<int64_t>("i64"), i64);
  EXPECT_EQ(f.dtype("u64"), h5::DType::u64);
  EXPECT_EQ(f.read<uint64_t>("u64"), u64);
  EXPECT_EQ(f.dtype("u8"), h5::DType::u8);
  EXPECT_EQ(f.read<uint8_t>("u8", Shape{-1, 2}), u8);
  EXPECT_EQ(f.dtype("u16"), h5::DType::u16);
  Shape s;
  EXPECT_EQ(f.read<uint16_t>("u16", &s), u16);
  EXPECT_EQ(s, (Shape{3, 1, 3}));
  EXPECT_TRUE(f.is_group("a"));
  EXPECT_TRUE(f.is_dataset("a/f32"));
  EXPECT_FALSE(f.exists("a/nothing"));
  EXPECT_FALSE(f.exists("nothing/f32"));
  EXPECT_EQ(f.children(), (std::vector<std::string>{"a", "f64", "i32", "i64", "u16", "u32", "u64", "u8"}));
}

TEST(ModelH5FileTest, ChunkedCompressedRowsRoundTrip) {
  TempDir tmp;
  const std::string path = tmp.path("big.h5");
  std::vector<int32_t> values(200000);  // [200000], stored as uint16
  for (size_t i = 0; i < values.size(); ++i) values[i] = int32_t((i * 7919) % 13);
  {
    h5::AtomicFile out(path);
    h5::DatasetOptions opt;
    opt.chunk_rows = 1 << 14;
    opt.deflate = 4;
    opt.stored_as = h5::DType::u16;
    out.file().write("tokens", values, opt);
    out.commit();
  }
  // Low-entropy values compress far below the 400 KB of raw uint16.
  EXPECT_LT(fs::file_size(path), 100000u);
  const h5::File f = h5::File::open(path);
  EXPECT_EQ(f.dtype("tokens"), h5::DType::u16);
  EXPECT_EQ(f.read<int32_t>("tokens", Shape{200000}), values);
  const std::vector<int32_t> rows = f.read_rows<int32_t>("tokens", 70000, 33);
  EXPECT_EQ(rows, std::vector<int32_t>(values.begin() + 70000, values.begin() + 70033));
  expect_input_error([&] { f.read_rows<int32_t>("tokens", 199990, 11); }, {path, "/tokens", "[199990, 200001)"});
}

TEST(ModelH5FileTest, CreateThenWriteRowsFillsADataset) {
  TempDir tmp;
  const std::string path = tmp.path("rows.h5");
  std::vector<float> all(10 * 3);  // [10, 3]
  for (size_t i = 0; i < all.size(); ++i) all[i] = float(i) + 0.5f;
  {
    h5::AtomicFile out(path);
    h5::DatasetOptions opt;
    opt.chunk_rows = 4;
    out.file().create_dataset<float>("acts", {10, 3}, opt);
    out.file().write_rows<float>("acts", 6, all.data() + 18, 4);
    out.file().write_rows<float>("acts", 0, all.data(), 6);
    out.commit();
  }
  EXPECT_EQ(h5::File::open(path).read<float>("acts", Shape{10, 3}), all);
}

TEST(ModelH5FileTest, ConvertsWidthsButRejectsOverflowAndKindChanges) {
  TempDir tmp;
  const std::string path = tmp.path("conv.h5");
  {
    h5::AtomicFile out(path);
    out.file().write("wide", std::vector<uint32_t>{1, 70000});
    out.file().write("small", std::vector<uint16_t>{1, 65535});
    out.file().write("real", std::vector<double>{0.25, -1.5});
    out.commit();
  }
  const h5::File f = h5::File::open(path);
  EXPECT_EQ(f.read<int32_t>("wide"), (std::vector<int32_t>{1, 70000}));
  EXPECT_EQ(f.read<int32_t>("small"), (std::vector<int32_t>{1, 65535}));
  EXPECT_EQ(f.read<float>("real"), (std::vector<float>{0.25f, -1.5f}));
  expect_input_error([&] { f.read<uint16_t>("wide"); }, {path + ": /wide", "fit uint16"});
  expect_input_error([&] { f.read<float>("wide"); }, {path + ": /wide", "floating-point", "uint32"});
  expect_input_error([&] { f.read<int32_t>("real"); }, {path + ": /real", "integer", "float64"});
}

TEST(ModelH5FileTest, ShapeAndPresenceErrorsNameFileAndDataset) {
  TempDir tmp;
  const std::string path = tmp.path("shape.h5");
  {
    h5::AtomicFile out(path);
    std::vector<float> x(6);
    out.file().create_group("g").write<float>("x", x.data(), {2, 3});
    out.commit();
  }
  const h5::File f = h5::File::open(path);
  const h5::Group g = f.group("g");
  expect_input_error(
      [&] {
        g.read<float>("x", Shape{3, 2});
      },
      {path + ": /g/x", "expected shape [3, 2]; found [2, 3]"});
  expect_input_error([&] { g.read<float>("x", Shape{-1}); }, {path + ": /g/x", "[*]"});
  expect_input_error([&] { g.read<float>("y"); }, {path + ": /g/y", "expected a dataset"});
  expect_input_error([&] { f.read<float>("g"); }, {path + ": /g", "found a group"});
  expect_input_error([&] { f.group("g/x"); }, {path + ": /g/x", "expected a group"});
  expect_input_error([&] { g.read_string("x"); }, {path + ": /g/x", "expected a string"});
}

TEST(ModelH5FileTest, AttributesRoundTripAndCheckTheirKind) {
  TempDir tmp;
  const std::string path = tmp.path("attrs.h5");
  const std::string big(200000, 'x');  // beyond the 64 KiB an object header can hold inline
  {
    h5::AtomicFile out(path);
    h5::Group g = out.file().create_group("config");
    g.set_attr("name", "gelu_new");
    g.set_attr("unicode", std::string("L1H4 \xc3\xa9\xe2\x86\x92"));
    g.set_attr("big", big);
    g.set_attr("count", int64_t(-1234567890123));
    g.set_attr("flag", true);
    g.set_attr("eps", 1e-5f);
    g.set_attr("pi", 3.141592653589793);
    g.set_attr("name", "relu");  // replaces
    out.commit();
  }
  const h5::Group g = h5::File::open(path).group("config");
  EXPECT_EQ(g.attr_string("name"), "relu");
  EXPECT_EQ(g.attr_string("unicode"), "L1H4 \xc3\xa9\xe2\x86\x92");
  EXPECT_EQ(g.attr_string("big"), big);
  EXPECT_EQ(g.attr_int("count"), -1234567890123);
  EXPECT_TRUE(g.attr_bool("flag"));
  EXPECT_EQ(float(g.attr_float("eps")), 1e-5f);
  EXPECT_EQ(g.attr_float("pi"), 3.141592653589793);
  EXPECT_EQ(g.attr_float("count"), -1234567890123.0);
  EXPECT_FALSE(g.has_attr("missing"));
  const std::string where = path + ": /config attribute ";
  expect_input_error([&] { g.attr_int("missing"); }, {where + "missing", "expected an attribute"});
  expect_input_error([&] { g.attr_int("name"); }, {where + "name", "expected an integer; found a string"});
  expect_input_error([&] { g.attr_int("eps"); }, {where + "eps", "found float32"});
  expect_input_error([&] { g.attr_string("count"); }, {where + "count", "expected a string; found int64"});
  expect_input_error([&] { g.attr_bool("count"); }, {where + "count", "expected 0 or 1"});
  expect_input_error([&] { g.attr_float("name"); }, {where + "name", "expected a number"});
}

TEST(ModelH5FileTest, StringDatasetsVariableAndFixedLength) {
  TempDir tmp;
  const std::string path = tmp.path("text.h5");
  std::string json = "{\"vocab\": [";
  for (int i = 0; i < 20000; ++i) json += "\"t" + std::to_string(i) + "\", ";
  json += "\"end\"]}";
  {
    h5::AtomicFile out(path);
    out.file().write_string("tokenizer", json);
    out.commit();
  }
  {  // a fixed-length string, as other writers (h5py with numpy bytes, C programs) make
    hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(fid, 0);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 16);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(fid, "fixed", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char buf[16] = "hello";
    ASSERT_GE(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Tclose(type);
    H5Fclose(fid);
  }
  const h5::File f = h5::File::open(path);
  EXPECT_EQ(f.read_string("tokenizer"), json);
  EXPECT_EQ(f.read_string("fixed"), "hello");
}

TEST(ModelH5FileTest, OpenRejectsMissingAndNonHdf5Files) {
  TempDir tmp;
  const std::string text = tmp.path("notes.txt");
  std::ofstream(text) << "not an HDF5 file\n";
  expect_input_error([&] { h5::File::open(text); }, {text, "not"});
  expect_input_error([&] { h5::File::open(tmp.path("absent.h5")); }, {tmp.path("absent.h5"), "No such file"});
  expect_input_error([&] { h5::File::create(tmp.path("no/such/dir/x.h5")); },
                     {tmp.path("no/such/dir/x.h5"), "cannot create"});
}

TEST(ModelH5FileTest, AtomicFileLeavesNothingWhenTheWriterThrows) {
  TempDir tmp;
  const std::string path = tmp.path("out.h5");
  try {
    h5::AtomicFile out(path);
    out.file().write("x", std::vector<float>(1000, 1.0f));
    EXPECT_TRUE(fs::exists(h5::AtomicFile::temporary_path(path)));
    throw std::runtime_error("writer failed midway");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(h5::AtomicFile::temporary_path(path)));
  EXPECT_TRUE(fs::is_empty(tmp.path("")));
}

// A file being written (or left by a kill midway) is hidden beside its target: a glob such as
// step_*.h5* or a plain `ls` never shows it, and the rename stays within the directory.
TEST(ModelH5FileTest, AtomicFileWritesAHiddenTemporaryBesideTheTarget) {
  EXPECT_EQ(h5::AtomicFile::temporary_path("/a/b/step_000003.h5"), "/a/b/.step_000003.h5.tmp");
  EXPECT_EQ(h5::AtomicFile::temporary_path("out.h5"), ".out.h5.tmp");
  EXPECT_EQ(h5::AtomicFile::temporary_path("/a/.hidden.h5"), "/a/.hidden.h5.tmp");  // not "..hidden"
  TempDir tmp;
  const std::string path = tmp.path("step_000003.h5");
  {
    h5::AtomicFile out(path);
    out.file().write("x", std::vector<int32_t>{1, 2, 3});
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(tmp.path(""))) names.push_back(e.path().filename().string());
    EXPECT_EQ(names, std::vector<std::string>{".step_000003.h5.tmp"});
    out.commit();
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path(""))) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"step_000003.h5"});
  // What a killed writer left is truncated by the next write of the same path.
  std::ofstream(h5::AtomicFile::temporary_path(path)) << "half a file";
  {
    h5::AtomicFile out(path);
    out.file().write("x", std::vector<int32_t>{7});
    out.commit();
  }
  EXPECT_EQ(h5::File::open(path).read<int32_t>("x"), (std::vector<int32_t>{7}));
  EXPECT_FALSE(fs::exists(h5::AtomicFile::temporary_path(path)));
}

// No creation times in the files: the same contents written a second later are the same bytes,
// so a resumed run's checkpoints can be compared with an uninterrupted run's by checksum.
TEST(ModelH5FileTest, TheSameContentsWrittenLaterAreTheSameBytes) {
  TempDir tmp;
  auto write = [&](const std::string& path) {
    h5::AtomicFile out(path);
    h5::set_format(out.file(), "headlab.test", 1);
    h5::Group g = out.file().create_group("params");
    g.write<float>("w", std::vector<float>{1, 2, 3});
    out.file().write<int64_t>("train/rng_state", std::vector<int64_t>{7});  // an intermediate group
    out.file().write_string("tokenizer", "{}");
    out.commit();
  };
  auto bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  write(tmp.path("a.h5"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // HDF5 keeps times in seconds
  write(tmp.path("b.h5"));
  EXPECT_EQ(bytes(tmp.path("a.h5")), bytes(tmp.path("b.h5")));
}

TEST(ModelH5FileTest, AtomicFileKeepsTheOldFileUntilCommit) {
  TempDir tmp;
  const std::string path = tmp.path("out.h5");
  {
    h5::AtomicFile out(path);
    out.file().write("x", std::vector<int32_t>{1, 2, 3});
    out.commit();
  }
  EXPECT_FALSE(fs::exists(h5::AtomicFile::temporary_path(path)));
  try {
    h5::AtomicFile out(path);
    out.file().write("x", std::vector<int32_t>{9});
    throw std::runtime_error("writer failed midway");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(h5::File::open(path).read<int32_t>("x"), (std::vector<int32_t>{1, 2, 3}));
  {
    h5::AtomicFile out(path);
    out.file().write("x", std::vector<int32_t>{4});
    out.commit();
  }
  EXPECT_EQ(h5::File::open(path).read<int32_t>("x"), (std::vector<int32_t>{4}));
}

TEST(ModelH5FileTest, CheckFormatNamesTheAttribute) {
  TempDir tmp;
  const std::string path = tmp.path("fmt.h5");
  {
    h5::AtomicFile out(path);
    h5::set_format(out.file(), "headlab.tokens", 2);
    out.commit();
  }
  const h5::File f = h5::File::open(path);
  EXPECT_EQ(h5::check_format(f, "headlab.tokens", 2), 2);
  expect_input_error([&] { h5::check_format(f, "headlab.checkpoint", 1); },
                     {path + ": / attribute format", "'headlab.checkpoint'", "'headlab.tokens'"});
  expect_input_error([&] { h5::check_format(f, "headlab.tokens", 1); },
                     {path + ": / attribute format_version", "found 2"});
}

// Element counts beyond int64 are an error, not a wrapped product (signed overflow is undefined, and a
// wrapped count once let a 2^70-element shape pass as empty).
TEST(ModelH5FileTest, NumelRefusesCountsBeyondInt64) {
  EXPECT_EQ(h5::numel({int64_t(1) << 31, int64_t(1) << 31}), int64_t(1) << 62);
  EXPECT_EQ(h5::numel({}), 1);
  EXPECT_EQ(h5::numel({7, 0, int64_t(1) << 62}), 0);
  EXPECT_THROW(h5::numel({int64_t(1) << 40, int64_t(1) << 30}), InternalError);
  EXPECT_THROW(h5::numel({int64_t(1) << 32, int64_t(1) << 31}), InternalError);
}

// A damaged or hostile file can declare any shape and store nothing (chunks are written lazily):
// the reader must refuse what cannot fit before allocating it.
TEST(ModelH5FileTest, ADeclaredButHugeDatasetIsRefusedBeforeAllocating) {
  TempDir tmp;
  const std::string path = tmp.path("huge.h5");
  {
    h5::AtomicFile out(path);
    h5::DatasetOptions lazy;
    lazy.chunk_rows = 1;
    out.file().create_dataset<int32_t>("tokens", {int64_t(1) << 40, 1024}, lazy);  // 4 PiB, 0 bytes stored
    // 2^70 elements, contiguous: a chunk of one row would pass HDF5's 4 GiB chunk limit.
    out.file().create_dataset<int32_t>("beyond", {int64_t(1) << 40, int64_t(1) << 30}, h5::DatasetOptions());
    out.commit();
  }
  EXPECT_LT(fs::file_size(path), 1u << 20);
  const h5::File f = h5::File::open(path);
  expect_input_error([&] { f.read<int32_t>("tokens"); }, {path + ": /tokens", "needs about", "GiB of memory"});
  expect_input_error([&] { f.read<int32_t>("tokens", Shape{-1, 1024}); }, {path + ": /tokens", "needs about"});
  expect_input_error([&] { f.read_rows<int32_t>("tokens", 0, int64_t(1) << 39); }, {path + ": /tokens", "needs about"});
  EXPECT_EQ(f.read_rows<int32_t>("tokens", 5, 2).size(), 2048u);  // a few rows of it are fine (fill value)
  expect_input_error([&] { f.shape("beyond"); }, {path + ": /beyond", "at most 2^62 elements"});
}

TEST(ModelH5FileTest, AtomicFileRefusesADirectoryAMissingDirectoryAndAnEmptyName) {
  TempDir tmp;
  fs::create_directories(tmp.path("dir.h5"));
  expect_input_error([&] { h5::AtomicFile out(tmp.path("dir.h5")); }, {tmp.path("dir.h5"), "this is a directory"});
  expect_input_error([&] { h5::AtomicFile out(tmp.path("no/such/x.h5")); },
                     {tmp.path("no/such/x.h5"), "the directory " + tmp.path("no/such") + " does not exist"});
  expect_input_error([&] { h5::AtomicFile out(""); }, {"expected a file name"});
  EXPECT_FALSE(fs::exists(h5::AtomicFile::temporary_path(tmp.path("dir.h5"))));
  EXPECT_TRUE(fs::is_empty(tmp.path("dir.h5")));
}

// ==================================================================== checkpoints

ModelConfig small_config() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 16;
  c.n_heads = 2;
  c.d_head = 8;
  c.d_mlp = 32;
  c.n_ctx = 12;
  c.d_vocab = 40;
  return c;
}

// Random floats, plus values whose bits a lossy path would change.
std::vector<float> random_arena(const ModelConfig& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> a(size_t(ParamTable(c).arena_size()));
  for (auto& x : a) x = normal(rng);
  a[0] = -0.0f;
  a[1] = std::numeric_limits<float>::denorm_min();
  a[2] = std::numeric_limits<float>::infinity();
  uint32_t nan_bits = 0x7fc01234u;  // a NaN with a payload
  std::memcpy(&a[3], &nan_bits, 4);
  return a;
}

Checkpoint full_checkpoint(const ModelConfig& c) {
  Checkpoint ck;
  ck.config = c;
  ck.params = random_arena(c, 11);
  TrainState t;
  t.step = 1234;
  t.tokens_seen = 5'000'000'000;
  t.rng_state = {0, 1, std::numeric_limits<uint64_t>::max(), 0x0123456789abcdefull};
  t.data_position = {42, 7};
  t.options_json = R"({"lr": 0.001, "batch": 8})";
  t.optimizer_name = "adamw";
  t.m = random_arena(c, 12);
  t.v = random_arena(c, 13);
  ck.train = t;
  ck.tokenizer_json = R"({"type": "bytes"})";
  return ck;
}

void expect_bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(ModelCheckpointTest, RoundTripIsBitwise) {
  TempDir tmp;
  for (bool tied : {false, true}) {
    ModelConfig c = small_config();
    c.tie_embeddings = tied;
    c.act_fn = ActFn::silu;
    c.eps = 1e-6f;
    c.rotary_base = 500.0f;
    const Checkpoint ck = full_checkpoint(c);
    const std::string path = tmp.path(tied ? "tied.h5" : "untied.h5");
    write_checkpoint(path, ck);
    EXPECT_FALSE(fs::exists(h5::AtomicFile::temporary_path(path)));
    const Checkpoint back = read_checkpoint(path);
    EXPECT_EQ(back.config.n_layers, c.n_layers);
    EXPECT_EQ(back.config.d_model, c.d_model);
    EXPECT_EQ(back.config.n_heads, c.n_heads);
    EXPECT_EQ(back.config.d_head, c.d_head);
    EXPECT_EQ(back.config.d_mlp, c.d_mlp);
    EXPECT_EQ(back.config.n_ctx, c.n_ctx);
    EXPECT_EQ(back.config.d_vocab, c.d_vocab);
    EXPECT_EQ(back.config.act_fn, ActFn::silu);
    EXPECT_EQ(back.config.normalization_type, c.normalization_type);
    EXPECT_EQ(back.config.attn_only, c.attn_only);
    EXPECT_EQ(back.config.positional_embedding_type, c.positional_embedding_type);
    EXPECT_EQ(back.config.tie_embeddings, tied);
    EXPECT_EQ(back.config.rotary_base, 500.0f);
    EXPECT_EQ(back.config.eps, 1e-6f);
    expect_bitwise_equal(back.params, ck.params);
    ASSERT_TRUE(back.train.has_value());
    EXPECT_EQ(back.train->step, 1234);
    EXPECT_EQ(back.train->tokens_seen, 5'000'000'000);
    EXPECT_EQ(back.train->rng_state, ck.train->rng_state);
    EXPECT_EQ(back.train->data_position, ck.train->data_position);
    EXPECT_EQ(back.train->options_json, ck.train->options_json);
    EXPECT_EQ(back.train->optimizer_name, "adamw");
    expect_bitwise_equal(back.train->m, ck.train->m);
    expect_bitwise_equal(back.train->v, ck.train->v);
    EXPECT_EQ(back.tokenizer_json, ck.tokenizer_json);
    EXPECT_EQ(read_checkpoint_config(path).d_vocab, c.d_vocab);
  }
}

TEST(ModelCheckpointTest, ModelOnlyAndSgdWithoutMomentsRoundTrip) {
  TempDir tmp;
  Checkpoint ck;
  ck.config = small_config();
  ck.params = random_arena(ck.config, 3);
  write_checkpoint(tmp.path("bare.h5"), ck);
  const Checkpoint bare = read_checkpoint(tmp.path("bare.h5"));
  EXPECT_FALSE(bare.train.has_value());
  EXPECT_TRUE(bare.tokenizer_json.empty());
  expect_bitwise_equal(bare.params, ck.params);

  ck.train = TrainState{};
  ck.train->optimizer_name = "sgd";
  ck.train->m = random_arena(ck.config, 4);  // momentum only
  write_checkpoint(tmp.path("sgd.h5"), ck);
  const Checkpoint sgd = read_checkpoint(tmp.path("sgd.h5"));
  ASSERT_TRUE(sgd.train.has_value());
  EXPECT_EQ(sgd.train->optimizer_name, "sgd");
  expect_bitwise_equal(sgd.train->m, ck.train->m);
  EXPECT_TRUE(sgd.train->v.empty());
  EXPECT_TRUE(sgd.train->rng_state.empty());
}

// TransformerLens' state_dict for a config, written from TL's conventions (not from ParamTable).
std::map<std::string, Shape> tl_state_dict(const ModelConfig& c) {
  const int64_t D = c.d_model, H = c.n_heads, dh = c.d_head, M = c.d_mlp, V = c.d_vocab;
  std::map<std::string, Shape> sd;
  sd["embed.W_E"] = {V, D};
  if (c.positional_embedding_type == PositionalEmbedding::standard) sd["pos_embed.W_pos"] = {c.n_ctx, D};
  auto norm = [&](const std::string& name) {
    if (c.normalization_type != Normalization::none) sd[name + ".w"] = {D};
    if (c.normalization_type == Normalization::LN) sd[name + ".b"] = {D};
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    norm(b + "ln1");
    for (const char* w : {"W_Q", "W_K", "W_V"}) sd[b + "attn." + w] = {H, D, dh};
    for (const char* bias : {"b_Q", "b_K", "b_V"}) sd[b + "attn." + bias] = {H, dh};
    sd[b + "attn.W_O"] = {H, dh, D};
    sd[b + "attn.b_O"] = {D};
    if (!c.attn_only) {
      norm(b + "ln2");
      sd[b + "mlp.W_in"] = {D, M};
      sd[b + "mlp.b_in"] = {M};
      sd[b + "mlp.W_out"] = {M, D};
      sd[b + "mlp.b_out"] = {D};
    }
  }
  norm("ln_final");
  sd["unembed.W_U"] = {D, V};
  sd["unembed.b_U"] = {V};
  return sd;
}

TEST(ModelCheckpointTest, ParamsHaveTransformerLensNamesAndShapes) {
  TempDir tmp;
  std::vector<std::pair<std::string, ModelConfig>> configs;
  ModelConfig c = small_config();
  c.attn_only = true;
  configs.push_back({"attn_only", c});
  c = small_config();
  c.normalization_type = Normalization::RMS;
  configs.push_back({"rms", c});
  c = small_config();
  c.normalization_type = Normalization::none;
  c.attn_only = true;
  configs.push_back({"none", c});
  c = small_config();
  c.positional_embedding_type = PositionalEmbedding::rotary;
  configs.push_back({"rotary", c});
  c = small_config();
  c.tie_embeddings = true;
  c.n_layers = 3;
  configs.push_back({"tied", c});

  for (const auto& [label, config] : configs) {
    SCOPED_TRACE(label);
    Checkpoint ck;
    ck.config = config;
    ck.params = random_arena(config, 5);
    const std::string path = tmp.path(label + ".h5");
    write_checkpoint(path, ck);
    const std::map<std::string, Shape> expected = tl_state_dict(config);
    const h5::Group params = h5::File::open(path).group("params");
    const std::vector<std::string> names = params.children();
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), expected.size());
    for (const auto& [name, shape] : expected) {
      ASSERT_TRUE(params.is_dataset(name)) << name;
      EXPECT_EQ(params.shape(name), shape) << name;
      EXPECT_EQ(params.dtype(name), h5::DType::f32) << name;
    }
    const Checkpoint back = read_checkpoint(path);
    expect_bitwise_equal(back.params, ck.params);
  }
}

TEST(ModelCheckpointTest, StridedViewsFollowTheFusedLayout) {
  TempDir tmp;
  ModelConfig c = small_config();
  c.tie_embeddings = true;
  Checkpoint ck;
  ck.config = c;
  ck.params = random_arena(c, 6);
  const std::string path = tmp.path("views.h5");
  write_checkpoint(path, ck);
  const ParamTable table(c);
  const int64_t D = c.d_model, H = c.n_heads, dh = c.d_head, V = c.d_vocab;
  const h5::Group params = h5::File::open(path).group("params");
  const char* qkv = "QKV";
  for (int l = 0; l < c.n_layers; ++l) {
    const BlockOffsets& b = table.offsets().blocks[size_t(l)];
    for (int which = 0; which < 3; ++which) {
      const std::string prefix = "blocks." + std::to_string(l) + ".attn.";
      // W_qkv is [D, 3, H, dh]; b_qkv is [3, H, dh].
      const std::vector<float> W = params.read<float>(prefix + "W_" + qkv[which], Shape{H, D, dh});
      for (int64_t h = 0; h < H; ++h)
        for (int64_t d = 0; d < D; ++d)
          for (int64_t e = 0; e < dh; ++e)
            ASSERT_EQ(W[size_t((h * D + d) * dh + e)], ck.params[size_t(b.W_qkv + ((d * 3 + which) * H + h) * dh + e)]);
      const std::vector<float> bias = params.read<float>(prefix + "b_" + qkv[which], Shape{H, dh});
      for (int64_t h = 0; h < H; ++h)
        for (int64_t e = 0; e < dh; ++e)
          ASSERT_EQ(bias[size_t(h * dh + e)], ck.params[size_t(b.b_qkv + (which * H + h) * dh + e)]);
    }
  }
  const std::vector<float> W_U = params.read<float>("unembed.W_U", Shape{D, V});
  for (int64_t d = 0; d < D; ++d)
    for (int64_t v = 0; v < V; ++v) {
      const float w_e = ck.params[size_t(table.offsets().W_E + v * D + d)];
      ASSERT_EQ(std::memcmp(&W_U[size_t(d * V + v)], &w_e, 4), 0);
    }
}

// A written checkpoint, reopened read-write for a test to damage.
struct DamagedCheckpoint {
  TempDir tmp;
  std::string path = tmp.path("ckpt.h5");
  explicit DamagedCheckpoint(bool tied = false) {
    ModelConfig c = small_config();
    c.tie_embeddings = tied;
    write_checkpoint(path, full_checkpoint(c));
  }
  h5::File open() { return h5::File::open(path, h5::Access::read_write); }
};

TEST(ModelCheckpointTest, MissingParamNamesFileAndDataset) {
  DamagedCheckpoint ck;
  ck.open().group("params").remove("blocks.1.attn.W_K");
  expect_input_error([&] { read_checkpoint(ck.path); },
                     {ck.path + ": /params/blocks.1.attn.W_K", "expected a dataset"});
}

TEST(ModelCheckpointTest, MisshapenParamNamesFileAndDataset) {
  DamagedCheckpoint ck;
  {
    h5::Group params = ck.open().group("params");
    params.write<float>("blocks.0.mlp.W_in", std::vector<float>(32 * 16).data(), {32, 16});  // transposed
  }
  expect_input_error([&] { read_checkpoint(ck.path); },
                     {ck.path + ": /params/blocks.0.mlp.W_in", "expected shape [16, 32]; found [32, 16]"});
}

TEST(ModelCheckpointTest, IntegerParamIsRejected) {
  DamagedCheckpoint ck;
  ck.open().group("params").write("unembed.b_U", std::vector<int32_t>(40));
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /params/unembed.b_U", "floating-point"});
}

TEST(ModelCheckpointTest, UnknownParamIsRejected) {
  DamagedCheckpoint ck;
  ck.open().group("params").write("blocks.2.attn.W_Q", std::vector<float>(4));
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /params/blocks.2.attn.W_Q", "not one of them"});
}

TEST(ModelCheckpointTest, TiedUnembedMustBeTheEmbeddingTransposed) {
  DamagedCheckpoint ck(/*tied=*/true);
  EXPECT_NO_THROW(read_checkpoint(ck.path));
  {
    h5::Group params = ck.open().group("params");
    std::vector<float> W_U = params.read<float>("unembed.W_U", Shape{16, 40});
    W_U[17] += 1.0f;
    params.write<float>("unembed.W_U", W_U.data(), {16, 40});
  }
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /params/unembed.W_U", "W_E transposed"});
  ck.open().group("params").remove("unembed.W_U");  // the alias may be left out
  EXPECT_NO_THROW(read_checkpoint(ck.path));
}

TEST(ModelCheckpointTest, NotHdf5NamesTheFile) {
  TempDir tmp;
  const std::string path = tmp.path("model.h5");
  std::ofstream(path) << "{\"this is\": \"json\"}";
  expect_input_error([&] { read_checkpoint(path); }, {path, "HDF5"});
  expect_input_error([&] { read_checkpoint_config(path); }, {path, "HDF5"});
}

TEST(ModelCheckpointTest, WrongFormatAttributeNamesIt) {
  DamagedCheckpoint ck;
  ck.open().group("config").set_attr("format", "headlab.tokens");
  expect_input_error([&] { read_checkpoint(ck.path); },
                     {ck.path + ": /config attribute format", "'headlab.checkpoint'", "'headlab.tokens'"});
  {
    h5::Group config = ck.open().group("config");
    config.set_attr("format", "headlab.checkpoint");
    config.set_attr("format_version", 7);
  }
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /config attribute format_version", "found 7"});
}

TEST(ModelCheckpointTest, ConfigFieldsAreCheckedOneByOne) {
  DamagedCheckpoint ck;
  ck.open().group("config").remove_attr("d_head");
  expect_input_error([&] { read_checkpoint_config(ck.path); },
                     {ck.path + ": /config attribute d_head", "expected an attribute"});
  ck.open().group("config").set_attr("d_head", "eight");
  expect_input_error([&] { read_checkpoint(ck.path); },
                     {ck.path + ": /config attribute d_head", "expected an integer"});
  ck.open().group("config").set_attr("d_head", int64_t(1) << 40);
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /config attribute d_head", "32-bit"});
  ck.open().group("config").set_attr("d_head", 8);
  ck.open().group("config").set_attr("act_fn", "tanh");
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /config attribute act_fn", "gelu_new", "'tanh'"});
  ck.open().group("config").set_attr("act_fn", "gelu");
  ck.open().group("config").set_attr("attn_only", 2);
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /config attribute attn_only", "0 or 1"});
  ck.open().group("config").set_attr("attn_only", 0);
  ck.open().group("config").set_attr("n_heads", 0);
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /config", "n_heads"});
}

TEST(ModelCheckpointTest, OptimizerArraysMustBeArenaSized) {
  DamagedCheckpoint ck;
  ck.open().group("optimizer").write("v", std::vector<float>(10));
  expect_input_error(
      [&] { read_checkpoint(ck.path); },
      {ck.path + ": /optimizer/v", "expected shape [" + std::to_string(ParamTable(small_config()).arena_size()) + "]"});
  ck.open().remove("optimizer");
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /optimizer", "expected a group"});
}

TEST(ModelCheckpointTest, WriteRejectsAWrongSizedArenaAndLeavesNoFile) {
  TempDir tmp;
  Checkpoint ck;
  ck.config = small_config();
  ck.params.assign(10, 0.0f);
  EXPECT_THROW(write_checkpoint(tmp.path("bad.h5"), ck), InternalError);
  ck.params = random_arena(ck.config, 1);
  ck.train = TrainState{};
  ck.train->m.assign(3, 0.0f);
  EXPECT_THROW(write_checkpoint(tmp.path("bad.h5"), ck), InternalError);
  EXPECT_FALSE(fs::exists(tmp.path("bad.h5")));
  EXPECT_FALSE(fs::exists(h5::AtomicFile::temporary_path(tmp.path("bad.h5"))));
}

TEST(ModelCheckpointTest, HashTracksConfigAndParams) {
  TempDir tmp;
  Checkpoint ck;
  ck.config = small_config();
  ck.params = random_arena(ck.config, 8);
  const std::string h = model_hash(ck.config, ck.params);
  EXPECT_EQ(h.size(), 16u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  write_checkpoint(tmp.path("a.h5"), ck);
  EXPECT_EQ(checkpoint_hash(tmp.path("a.h5")), h);

  std::vector<float> flipped = ck.params;
  uint32_t bits;
  std::memcpy(&bits, &flipped[100], 4);
  bits ^= 1u;
  std::memcpy(&flipped[100], &bits, 4);
  EXPECT_NE(model_hash(ck.config, flipped), h);
  ModelConfig relu = ck.config;
  relu.act_fn = ActFn::relu;  // same arena size, different model
  EXPECT_NE(model_hash(relu, ck.params), h);
}

// h5py is the reader docs/files.md promises; Debian's python3-h5py lives under /usr/bin/python3,
// which another python3 (pyenv) may shadow on PATH.
std::string python_with_h5py() {
  static const std::string found = [] {
    for (const char* py : {"python3", "/usr/bin/python3"})
      if (std::system((std::string(py) + " -c 'import h5py' >/dev/null 2>&1").c_str()) == 0) return std::string(py);
    return std::string();
  }();
  return found;
}

// Runs `script` with `py`, the arguments after it; returns stdout+stderr, failing on a non-zero exit.
std::string run_python(const std::string& py, const TempDir& tmp, const std::string& script, const std::string& args) {
  const std::string script_path = tmp.path("script.py");
  std::ofstream(script_path) << script;
  FILE* pipe = ::popen((py + " " + script_path + " " + args + " 2>&1").c_str(), "r");
  if (!pipe) return "popen failed";
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  EXPECT_EQ(::pclose(pipe), 0) << out;
  return out;
}

TEST(ModelCheckpointTest, H5pyReadsTheCheckpoint) {
  const std::string py = python_with_h5py();
  if (py.empty()) GTEST_SKIP() << "no python3 with h5py (python3 -c 'import h5py' fails)";
  TempDir tmp;
  Checkpoint ck;
  ck.config = small_config();
  ck.config.n_heads = 3;
  ck.config.d_head = 5;
  ck.params = random_arena(ck.config, 9);
  ck.tokenizer_json = "{\"k\": 1}";
  const std::string path = tmp.path("for_h5py.h5");
  write_checkpoint(path, ck);

  const std::string script =
      "import h5py, sys\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "w = f['params']['blocks.1.attn.W_Q']\n"
      "print(tuple(w.shape), w.dtype)\n"
      "print(repr(float(w[2, 7, 4])))\n"
      "print(f['config'].attrs['act_fn'], int(f['config'].attrs['n_heads']), bool(f['config'].attrs['attn_only']))\n"
      "print(f['tokenizer'].asstr()[()])\n";
  const std::string out = run_python(py, tmp, script, path);

  const ParamTable table(ck.config);
  const ParamInfo* W_Q = table.find("blocks.1.attn.W_Q");
  ASSERT_NE(W_Q, nullptr);
  const float expected = ck.params[size_t(W_Q->arena_offset((2 * 16 + 7) * 5 + 4))];
  std::istringstream lines(out);
  std::string shape_line, value_line, config_line, tokenizer_line;
  std::getline(lines, shape_line);
  std::getline(lines, value_line);
  std::getline(lines, config_line);
  std::getline(lines, tokenizer_line);
  EXPECT_EQ(shape_line, "(3, 16, 5) float32");
  EXPECT_EQ(float(std::stod(value_line)), expected) << out;
  EXPECT_EQ(config_line, "gelu_new 3 False");
  EXPECT_EQ(tokenizer_line, "{\"k\": 1}");
}

// What a Python user writing /config by hand produces: numpy bools, Python ints for floats,
// float64 params. All of it loads.
TEST(ModelCheckpointTest, LoadsConfigAndParamsWrittenByH5py) {
  const std::string py = python_with_h5py();
  if (py.empty()) GTEST_SKIP() << "no python3 with h5py (python3 -c 'import h5py' fails)";
  TempDir tmp;
  Checkpoint ck;
  ck.config = small_config();
  ck.params = random_arena(ck.config, 10);
  const std::string path = tmp.path("edited.h5");
  write_checkpoint(path, ck);
  run_python(py, tmp,
             "import h5py, numpy as np, sys\n"
             "f = h5py.File(sys.argv[1], 'r+')\n"
             "c = f['config'].attrs\n"
             "c['attn_only'] = np.bool_(False)\n"
             "c['tie_embeddings'] = False\n"
             "c['rotary_base'] = 500\n"
             "c['eps'] = 1e-6\n"
             "c['n_heads'] = np.int32(2)\n"
             "b = f['params']['unembed.b_U'][()].astype(np.float64) + 0.5\n"
             "del f['params']['unembed.b_U']\n"
             "f['params']['unembed.b_U'] = b\n"
             "f.close()\n",
             path);
  const Checkpoint back = read_checkpoint(path);
  EXPECT_FALSE(back.config.attn_only);
  EXPECT_FALSE(back.config.tie_embeddings);
  EXPECT_EQ(back.config.rotary_base, 500.0f);
  EXPECT_EQ(back.config.eps, 1e-6f);
  EXPECT_EQ(back.config.n_heads, 2);
  const ParamTable table(ck.config);
  const ParamInfo* b_U = table.find("unembed.b_U");
  ASSERT_NE(b_U, nullptr);
  for (int64_t i = 0; i < b_U->numel(); ++i)
    EXPECT_EQ(back.params[size_t(b_U->offset + i)], float(double(ck.params[size_t(b_U->offset + i)]) + 0.5));
}

// Sizes are checked against ModelLimits as they are read, naming the attribute, before any
// array is sized from them.
TEST(ModelCheckpointTest, SizesBeyondTheLimitsAndNonFiniteNumbersNameTheAttribute) {
  DamagedCheckpoint ck;
  const std::vector<std::tuple<const char*, int64_t, std::string>> ints = {
      {"n_layers", 1025, "[1, 1024]"},         {"n_ctx", int64_t(1) << 30, "[1, 1048576]"},
      {"d_vocab", INT32_MAX, "[2, 16777216]"}, {"d_model", 0, "[1, 65536]"},
      {"d_mlp", -3, "[1, 1048576]"},           {"n_heads", 100000, "[1, 1024]"}};
  for (const auto& [name, value, range] : ints) {
    h5::Group config = ck.open().group("config");
    const int64_t good = config.attr_int(name);
    config.set_attr(name, value);
    expect_input_error([&] { read_checkpoint_config(ck.path); },
                       {ck.path + ": /config attribute " + name + ": expected an integer in " + range});
    config.set_attr(name, good);
  }
  for (const char* name : {"eps", "rotary_base"}) {
    h5::Group config = ck.open().group("config");
    const double good = config.attr_float(name);
    config.set_attr(name, std::numeric_limits<double>::infinity());
    expect_input_error([&] { read_checkpoint(ck.path); },
                       {ck.path + ": /config attribute " + name, "expected a finite positive number, got inf"});
    config.set_attr(name, float(good));
  }
  EXPECT_NO_THROW(read_checkpoint(ck.path));
}

// A /config claiming 60000 x 65536 embeddings (about 31 GiB of parameters, more than the machine
// has) beside the small arrays actually stored: the shapes are compared first, so the error names
// the array and nothing is allocated (without the check this would fail on memory instead).
TEST(ModelCheckpointTest, AConfigThatLiesAboutSizesFailsOnTheFirstShapeBeforeAllocating) {
  DamagedCheckpoint ck;
  {
    h5::Group config = ck.open().group("config");
    config.set_attr("d_model", 65536);
    config.set_attr("d_vocab", 60000);
  }
  expect_input_error([&] { read_checkpoint(ck.path); },
                     {ck.path + ": /params/embed.W_E", "expected shape [60000, 65536]; found [40, 16]"});
}

// NaN or inf weights load (info and run show what is there); require_finite_params names the first
// one with its TransformerLens index, through the fused W_qkv layout.
TEST(ModelCheckpointTest, NonFiniteWeightsLoadButRequireFiniteNamesTheFirst) {
  TempDir tmp;
  Checkpoint ck;
  ck.config = small_config();
  ck.params = random_arena(ck.config, 5);
  for (float& x : ck.params)
    if (!std::isfinite(x)) x = 0.5f;
  EXPECT_NO_THROW(require_finite_params(ck, "model.h5"));
  const ParamTable table(ck.config);
  const ParamInfo* W_Q = table.find("blocks.1.attn.W_Q");  // [n_heads, d_model, d_head] = [2, 16, 8]
  ASSERT_NE(W_Q, nullptr);
  ck.params[size_t(W_Q->arena_offset((1 * 16 + 3) * 8 + 5))] = std::nanf("");
  write_checkpoint(tmp.path("nan.h5"), ck);
  const Checkpoint back = read_checkpoint(tmp.path("nan.h5"));
  expect_input_error([&] { require_finite_params(back, "model.h5"); },
                     {"model.h5: /params/blocks.1.attn.W_Q: expected finite weights; found nan at [1, 3, 5]"});
  ck.params[size_t(table.find("embed.W_E")->offset + 2 * 16 + 7)] = -std::numeric_limits<float>::infinity();
  expect_input_error([&] { require_finite_params(ck, "model.h5"); },
                     {"model.h5: /params/embed.W_E", "found -inf at [2, 7]"});
}

TEST(ModelCheckpointTest, NegativeTrainingCountersAreRejected) {
  DamagedCheckpoint ck;
  ck.open().group("train").set_attr("step", int64_t(-4));
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /train attribute step", "found -4"});
  ck.open().group("train").set_attr("step", int64_t(4));
  ck.open().group("train").set_attr("tokens_seen", int64_t(-1));
  expect_input_error([&] { read_checkpoint(ck.path); }, {ck.path + ": /train attribute tokens_seen", ">= 0"});
}

}  // namespace
}  // namespace headlab
