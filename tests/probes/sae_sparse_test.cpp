// The sparse kernels against plain loops, and the same results for 1 and 2 threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <random>
#include <vector>

#include "model/backend.h"
#include "probes/sae_pass.h"
#include "probes/sae_sparse.h"
#include "probes/sae_trainer.h"
#include "tests/probes/sae_test_util.h"

namespace headlab {
namespace {

std::vector<float> randn(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(SaeSparseTest, TopkRowsEqualsSorting) {
  const int64_t B = 37, n = 101, k = 7;
  const std::vector<float> s = randn(B * n, 1);
  SparseRows out;
  topk_rows(out, s.data(), nullptr, B, n, k);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<std::pair<float, int>> row;
    for (int64_t i = 0; i < n; ++i) row.push_back({s[size_t(b * n + i)], int(i)});
    std::sort(row.begin(), row.end(), [](auto& a, auto& c) { return a.first > c.first; });
    std::vector<int> want;
    for (int64_t j = 0; j < k; ++j)
      if (row[size_t(j)].first > 0) want.push_back(row[size_t(j)].second);
    std::sort(want.begin(), want.end());
    std::vector<int> got(out.col.begin() + out.row_start[size_t(b)], out.col.begin() + out.row_start[size_t(b + 1)]);
    EXPECT_EQ(got, want) << "row " << b;
  }
}

TEST(SaeSparseTest, BatchTopkEqualsSorting) {
  const int64_t B = 29, n = 64;
  std::vector<float> s = randn(B * n, 2);
  s[5] = s[6] = s[7] = 3.5f;  // ties at the cut: the lower flat indices win
  for (int64_t K : {int64_t(1), int64_t(3), int64_t(50), int64_t(B * n)}) {
    SparseRows out;
    const float smallest = batch_topk(out, s.data(), nullptr, B, n, K);
    std::vector<std::pair<float, int64_t>> all;
    for (int64_t e = 0; e < B * n; ++e)
      if (s[size_t(e)] > 0) all.push_back({s[size_t(e)], e});
    std::stable_sort(all.begin(), all.end(), [](auto& a, auto& c) { return a.first > c.first; });
    all.resize(size_t(std::min<int64_t>(K, int64_t(all.size()))));
    std::vector<int64_t> want;
    for (auto& p : all) want.push_back(p.second);
    std::sort(want.begin(), want.end());
    std::vector<int64_t> got;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t e = out.row_start[size_t(b)]; e < out.row_start[size_t(b + 1)]; ++e)
        got.push_back(b * n + out.col[size_t(e)]);
    EXPECT_EQ(got, want) << "K " << K;
    EXPECT_EQ(smallest, all.back().first) << "K " << K;
  }
}

TEST(SaeSparseTest, DecodeAndAccumulateEqualPlainLoops) {
  const int64_t B = 13, n = 40, d = 9;
  const std::vector<float> s = randn(B * n, 3), W = randn(n * d, 4), dout = randn(B * d, 5), inp = randn(B * d, 6);
  SparseRows a;
  topk_rows(a, s.data(), nullptr, B, n, 5);
  std::vector<float> dense(size_t(B * n), 0.0f);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t e = a.row_start[size_t(b)]; e < a.row_start[size_t(b + 1)]; ++e)
      dense[size_t(b * n + a.col[size_t(e)])] = a.val[size_t(e)];
  std::vector<float> out(size_t(B * d));
  sparse_decode(out.data(), a, W.data(), nullptr, d);
  std::vector<float> g;
  sparse_entry_dots(g, a, dout.data(), W.data(), d);
  std::vector<float> dW(size_t(n * d), 0.0f), G(size_t(n * d), 0.0f), db(size_t(n), 0.0f);
  sparse_accumulate_by_latent(dW.data(), G.data(), db.data(), a, g, dout.data(), inp.data(), d);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < d; ++j) {
      double ref = 0;
      for (int64_t i = 0; i < n; ++i) ref += double(dense[size_t(b * n + i)]) * W[size_t(i * d + j)];
      EXPECT_NEAR(out[size_t(b * d + j)], ref, 1e-5);
    }
  std::vector<double> gd(size_t(B * n), 0.0);  // g at active entries = dout · W_i
  for (int64_t b = 0; b < B; ++b)
    for (int64_t e = a.row_start[size_t(b)]; e < a.row_start[size_t(b + 1)]; ++e) {
      double ref = 0;
      for (int64_t j = 0; j < d; ++j) ref += double(dout[size_t(b * d + j)]) * W[size_t(a.col[size_t(e)] * d + j)];
      EXPECT_NEAR(g[size_t(e)], ref, 1e-5);
      gd[size_t(b * n + a.col[size_t(e)])] = ref;
    }
  for (int64_t i = 0; i < n; ++i) {
    double bsum = 0;
    for (int64_t b = 0; b < B; ++b) bsum += gd[size_t(b * n + i)];
    EXPECT_NEAR(db[size_t(i)], bsum, 1e-4);
    for (int64_t j = 0; j < d; ++j) {
      double rw = 0, rg = 0;
      for (int64_t b = 0; b < B; ++b) {
        rw += double(dense[size_t(b * n + i)]) * dout[size_t(b * d + j)];
        rg += gd[size_t(b * n + i)] * inp[size_t(b * d + j)];
      }
      EXPECT_NEAR(dW[size_t(i * d + j)], rw, 1e-4);
      EXPECT_NEAR(G[size_t(i * d + j)], rg, 1e-4);
    }
  }
}

TEST(SaeSparseTest, TrainingIsTheSameOnOneAndTwoThreads) {
  const std::vector<float> D = testing::random_unit_dictionary(40, 16, 7);
  for (SaeArch arch : {SaeArch::topk, SaeArch::batchtopk}) {
    std::vector<std::vector<float>> result;
    for (int threads : {1, 2}) {
      ArrayRows rows(testing::sparse_rows(D, 40, 16, 256, 2, 8), 16, 9);
      SaeConfig c;
      c.arch = arch;
      c.d_in = 16;
      c.d_sae = 64;
      c.k = 3;
      c.batch_size = 64;
      c.steps = 10;
      c.lr = 1e-2;
      c.dead_feature_window = 2;
      SaeTrainState st = new_sae_state(c, rows, 128);
      auto be = make_cpu_backend(threads);
      SaeTrainer(st, *be).run(rows, nullptr);
      result.push_back(st.params);
    }
    EXPECT_EQ(result[0], result[1]) << to_string(arch) << ": the sparse path must not depend on the thread count";
  }
}

}  // namespace
}  // namespace headlab
