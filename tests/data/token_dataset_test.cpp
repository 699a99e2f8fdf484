// Token datasets in HDF5 (data/token_dataset.h) and the repeated-sequence task (data/repeat_task.h).
#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/temp_dir.h"

#include <filesystem>
#include <random>

#include "core/errors.h"
#include "core/h5_file.h"
#include "data/repeat_task.h"
#include "data/token_dataset.h"

namespace headlab {
using testing::expect_input_error;
using testing::TempDir;
namespace {

namespace fs = std::filesystem;

TokenDataset random_stream(int64_t n, int64_t d_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TokenDataset ds;
  ds.kind = DatasetKind::stream;
  ds.d_vocab = d_vocab;
  ds.n_seq = 1;
  ds.seq_len = n;
  ds.tokens.resize(size_t(n));
  for (auto& t : ds.tokens) t = int32_t(rng() % uint64_t(d_vocab));
  ds.tokens[size_t(n / 2)] = int32_t(d_vocab - 1);  // the largest id must survive the narrow type
  ds.doc_offsets = {0, 10, 10, uint64_t(n / 3)};
  ds.labels["pos_tag"].resize(size_t(n));
  for (auto& l : ds.labels["pos_tag"]) l = int32_t(rng() % 17) - 1;
  ds.source = "test stream";
  ds.tokenizer_json = "{\"type\": \"bytes\"}";
  return ds;
}

TokenDataset small_sequences() {
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = 50;
  ds.n_seq = 3;
  ds.seq_len = 4;
  ds.tokens = {0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 49};  // [3, 4]
  ds.loss_mask = {0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1};
  ds.corrupted = {0, 9, 2, 3, 0, 9, 5, 6, 0, 9, 8, 49};
  ds.answer = {3, 6, 49};
  ds.wrong_answer = {4, 7, 1};
  ds.answer_pos = {2, 2, 1};
  ds.labels["is_name"] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0};
  return ds;
}

void expect_same(const TokenDataset& a, const TokenDataset& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.d_vocab, b.d_vocab);
  EXPECT_EQ(a.tokenizer_json, b.tokenizer_json);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.n_seq, b.n_seq);
  EXPECT_EQ(a.seq_len, b.seq_len);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.doc_offsets, b.doc_offsets);
  EXPECT_EQ(a.loss_mask, b.loss_mask);
  EXPECT_EQ(a.corrupted, b.corrupted);
  EXPECT_EQ(a.answer, b.answer);
  EXPECT_EQ(a.wrong_answer, b.wrong_answer);
  EXPECT_EQ(a.answer_pos, b.answer_pos);
  EXPECT_EQ(a.labels, b.labels);
}

// ==================================================================== token datasets

TEST(DataTokenDatasetTest, StreamRoundTripsAsUint16) {
  TempDir tmp;
  const TokenDataset ds = random_stream(150000, 65536, 1);
  const std::string path = tmp.path("stream.h5");
  write_token_dataset(path, ds);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const h5::File f = h5::File::open(path);
  EXPECT_EQ(f.dtype("tokens"), h5::DType::u16);
  EXPECT_EQ(f.shape("tokens"), h5::Shape{150000});
  EXPECT_EQ(f.attr_string("format"), "headlab.tokens");
  EXPECT_EQ(f.attr_string("kind"), "stream");
  expect_same(read_token_dataset(path), ds);
}

TEST(DataTokenDatasetTest, LargeVocabularyRoundTripsAsUint32) {
  TempDir tmp;
  const TokenDataset ds = random_stream(5000, 70000, 2);
  const std::string path = tmp.path("wide.h5");
  write_token_dataset(path, ds);
  EXPECT_EQ(h5::File::open(path).dtype("tokens"), h5::DType::u32);
  expect_same(read_token_dataset(path), ds);
}

TEST(DataTokenDatasetTest, SequencesWithPairsAndLabelsRoundTrip) {
  TempDir tmp;
  const TokenDataset ds = small_sequences();
  const std::string path = tmp.path("seq.h5");
  write_token_dataset(path, ds);
  const h5::File f = h5::File::open(path);
  EXPECT_EQ(f.shape("tokens"), (h5::Shape{3, 4}));
  EXPECT_EQ(f.dtype("corrupted"), h5::DType::u16);
  EXPECT_EQ(f.dtype("loss_mask"), h5::DType::u8);
  EXPECT_EQ(f.shape("labels/is_name"), (h5::Shape{3, 4}));
  expect_same(read_token_dataset(path), ds);

  TokenDataset bare;  // no optional arrays at all
  bare.d_vocab = 10;
  bare.n_seq = 2;
  bare.seq_len = 2;
  bare.tokens = {1, 2, 3, 9};
  write_token_dataset(tmp.path("bare.h5"), bare);
  expect_same(read_token_dataset(tmp.path("bare.h5")), bare);
}

