#include "train/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>

#include "core/errors.h"

namespace headlab {
namespace {

// A stream whose token at index i is i: a window shows where it was cut from.
std::shared_ptr<TokenDataset> counting_stream(int64_t n) {
  auto ds = std::make_shared<TokenDataset>();
  ds->kind = DatasetKind::stream;
  ds->d_vocab = n;
  ds->n_seq = 1;
  ds->seq_len = n;
  for (int64_t i = 0; i < n; ++i) ds->tokens.push_back(int32_t(i));
  ds->doc_offsets = {0};
  return ds;
}

// Row r = [100 r, 100 r + 1, ...]: a batch row shows which dataset row it came from.
std::shared_ptr<TokenDataset> numbered_rows(int64_t n_seq, int64_t seq_len) {
  auto ds = std::make_shared<TokenDataset>();
  ds->kind = DatasetKind::sequences;
  ds->d_vocab = 100 * n_seq;
  ds->n_seq = n_seq;
  ds->seq_len = seq_len;
  for (int64_t r = 0; r < n_seq; ++r)
    for (int64_t t = 0; t < seq_len; ++t) ds->tokens.push_back(int32_t(100 * r + t));
  return ds;
}

std::vector<std::vector<int32_t>> draw(Batcher& b, int n) {
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < n; ++i) {
    const Batch& batch = b.next();
    out.push_back(batch.tokens);
    out.push_back(batch.targets);
  }
  return out;
}

TEST(TrainBatcherTest, StreamWindowsAreShiftedContiguousSlices) {
  const int n_ctx = 8;
  auto ds = counting_stream(50);
  auto b = make_dataset_batcher(ds, 4, n_ctx, 1);
  EXPECT_EQ(b->seq_len(), n_ctx);
  std::set<int32_t> starts;
  for (int i = 0; i < 500; ++i) {
    const Batch& batch = b->next();
    ASSERT_EQ(batch.B, 4);
    ASSERT_EQ(batch.T, n_ctx);
    EXPECT_EQ(batch.n_targets, 4 * n_ctx);
    for (int r = 0; r < 4; ++r) {
      const int32_t* tok = batch.tokens.data() + r * n_ctx;
      const int32_t* tgt = batch.targets.data() + r * n_ctx;
      starts.insert(tok[0]);
      for (int t = 0; t < n_ctx; ++t) {
        EXPECT_EQ(tok[t], tok[0] + t);
        EXPECT_EQ(tgt[t], tok[0] + t + 1);
      }
    }
  }
  // Every start in [0, 50 - 9] is drawn, and no window runs past the end.
  EXPECT_EQ(*starts.begin(), 0);
  EXPECT_EQ(*starts.rbegin(), 50 - n_ctx - 1);
  EXPECT_EQ(starts.size(), size_t(50 - n_ctx));
}

TEST(TrainBatcherTest, SameSeedSameBatchesOtherSeedOthers) {
  auto ds = counting_stream(1000);
  auto a = make_dataset_batcher(ds, 3, 16, 7), b = make_dataset_batcher(ds, 3, 16, 7),
       c = make_dataset_batcher(ds, 3, 16, 8);
  const auto da = draw(*a, 5);
  EXPECT_EQ(da, draw(*b, 5));
  EXPECT_NE(da, draw(*c, 5));
}

TEST(TrainBatcherTest, SequencesVisitEveryRowOnceEachEpochInANewOrder) {
  const int64_t n_seq = 12, len = 5;
  auto b = make_dataset_batcher(numbered_rows(n_seq, len), 4, 16, 3);
  EXPECT_EQ(b->seq_len(), len - 1);
  std::vector<std::vector<int32_t>> epochs(2);
  for (int i = 0; i < 6; ++i) {  // 6 batches of 4 = 2 epochs of 12
    const Batch& batch = b->next();
    ASSERT_EQ(batch.T, len - 1);
    for (int r = 0; r < 4; ++r) {
      const int32_t* tok = batch.tokens.data() + r * (len - 1);
      const int32_t* tgt = batch.targets.data() + r * (len - 1);
      for (int t = 0; t < len - 1; ++t) {
        EXPECT_EQ(tok[t], tok[0] + t);
        EXPECT_EQ(tgt[t], tok[0] + t + 1);  // targets = the row shifted by one
      }
      epochs[size_t(i / 3)].push_back(tok[0] / 100);
    }
  }
  for (const auto& epoch : epochs) {
    std::vector<int32_t> sorted = epoch;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t r = 0; r < n_seq; ++r) EXPECT_EQ(sorted[size_t(r)], r);
  }
  EXPECT_NE(epochs[0], epochs[1]);
  std::vector<int32_t> identity(static_cast<size_t>(n_seq));
  for (int64_t r = 0; r < n_seq; ++r) identity[size_t(r)] = int32_t(r);
  EXPECT_NE(epochs[0], identity);
}

