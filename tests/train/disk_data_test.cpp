// Training data read from the file as training goes: the same batches, bit for bit, as the dataset
// held in memory (streams and masked sequences, with read-ahead, across state() / restore()); the
// same losses from headlab-train either way; and token files written by hand with h5py accepted.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <sstream>

#include "core/errors.h"
#include "core/h5_file.h"
#include "data/token_dataset.h"
#include "data/token_file_reader.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"
#include "train/batcher.h"

using namespace headlab;
using namespace headlab::testing;

namespace {

const std::string kTrain = HEADLAB_BINARY_DIR "/bin/headlab-train";

TokenDataset random_stream(int64_t n, int64_t d_vocab, uint64_t seed) {
  TokenDataset ds;
  ds.kind = DatasetKind::stream;
  ds.d_vocab = d_vocab;
  ds.n_seq = 1;
  ds.seq_len = n;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n; ++i) ds.tokens.push_back(int32_t(rng() % uint64_t(d_vocab)));
  ds.doc_offsets = {0, uint64_t(n / 3), uint64_t(n / 2)};
  return ds;
}

TokenDataset masked_rows(int64_t n_seq, int64_t seq_len, int64_t d_vocab, uint64_t seed) {
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = d_vocab;
  ds.n_seq = n_seq;
  ds.seq_len = seq_len;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n_seq * seq_len; ++i) {
    ds.tokens.push_back(int32_t(rng() % uint64_t(d_vocab)));
    ds.loss_mask.push_back(uint8_t(rng() % 3 != 0));
  }
  return ds;
}

void expect_same_batches(Batcher& a, Batcher& b, int n) {
  for (int i = 0; i < n; ++i) {
    const Batch x = a.next();
    const Batch& y = b.next();
    ASSERT_EQ(x.tokens, y.tokens) << "batch " << i;
    ASSERT_EQ(x.targets, y.targets) << "batch " << i;
    ASSERT_EQ(x.n_targets, y.n_targets);
  }
}

}  // namespace

TEST(TrainDiskDataTest, SameBatchesAsInMemoryWithReadAhead) {
  TempDir dir;
  const std::vector<TokenDataset> sets = {random_stream(50000, 3000, 1), masked_rows(300, 33, 700, 2)};
  for (size_t k = 0; k < sets.size(); ++k) {
    const std::string path = dir.path("d" + std::to_string(k) + ".h5");
    write_token_dataset(path, sets[k]);
    auto memory = std::make_shared<const TokenDataset>(read_token_dataset(path));
    auto file = std::make_shared<const TokenFileReader>(path);
    EXPECT_EQ(file->header().d_vocab, sets[k].d_vocab);
    EXPECT_EQ(file->n_tokens(), sets[k].n_tokens());
    auto in_memory = make_dataset_batcher(memory, 8, 32, 77);
    auto plain_file = make_dataset_batcher(file_token_access(file), 8, 32, 77);
    auto read_ahead = make_prefetching_batcher(make_dataset_batcher(file_token_access(file), 8, 32, 77), 3);
    expect_same_batches(*in_memory, *plain_file, 20);
    auto in_memory2 = make_dataset_batcher(memory, 8, 32, 77);
    expect_same_batches(*in_memory2, *read_ahead, 20);
    // state() is the read-ahead batcher's caller's position, not the thread's: restoring it elsewhere
    // continues with the same batches (sequences cross an epoch here: 300 rows, 8 per batch).
    const BatcherState mid = read_ahead->state();
    EXPECT_EQ(mid.rng, in_memory2->state().rng);
    EXPECT_EQ(mid.position, in_memory2->state().position);
    auto resumed = make_dataset_batcher(memory, 8, 32, 1);
    resumed->restore(mid, "test");
    expect_same_batches(*resumed, *read_ahead, 30);
    read_ahead->restore(mid, "test");
    auto again = make_dataset_batcher(memory, 8, 32, 1);
    again->restore(mid, "test");
    expect_same_batches(*again, *read_ahead, 5);
  }
}

TEST(TrainDiskDataTest, FileIsCheckedWhileOpened) {
  TempDir dir;
  const std::string path = dir.path("bad.h5");
  TokenDataset ds = random_stream(1000, 50, 3);
  write_token_dataset(path, ds);
  {
    h5::File f = h5::File::open(path, h5::Access::read_write);
    std::vector<int32_t> ids = ds.tokens;
    ids[700] = 50;  // one id past d_vocab
    f.write<int32_t>("tokens", ids);
  }
  expect_input_error([&] { TokenFileReader r(path); }, {path, "/tokens", "d_vocab = 50", "found 50"});
}