TEST(DataTokenDatasetTest, ValidateNamesWhatIsWrong) {
  auto broken = [](auto edit) {
    TokenDataset ds = small_sequences();
    edit(ds);
    return ds;
  };
  EXPECT_NO_THROW(small_sequences().validate("x"));
  expect_input_error([&] { broken([](TokenDataset& d) { d.tokens[6] = 50; }).validate("x"); },
                     {"x: /tokens", "[0, d_vocab = 50)", "found 50 at [1, 2]"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.tokens[0] = -1; }).validate("x"); },
                     {"x: /tokens", "-1 at [0, 0]"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.seq_len = 5; }).validate("x"); }, {"x: /tokens", "3 * 5"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.corrupted[11] = 99; }).validate("x"); },
                     {"x: /corrupted", "99 at [2, 3]"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.loss_mask.pop_back(); }).validate("x"); },
                     {"x: /loss_mask", "12"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.loss_mask[3] = 2; }).validate("x"); },
                     {"x: /loss_mask", "0 or 1"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.answer.push_back(1); }).validate("x"); },
                     {"x: /answer", "n_seq = 3"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.wrong_answer[1] = 50; }).validate("x"); },
                     {"x: /wrong_answer", "50 at [1]"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.answer_pos[2] = 4; }).validate("x"); },
                     {"x: /answer_pos", "seq_len = 4", "4 at [2]"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.answer_pos[0] = -1; }).validate("x"); }, {"x: /answer_pos"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.answer.clear(); }).validate("x"); },
                     {"x: /answer", "beside /wrong_answer"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.labels["is_name"].pop_back(); }).validate("x"); },
                     {"x: /labels/is_name"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.doc_offsets = {0}; }).validate("x"); }, {"x: /doc_offsets"});
  expect_input_error([&] { broken([](TokenDataset& d) { d.d_vocab = 0; }).validate("x"); }, {"x: / attribute d_vocab"});

  TokenDataset stream = random_stream(100, 20, 3);
  EXPECT_NO_THROW(stream.validate("s"));
  stream.doc_offsets = {1, 50};
  expect_input_error([&] { stream.validate("s"); }, {"s: /doc_offsets", "start at 0"});
  stream.doc_offsets = {0, 50, 40};
  expect_input_error([&] { stream.validate("s"); }, {"s: /doc_offsets", "40 at [2]"});
  stream.doc_offsets = {0, 101};
  expect_input_error([&] { stream.validate("s"); }, {"s: /doc_offsets", "101"});
  stream.doc_offsets = {0};
  stream.answer = {1};
  expect_input_error([&] { stream.validate("s"); }, {"s: /answer", "stream"});
}

TEST(DataTokenDatasetTest, ReadValidatesAgainstTheFile) {
  TempDir tmp;
  const std::string path = tmp.path("seq.h5");
  write_token_dataset(path, small_sequences());
  h5::File::open(path, h5::Access::read_write).set_attr("d_vocab", 40);  // now token 49 is out of range
  expect_input_error([&] { read_token_dataset(path); }, {path + ": /tokens", "d_vocab = 40", "49 at [2, 3]"});

  write_token_dataset(path, small_sequences());
  h5::File::open(path, h5::Access::read_write).write("answer_pos", std::vector<int32_t>{2, 2});
  expect_input_error([&] { read_token_dataset(path); }, {path + ": /answer_pos", "expected shape [3]; found [2]"});

  write_token_dataset(path, small_sequences());
  h5::File::open(path, h5::Access::read_write).write("loss_mask", std::vector<uint8_t>(12, 1));
  expect_input_error([&] { read_token_dataset(path); }, {path + ": /loss_mask", "expected shape [3, 4]; found [12]"});

  write_token_dataset(path, small_sequences());
  h5::File::open(path, h5::Access::read_write).write<float>("tokens", std::vector<float>(12, 1.0f).data(), {3, 4});
  expect_input_error([&] { read_token_dataset(path); }, {path + ": /tokens", "integer"});

  write_token_dataset(path, small_sequences());
  h5::File::open(path, h5::Access::read_write).remove("tokens");
  expect_input_error([&] { read_token_dataset(path); }, {path + ": /tokens", "expected a dataset"});

  write_token_dataset(path, small_sequences());
  h5::File::open(path, h5::Access::read_write).set_attr("kind", "bag");
  expect_input_error([&] { read_token_dataset(path); }, {path + ": / attribute kind", "'bag'"});

  write_token_dataset(path, small_sequences());
  h5::File::open(path, h5::Access::read_write).set_attr("format", "headlab.checkpoint");
  expect_input_error([&] { read_token_dataset(path); }, {path + ": / attribute format", "'headlab.tokens'"});
}

TEST(DataTokenDatasetTest, WriteRefusesInvalidDataAndBadPaths) {
  TempDir tmp;
  TokenDataset ds = small_sequences();
  ds.tokens[1] = 1000;
  const std::string path = tmp.path("bad.h5");
  expect_input_error([&] { write_token_dataset(path, ds); }, {path + ": /tokens"});
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const std::string nowhere = tmp.path("missing/dir/out.h5");
  expect_input_error([&] { write_token_dataset(nowhere, small_sequences()); }, {nowhere});
}

// ==================================================================== repeat task

