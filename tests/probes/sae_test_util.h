// Shared by the SAE tests: rows made from a known sparse dictionary, and a source that records
// what it served.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "probes/sae_source.h"

namespace headlab::testing {

// n_features unit vectors in d dimensions (random directions), [n_features, d].
inline std::vector<float> random_unit_dictionary(int64_t n_features, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<float> D(size_t(n_features * d));
  for (int64_t f = 0; f < n_features; ++f) {
    double ss = 0;
    std::vector<double> v(static_cast<size_t>(d));
    for (auto& x : v) {
      x = normal(rng);
      ss += x * x;
    }
    for (int64_t j = 0; j < d; ++j) D[size_t(f * d + j)] = float(v[size_t(j)] / std::sqrt(ss));
  }
  return D;
}

// n rows, each the sum of `active` distinct dictionary features with magnitudes in [0.5, 1.5).
inline std::vector<float> sparse_rows(const std::vector<float>& D, int64_t n_features, int64_t d, int64_t n,
                                      int64_t active, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mag(0.5, 1.5);
  std::vector<float> X(size_t(n * d), 0.0f);
  for (int64_t r = 0; r < n; ++r) {
    std::vector<int64_t> chosen;
    while (int64_t(chosen.size()) < active) {
      const int64_t f = int64_t(rng() % uint64_t(n_features));
      bool dup = false;
      for (int64_t c : chosen) dup |= c == f;
      if (!dup) chosen.push_back(f);
    }
    for (int64_t f : chosen) {
      const float m = float(mag(rng));
      for (int64_t j = 0; j < d; ++j) X[size_t(r * d + j)] += m * D[size_t(f * d + j)];
    }
  }
  return X;
}

// Passes another source's rows through, keeping a copy of each batch.
class RecordingRows final : public RowSource {
 public:
  explicit RecordingRows(RowSource& inner) : inner_(inner) {}
  int64_t width() const override { return inner_.width(); }
  void next(float* rows, int64_t n) override {
    inner_.next(rows, n);
    batches.emplace_back(rows, rows + n * width());
  }
  std::vector<uint64_t> state() const override { return inner_.state(); }
  void restore(const std::vector<uint64_t>& s, const std::string& what) override { inner_.restore(s, what); }
  std::string describe() const override { return inner_.describe(); }
  std::vector<std::vector<float>> batches;

 private:
  RowSource& inner_;
};

}  // namespace headlab::testing