TEST(TrainBatcherTest, LossMaskOfAPositionGovernsThePredictionOfThatToken) {
  auto ds = numbered_rows(1, 6);
  ds->loss_mask = {1, 0, 1, 1, 0, 1};  // tokens 1 and 4 are not predicted
  auto b = make_dataset_batcher(ds, 1, 8, 0);
  const Batch& batch = b->next();
  // tokens [0 1 2 3 4], targets [1 2 3 4 5] with the masked targets 1 and 4 set to -1.
  EXPECT_EQ(batch.tokens, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(batch.targets, (std::vector<int32_t>{-1, 2, 3, -1, 5}));
  EXPECT_EQ(batch.n_targets, 3);
}

TEST(TrainBatcherTest, FixedLengthRepeatBatchesAreBosThenTwoCopies) {
  const int64_t half = 6;
  auto b = make_repeat_batcher(5, half, /*min_half_len=*/half, 20, 11);
  EXPECT_EQ(b->seq_len(), 2 * half);
  const Batch& batch = b->next();
  ASSERT_EQ(batch.T, 2 * half);
  for (int r = 0; r < 5; ++r) {
    const int32_t* tok = batch.tokens.data() + r * 2 * half;
    const int32_t* tgt = batch.targets.data() + r * 2 * half;
    EXPECT_EQ(tok[0], 0);  // BOS
    for (int64_t t = 0; t + 1 < 2 * half; ++t) EXPECT_EQ(tok[t + 1], tgt[t]);
    for (int64_t i = 0; i < half; ++i) {
      EXPECT_EQ(tgt[half + i], tgt[i]);
      EXPECT_GT(tgt[i], 0);  // never BOS
      EXPECT_LT(tgt[i], 20);
    }
  }
  EXPECT_EQ(batch.n_targets, 5 * 2 * half);
  const std::vector<int32_t> first = batch.tokens;
  EXPECT_NE(b->next().tokens, first);  // fresh sequences every batch
}

// The shortest n in [lo, hi] for which a row (BOS + T tokens) ends in two copies of n tokens; 0 if none.
int64_t repeat_length(const std::vector<int32_t>& row, int64_t lo, int64_t hi) {
  const int64_t L = int64_t(row.size());
  for (int64_t n = lo; n <= hi; ++n) {
    bool repeats = true;
    for (int64_t i = 0; i < n && repeats; ++i) repeats = row[size_t(L - n + i)] == row[size_t(L - 2 * n + i)];
    if (repeats) return n;
  }
  return 0;
}

TEST(TrainBatcherTest, RepeatLengthsVaryBetweenMinAndMax) {
  const int64_t half = 8, min_half = 3;
  auto b = make_repeat_batcher(50, half, min_half, 30, 4);
  std::set<int64_t> lengths;
  for (int k = 0; k < 4; ++k) {
    const Batch& batch = b->next();
    ASSERT_EQ(batch.T, 2 * half);
    EXPECT_EQ(batch.n_targets, 50 * 2 * half);  // noise is trained on too: every target counts
    for (int r = 0; r < 50; ++r) {
      std::vector<int32_t> row(batch.tokens.begin() + r * 2 * half, batch.tokens.begin() + (r + 1) * 2 * half);
      row.push_back(batch.targets[size_t((r + 1) * 2 * half - 1)]);
      EXPECT_EQ(row[0], 0);
      for (size_t t = 1; t < row.size(); ++t) {
        EXPECT_GT(row[t], 0);
        EXPECT_LT(row[t], 30);
      }
      const int64_t n = repeat_length(row, min_half, half);
      EXPECT_GE(n, min_half) << "row " << r << " does not end in two copies";
      lengths.insert(n);
    }
  }
  EXPECT_EQ(*lengths.begin(), min_half);
  EXPECT_EQ(*lengths.rbegin(), half);
  EXPECT_EQ(lengths.size(), size_t(half - min_half + 1));
}

// After restore(state()), a new batcher continues exactly where the old one was.
void expect_resumes_exactly(const std::function<std::unique_ptr<Batcher>()>& make) {
  auto a = make();
  draw(*a, 7);
  const BatcherState saved = a->state();
  const auto expected = draw(*a, 9);
  auto b = make();
  b->restore(saved, "test");
  EXPECT_EQ(draw(*b, 9), expected);
}

TEST(TrainBatcherTest, RestoredStateContinuesTheSameBatches) {
  auto stream = counting_stream(300);
  auto rows = numbered_rows(10, 4);  // 7 batches of 3 rows: mid-epoch, third epoch
  expect_resumes_exactly([&] { return make_dataset_batcher(stream, 3, 8, 5); });
  expect_resumes_exactly([&] { return make_dataset_batcher(rows, 3, 8, 5); });
  expect_resumes_exactly([&] { return make_repeat_batcher(3, 4, 2, 10, 5); });
}

TEST(TrainBatcherTest, StateOfAnotherSourceIsRejected) {
  auto stream = make_dataset_batcher(counting_stream(300), 2, 8, 1);
  auto rows = make_dataset_batcher(numbered_rows(10, 4), 2, 8, 1);
  auto longer = make_dataset_batcher(counting_stream(301), 2, 8, 1);
  auto repeat = make_repeat_batcher(2, 4, 2, 10, 1);
  auto repeat6 = make_repeat_batcher(2, 6, 2, 10, 1);
  auto repeat_fixed = make_repeat_batcher(2, 4, 4, 10, 1);
  EXPECT_THROW(rows->restore(stream->state(), "ckpt"), InputError);
  EXPECT_THROW(stream->restore(repeat->state(), "ckpt"), InputError);
  EXPECT_THROW(longer->restore(stream->state(), "ckpt"), InputError);
  EXPECT_THROW(repeat6->restore(repeat->state(), "ckpt"), InputError);
  EXPECT_THROW(repeat_fixed->restore(repeat->state(), "ckpt"), InputError);
  EXPECT_THROW(stream->restore(BatcherState{}, "ckpt"), InputError);
  EXPECT_THROW(stream->restore(BatcherState{{1}, {99, 300, 0}}, "ckpt"), InputError);
}

TEST(TrainBatcherTest, SplitMixBelowStaysInRangeAndCoversIt) {
  SplitMix64 rng(42);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 7000; ++i) {
    const uint64_t x = rng.below(7);
    ASSERT_LT(x, 7u);
    ++counts[x];
  }
  for (int c : counts) EXPECT_NEAR(c, 1000, 150);
  SplitMix64 copy(rng.state());
  EXPECT_EQ(copy.next(), rng.next());
}

}  // namespace
}  // namespace headlab