TEST(DataRepeatTaskTest, SequencesRepeatTheirFirstHalf) {
  const int64_t n = 20, half = 7, V = 30;
  const TokenDataset ds = make_repeat_dataset(n, half, V, 5);
  EXPECT_NO_THROW(ds.validate("repeat"));
  EXPECT_EQ(ds.kind, DatasetKind::sequences);
  EXPECT_EQ(ds.n_seq, n);
  EXPECT_EQ(ds.seq_len, 1 + 2 * half);
  EXPECT_EQ(ds.loss_mask, std::vector<uint8_t>(size_t(n * ds.seq_len), 1));
  const int64_t T = ds.seq_len;
  for (int64_t s = 0; s < n; ++s) {
    const int32_t* clean = &ds.tokens[size_t(s * T)];
    const int32_t* corrupt = &ds.corrupted[size_t(s * T)];
    EXPECT_EQ(clean[0], 0);
    EXPECT_EQ(corrupt[0], 0);
    for (int64_t i = 1; i <= half; ++i) {
      EXPECT_EQ(clean[i + half], clean[i]);
      EXPECT_EQ(corrupt[i], clean[i]);
    }
    for (int64_t i = 1; i < T; ++i) {
      EXPECT_GE(clean[i], 1);
      EXPECT_LT(clean[i], V);
      EXPECT_GE(corrupt[i], 1);
      EXPECT_LT(corrupt[i], V);
    }
    EXPECT_EQ(ds.answer_pos[size_t(s)], T - 2);
    EXPECT_EQ(ds.answer[size_t(s)], clean[T - 1]);
    EXPECT_NE(ds.wrong_answer[size_t(s)], ds.answer[size_t(s)]);
    EXPECT_NE(ds.wrong_answer[size_t(s)], 0);
    if (corrupt[T - 1] != clean[T - 1]) {
      EXPECT_EQ(ds.wrong_answer[size_t(s)], corrupt[T - 1]);
    }
  }
}

TEST(DataRepeatTaskTest, CorruptedSecondHalfIsFreshAndUniform) {
  // d_vocab = 5 with bos = 2: the random tokens are {0, 1, 3, 4}, each with probability 1/4.
  const int64_t n = 500, half = 40;
  const TokenDataset ds = make_repeat_dataset(n, half, 5, 17, /*bos=*/2);
  const int64_t T = ds.seq_len;
  std::vector<int64_t> counts(5, 0);
  int64_t same = 0, total = 0;
  for (int64_t s = 0; s < n; ++s)
    for (int64_t i = half + 1; i < T; ++i) {
      ++counts[size_t(ds.corrupted[size_t(s * T + i)])];
      same += ds.corrupted[size_t(s * T + i)] == ds.tokens[size_t(s * T + i)];
      ++total;
    }
  EXPECT_EQ(counts[2], 0);
  for (int t : {0, 1, 3, 4}) EXPECT_NEAR(double(counts[size_t(t)]) / double(total), 0.25, 0.015) << "token " << t;
  // Fresh draws match the clean token by chance only: 1 in 4 here.
  EXPECT_NEAR(double(same) / double(total), 0.25, 0.015);
}

TEST(DataRepeatTaskTest, DeterministicInSeedAcrossPlatforms) {
  const TokenDataset a = make_repeat_dataset(4, 5, 100, 123);
  const TokenDataset b = make_repeat_dataset(4, 5, 100, 123);
  const TokenDataset c = make_repeat_dataset(4, 5, 100, 124);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.corrupted, b.corrupted);
  EXPECT_EQ(a.wrong_answer, b.wrong_answer);
  EXPECT_NE(a.tokens, c.tokens);
  // Pinned: std::mt19937_64 is specified exactly and the uniform mapping is ours, so these are the
  // same everywhere. A change here silently changes every dataset made from a seed.
  const std::vector<int32_t> first(a.tokens.begin(), a.tokens.begin() + 11);
  // Checked against an independent Python implementation of mt19937_64 and this mapping.
  EXPECT_EQ(first, (std::vector<int32_t>{0, 82, 40, 29, 11, 22, 82, 40, 29, 11, 22}));
}

TEST(DataRepeatTaskTest, RoundTripsThroughAFile) {
  TempDir tmp;
  const TokenDataset ds = make_repeat_dataset(8, 6, 300, 9);
  write_token_dataset(tmp.path("repeat.h5"), ds);
  expect_same(read_token_dataset(tmp.path("repeat.h5")), ds);
}

TEST(DataRepeatTaskTest, RejectsBadArguments) {
  expect_input_error([] { make_repeat_dataset(0, 5, 10, 1); }, {"repeat task: n_seq"});
  expect_input_error([] { make_repeat_dataset(1, 0, 10, 1); }, {"repeat task: half_len"});
  expect_input_error([] { make_repeat_dataset(1, 5, 2, 1); }, {"repeat task: d_vocab"});
  expect_input_error([] { make_repeat_dataset(1, 5, 10, 1, 10); }, {"repeat task: bos"});
}

}  // namespace
}  // namespace headlab