TEST(TrainDiskDataTest, PlainH5pyTokenFilesAreReadWithAWarning) {
  TempDir dir;
  std::vector<int32_t> ids(600);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7) % 97);
  {
    h5::File f = h5::File::create(dir.path("stream.h5"));
    f.write<int32_t>("tokens", ids);
  }
  {
    h5::File f = h5::File::create(dir.path("rows.h5"));
    f.write<int32_t>("tokens", ids.data(), {20, 30});
  }
  {
    h5::File f = h5::File::create(dir.path("floats.h5"));
    std::vector<float> x(10, 1.f);
    f.write<float>("tokens", x);
  }
  const TokenDataset s = read_token_dataset(dir.path("stream.h5"));
  EXPECT_EQ(s.kind, DatasetKind::stream);
  EXPECT_EQ(s.d_vocab, 97);
  EXPECT_NE(s.assumed.find("largest id + 1 = 97"), std::string::npos) << s.assumed;
  const TokenDataset r = read_token_dataset(dir.path("rows.h5"));
  EXPECT_EQ(r.kind, DatasetKind::sequences);
  EXPECT_EQ(r.n_seq, 20);
  EXPECT_EQ(TokenFileReader(dir.path("rows.h5")).header().d_vocab, 97);
  expect_input_error([&] { read_token_dataset(dir.path("floats.h5")); }, {"integer token ids"});

  // headlab-train takes it, says what it assumed, and trains.
  const CommandResult c = run_command_line(kTrain + " --data " + dir.path("stream.h5") +
                                           " --model.n_layers 1 --model.d_model 16 --model.n_heads 2 --model.n_ctx 16 "
                                           "--model.attn_only true --steps 2 --batch-size 2 --threads 1 --out " +
                                           dir.path("run"));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.err.find("headlab-train: warning: " + dir.path("stream.h5") + " has no headlab attributes"),
            std::string::npos)
      << c.err;
  EXPECT_NE(c.out.find("d_vocab 97"), std::string::npos) << c.out;

  // So does every other command that reads a dataset (here headlab-probes sae train on plain rows).
  {
    h5::File f = h5::File::create(dir.path("rows16.h5"));
    f.write<int32_t>("tokens", ids.data(), {20, 16});
  }
  const CommandResult p = run_command_line(
      std::string(HEADLAB_BINARY_DIR "/bin/headlab-probes") + " sae train --checkpoint " + dir.path("run/final.h5") +
      " --data " + dir.path("rows16.h5") +
      " --hook blocks.0.hook_resid_post --arch topk --k 2 --expansion 2 --steps 1 --batch-size 8 --threads 1 --out " +
      dir.path("sae.h5"));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.err.find("headlab-probes: warning: " + dir.path("rows16.h5") + " has no headlab attributes"),
            std::string::npos)
      << p.err;
}

TEST(TrainDiskDataTest, TrainingFromDiskGivesTheSameLosses) {
  TempDir dir;
  write_token_dataset(dir.path("data.h5"), random_stream(20000, 200, 5));
  std::vector<std::string> losses;
  for (const char* mode : {"memory", "disk"}) {
    const std::string out = dir.path(std::string("run_") + mode);
    const CommandResult c = run_command_line(
        kTrain + " --data " + dir.path("data.h5") + " --read-data " + mode +
        " --model.n_layers 1 --model.d_model 32 --model.n_heads 2 --model.n_ctx 32 --model.attn_only true "
        "--steps 12 --batch-size 4 --log-every 1 --threads 1 --seed 3 --out " +
        out);
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_EQ(c.out.find("read from the file") != std::string::npos, std::string(mode) == "disk") << c.out;
    std::istringstream lines(read_file_text(out + "/metrics.jsonl"));
    std::string line, all;
    while (std::getline(lines, line)) {
      const size_t at = line.find("\"loss\":");
      if (at != std::string::npos) all += line.substr(at, line.find(',', at) - at) + "\n";
    }
    losses.push_back(all);
  }
  EXPECT_GT(losses[0].size(), 100u);
  EXPECT_EQ(losses[0], losses[1]);
}
