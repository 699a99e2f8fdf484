// Mixing datasets: row counts by weight, rows copied whole (windows of a stream, padded task rows), and
// the refusal to mix datasets of different tokenizers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "core/errors.h"
#include "data/char_tokenizer.h"
#include "data/dataset_annotations.h"
#include "data/mix.h"
#include "data/tasks.h"
#include "tests/temp_dir.h"

using namespace headlab;

namespace {

// A fresh directory per test: ctest runs the tests of this file in parallel processes.
std::string temp_path(const std::string& name) {
  static const headlab::testing::TempDir dir;
  return dir.path(name);
}

// A stream of the IOI word list's ids, so it shares the IOI task's tokenizer.
TokenDataset ioi_stream(const Tokenizer& tok) {
  TokenDataset ds;
  ds.kind = DatasetKind::stream;
  ds.d_vocab = tok.vocab_size();
  ds.tokenizer_json = tok.to_json();
  for (int rep = 0; rep < 3; ++rep)
    for (const char* text : {"When Mary and John went to the store , John gave a drink to Mary .",
                             "Then , Tom and Anne had a long talk at the park . Tom gave a ring to Anne ."}) {
      ds.doc_offsets.push_back(ds.tokens.size());
      const std::vector<int32_t> ids = tok.encode(text);
      ds.tokens.insert(ds.tokens.end(), ids.begin(), ids.end());
    }
  ds.n_seq = 1;
  ds.seq_len = ds.n_tokens();
  return ds;
}

}  // namespace

TEST(DataMixTest, CountsRowsByWeight) {
  EXPECT_EQ(rows_per_weight({0.9, 0.1}, 1000), (std::vector<int64_t>{900, 100}));
  EXPECT_EQ(rows_per_weight({1, 1, 1}, 10), (std::vector<int64_t>{4, 3, 3}));
  EXPECT_EQ(rows_per_weight({2, 0, 1}, 7), (std::vector<int64_t>{5, 0, 2}));
  EXPECT_THROW(rows_per_weight({0, 0}, 10), InputError);
  EXPECT_THROW(rows_per_weight({1, -1}, 10), InputError);
  EXPECT_EQ(parse_mix_source("runs/a.h5:0.25").weight, 0.25);
  EXPECT_EQ(parse_mix_source("runs/a.h5:0.25").path, "runs/a.h5");
  EXPECT_EQ(parse_mix_source("b.h5").weight, 1.0);
  EXPECT_THROW(parse_mix_source("b.h5:lots"), InputError);
  EXPECT_THROW(parse_mix_source("b.h5:-2"), InputError);
}

TEST(DataMixTest, CopiesStreamWindowsAndPaddedTaskRows) {
  const std::unique_ptr<Tokenizer> tok = default_task_tokenizer("ioi");
  TaskOptions o;
  o.name = "ioi";
  o.n = 10;
  const TaskDataset task = make_task(o, *tok);
  const TokenDataset stream = ioi_stream(*tok);
  const std::string stream_path = temp_path("stream.h5"), task_path = temp_path("ioi.h5");
  write_token_dataset(stream_path, stream);
  write_annotated_dataset(task_path, task.data, task.annotations);

  MixOptions m;
  m.sources = {{stream_path, 3}, {task_path, 1}};
  m.n_seq = 40;
  m.seq_len = task.data.seq_len + 4;
  m.seed = 5;
  const MixedDataset mixed = mix_datasets(m);
  const TokenDataset& ds = mixed.data;
  ds.validate("mixed");
  EXPECT_EQ(mixed.rows_per_source, (std::vector<int64_t>{30, 10}));
  const int64_t L = m.seq_len, T = task.data.seq_len;
  int64_t from_stream = 0, from_task = 0;
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    const auto row = ds.tokens.begin() + r * L;
    const auto mask = ds.loss_mask.begin() + r * L;
    const int32_t source = ds.labels.at("source")[size_t(r * L)];
    if (source == 0) {
      ++from_stream;
      EXPECT_NE(std::search(stream.tokens.begin(), stream.tokens.end(), row, row + L), stream.tokens.end())
          << "row " << r << " is not a window of the stream";
      EXPECT_EQ(std::count(mask, mask + L, 1), L);
    } else {
      ++from_task;
      bool found = false;
      for (int64_t k = 0; k < task.data.n_seq && !found; ++k)
        found = std::equal(row, row + T, task.data.tokens.begin() + k * T) &&
                std::equal(mask, mask + T, task.data.loss_mask.begin() + k * T);
      EXPECT_TRUE(found) << "row " << r << " is not a task row";
      EXPECT_TRUE(std::all_of(row + T, row + L, [&](int32_t id) { return id == tok->special().pad; }));
      EXPECT_TRUE(std::all_of(mask + T, mask + L, [](uint8_t v) { return v == 0; }));
    }
  }
  EXPECT_EQ(from_stream, 30);
  EXPECT_EQ(from_task, 10);
  EXPECT_EQ(mixed.annotations.label_names.at("source"), (std::vector<std::string>{stream_path, task_path}));

  // Rows longer than --seq-len, a stream shorter than it, or another tokenizer: each an InputError.
  m.seq_len = T - 1;
  EXPECT_THROW(mix_datasets(m), InputError);
  m.seq_len = stream.n_tokens() + 1;
  m.sources = {{stream_path, 1}};
  EXPECT_THROW(mix_datasets(m), InputError);
  TokenDataset other = stream;
  other.tokenizer_json = CharTokenizer::all_bytes().to_json();
  other.d_vocab = 259;
  for (int32_t& id : other.tokens) id %= 256;
  const std::string other_path = temp_path("other.h5");
  write_token_dataset(other_path, other);
  m.seq_len = 8;
  m.sources = {{stream_path, 1}, {other_path, 1}};
  EXPECT_THROW(mix_datasets(m), InputError);
  for (const std::string& p : {stream_path, task_path, other_path}) std::remove(p.c_str());
}

TEST(DataMixTest, AnnotatedTaskFileReadsBack) {
  const std::unique_ptr<Tokenizer> tok = default_task_tokenizer("greater_than");
  TaskOptions o;
  o.name = "greater_than";
  o.n = 12;
  const TaskDataset task = make_task(o, *tok);
  const std::string path = temp_path("gt.h5");
  write_annotated_dataset(path, task.data, task.annotations);
  const TokenDataset back = read_token_dataset(path);
  EXPECT_EQ(back.tokens, task.data.tokens);
  EXPECT_EQ(back.corrupted, task.data.corrupted);
  EXPECT_EQ(back.answer_pos, task.data.answer_pos);
  EXPECT_EQ(back.labels.at("role"), task.data.labels.at("role"));
  EXPECT_EQ(tokenizer_from_json(back.tokenizer_json, path)->to_json(), tok->to_json());
  const DatasetAnnotations a = read_dataset_annotations(path);
  EXPECT_EQ(a.attributes.at("task"), "greater_than");
  EXPECT_EQ(a.label_names.at("role"), task.annotations.label_names.at("role"));
  EXPECT_EQ(a.task_arrays.at("year_tokens"), task.annotations.task_arrays.at("year_tokens"));
  EXPECT_EQ(a.task_arrays.at("start_yy"), task.annotations.task_arrays.at("start_yy"));
  std::FILE* part = std::fopen((path + ".part").c_str(), "r");
  EXPECT_EQ(part, nullptr) << "the temporary file is gone";
  if (part) std::fclose(part);
  std::remove(path.c_str());
}
