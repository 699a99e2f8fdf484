// Linear probes: the objective's gradient against finite differences, L-BFGS on a planted label
// (near-perfect), shuffled labels (chance), selectivity high for a label carried by the activations
// and near zero for one carried by the token type alone (Hewitt & Liang), the split by document,
// and agreement with scikit-learn's LogisticRegression and Ridge.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "../command_runner.h"
#include "../python_reference.h"
#include "../temp_dir.h"
#include "core/h5_file.h"
#include "model/backend.h"
#include "probes/activation_store.h"
#include "probes/linear_models.h"
#include "probes/linear_probe.h"

namespace headlab {
namespace {

using testing::TempDir;

// A store with one hook of d features per token, tokens, documents of `doc_len` tokens and labels.
void write_store(const std::string& path, const std::vector<float>& X, int64_t d, const std::vector<int32_t>& tokens,
                 int64_t doc_len, const std::map<std::string, std::vector<int32_t>>& labels) {
  const int64_t n = int64_t(tokens.size());
  StoreSpec spec;
  spec.hooks = {{"blocks.0.hook_resid_post", {d}}};
  for (const auto& [name, v] : labels) spec.labels.push_back(name);
  spec.n_tokens = n;
  ActivationStoreWriter w(path, spec);
  std::vector<int32_t> positions(static_cast<size_t>(n));
  std::vector<int64_t> rows(static_cast<size_t>(n)), docs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    positions[size_t(i)] = int32_t(i % doc_len), rows[size_t(i)] = docs[size_t(i)] = i / doc_len;
  StoreTokenRows meta{tokens.data(), positions.data(), rows.data(), docs.data(), {}};
  for (const auto& [name, v] : labels) meta.labels.push_back(v.data());
  w.append(n, {X.data()}, meta);
  w.commit();
}

std::vector<float> gaussian(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = g(rng);
  return v;
}

TEST(ProbesLogisticTest, GradientMatchesFiniteDifferences) {
  auto be = make_cpu_backend(1);
  const int64_t n = 50, d = 4;
  const int k = 3;
  const std::vector<float> X = gaussian(n * d, 1);
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[size_t(i)] = int32_t(i % k);
  LinearFit f;
  f.d = d, f.k = k;
  f.W = gaussian(k * d, 2);
  f.b = {0.3f, -0.2f, 0.1f};
  std::vector<double> g;
  logistic_objective(*be, X.data(), y.data(), n, d, k, 0.1, f, &g);
  const double h = 1e-2;
  for (int64_t p = 0; p < k * d + k; ++p) {
    LinearFit plus = f, minus = f;
    float& a = p < k * d ? plus.W[size_t(p)] : plus.b[size_t(p - k * d)];
    float& b = p < k * d ? minus.W[size_t(p)] : minus.b[size_t(p - k * d)];
    a += float(h), b -= float(h);
    const double fd = (logistic_objective(*be, X.data(), y.data(), n, d, k, 0.1, plus) -
                       logistic_objective(*be, X.data(), y.data(), n, d, k, 0.1, minus)) /
                      (2 * h);
    EXPECT_NEAR(g[size_t(p)], fd, 2e-4 + 1e-3 * std::abs(fd)) << p;
  }
}

// Labels planted as argmax of a fixed linear map of the activations; tokens random over many types.
struct Planted {
  int64_t n = 3000, d = 16, doc_len = 30;
  int k = 4;
  std::vector<float> X = gaussian(n * d, 11);
  std::vector<int32_t> tokens, planted, shuffled;
  Planted() {
    const std::vector<float> A = gaussian(k * d, 12);
    std::mt19937_64 rng(13);
    for (int64_t i = 0; i < n; ++i) {
      int best = 0;
      double best_score = -1e30;
      for (int c = 0; c < k; ++c) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += A[size_t(c * d + j)] * X[size_t(i * d + j)];
        if (s > best_score) best_score = s, best = c;
      }
      planted.push_back(best);
      tokens.push_back(int32_t(rng() % 1000));
      shuffled.push_back(int32_t(rng() % uint64_t(k)));
    }
  }
};

TEST(ProbesLinearProbeTest, PlantedLabelNearPerfectShuffledAtChanceSelectivityHigh) {
  TempDir dir;
  Planted p;
  write_store(dir.path("s.h5"), p.X, p.d, p.tokens, p.doc_len, {{"planted", p.planted}, {"shuffled", p.shuffled}});
  const ActivationStore store(dir.path("s.h5"));
  auto be = make_cpu_backend(2);
  const double fractions[3] = {0.6, 0.2, 0.2};
  std::vector<float> X(size_t(p.n * p.d));
  store.read_rows("blocks.0.hook_resid_post", 0, p.n, X.data());

  const ProbeTask planted = prepare_probe_task(store, "planted", fractions, 5, true);
  EXPECT_EQ(planted.classes, (std::vector<int32_t>{0, 1, 2, 3}));
  const ProbeResult r = train_probe(*be, X.data(), p.d, planted, ProbeOptions{});
  EXPECT_GT(r.test_score, 0.97);
  EXPECT_LT(r.baseline, 0.5);
  // The control task's labels follow the token type, which the activations do not carry: chance.
  EXPECT_LT(r.control_score, 0.40);
  EXPECT_GT(r.selectivity, 0.55);

  const ProbeTask shuffled = prepare_probe_task(store, "shuffled", fractions, 5, false);
  const ProbeResult s = train_probe(*be, X.data(), p.d, shuffled, ProbeOptions{});
  EXPECT_LT(s.test_score, 0.25 + 0.06);
  EXPECT_GT(s.test_score, 0.25 - 0.06);
}

// Activations that are a random vector per token type (plus noise), a label fixed per type: the
// probe reads it perfectly, and reads the control task's random per-type labels just as well, so
// selectivity is near zero: the probe memorises types, not a property of the representation.
TEST(ProbesLinearProbeTest, LabelOfTheTokenTypeAloneHasSelectivityNearZero) {
  TempDir dir;
  const int64_t n = 3000, d = 48, types = 24;
  const std::vector<float> embed = gaussian(types * d, 21), noise = gaussian(n * d, 22);
  std::mt19937_64 rng(23);
  std::vector<int32_t> type_label(types), tokens, label;
  for (auto& l : type_label) l = int32_t(rng() % 3);
  std::vector<float> X(size_t(n * d));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t t = int32_t(rng() % uint64_t(types));
    tokens.push_back(t);
    label.push_back(type_label[size_t(t)]);
    for (int64_t j = 0; j < d; ++j) X[size_t(i * d + j)] = embed[size_t(t * d + j)] + 0.1f * noise[size_t(i * d + j)];
  }
  write_store(dir.path("s.h5"), X, d, tokens, 25, {{"type_label", label}});
  const ActivationStore store(dir.path("s.h5"));
  auto be = make_cpu_backend(2);
  const double fractions[3] = {0.6, 0.2, 0.2};
  const ProbeResult r =
      train_probe(*be, X.data(), d, prepare_probe_task(store, "type_label", fractions, 1, true), ProbeOptions{});
  EXPECT_GT(r.test_score, 0.97);
  EXPECT_GT(r.control_score, 0.95);
  EXPECT_LT(std::abs(r.selectivity), 0.05);
}

TEST(ProbesLinearProbeTest, SplitIsByDocumentSeededAndRefusesAnEmptySet) {
  std::vector<int64_t> docs;
  for (int i = 0; i < 1000; ++i) docs.push_back(i / 10);
  const std::vector<bool> labelled(1000, true);
  const double fractions[3] = {0.6, 0.2, 0.2};
  const ProbeSplit a = split_by_document(docs, labelled, fractions, 3, "x"),
                   b = split_by_document(docs, labelled, fractions, 3, "x"),
                   c = split_by_document(docs, labelled, fractions, 4, "x");
  EXPECT_EQ(a.set, b.set);
  EXPECT_NE(a.set, c.set);
  EXPECT_EQ(a.documents[0], 60);
  EXPECT_EQ(a.documents[1], 20);
  EXPECT_EQ(a.documents[2], 20);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(a.set[size_t(i)], a.set[size_t(i / 10 * 10)]) << i;
  const std::vector<int64_t> two_docs = {0, 0, 1, 1};
  testing::expect_input_error(
      [&] { split_by_document(two_docs, std::vector<bool>(4, true), fractions, 1, "store.h5: /labels/l"); },
      {"store.h5: /labels/l", "empty"});
}

// scikit-learn on the same data: the same minimum (C = 1 / (lambda n); alpha = lambda n for ridge).
TEST(ProbesLinearProbeTest, AgreesWithScikitLearn) {
  if (!testing::python_reference_missing().empty()) GTEST_SKIP() << testing::python_reference_missing();
  TempDir dir;
  auto be = make_cpu_backend(2);
  const int64_t n = 600, nt = 300, d = 8;
  const int k = 3;
  const std::vector<float> centres = gaussian(k * d, 31), noise = gaussian((n + nt) * d, 32);
  std::vector<float> X(size_t((n + nt) * d));
  std::vector<int32_t> y(size_t(n + nt));
  std::vector<float> yf(size_t(n + nt));
  for (int64_t i = 0; i < n + nt; ++i) {
    y[size_t(i)] = int32_t(i % k);
    for (int64_t j = 0; j < d; ++j)
      X[size_t(i * d + j)] = 0.7f * centres[size_t(y[size_t(i)] * d + j)] + 1.5f * noise[size_t(i * d + j)];
    yf[size_t(i)] = 0.5f * X[size_t(i * d)] - X[size_t(i * d + 3)] + 0.3f * noise[size_t(i * d + 5)];
  }
  const double l2 = 1e-2;
  {
    h5::AtomicFile f(dir.path("in.h5"));
    for (const std::string kind : {"logistic", "ridge"}) {
      h5::Group g = f.file().create_group(kind);
      g.write<float>("X_train", X.data(), {n, d});
      g.write<float>("X_test", X.data() + n * d, {nt, d});
      if (kind == "logistic") {
        g.write<int32_t>("y_train", y.data(), {n});
        g.write<int32_t>("y_test", y.data() + n, {nt});
      } else {
        g.write<float>("y_train", yf.data(), {n});
        g.write<float>("y_test", yf.data() + n, {nt});
      }
      g.set_attr("l2", l2);
    }
    f.commit();
  }
  const testing::CommandResult r = testing::run_command_line(
      std::string(testing::kReferencePython) + " " HEADLAB_SOURCE_DIR "/tests/probes/sklearn_reference.py " +
      dir.path("in.h5") + " " + dir.path("out.h5"));
  if (r.exit_code == 77) GTEST_SKIP() << "scikit-learn is not installed for " << testing::kReferencePython;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const h5::File out = h5::File::open(dir.path("out.h5"));
  for (const std::string kind : {"logistic", "ridge"}) {
    const h5::Group ref = out.group(kind);
    const std::vector<double> W = ref.read<double>("W"), b = ref.read<double>("b");
    LinearFit fit;
    double score = 0;
    if (kind == "logistic") {
      LbfgsOptions o;
      o.gradient_tolerance = 1e-6;
      fit = fit_logistic(*be, X.data(), y.data(), n, d, k, l2, o);
      EXPECT_TRUE(fit.converged);
      score = accuracy(predict_classes(*be, fit, X.data() + n * d, nt), y.data() + n, nt);
    } else {
      fit = fit_ridge(*be, X.data(), yf.data(), n, d, l2);
      score = r_squared(*be, fit, X.data() + n * d, yf.data() + n, nt);
    }
    ASSERT_EQ(W.size(), fit.W.size());
    double largest = 0;
    for (double w : W) largest = std::max(largest, std::abs(w));
    // Tolerance: 1e-4 of the largest weight, what float32 products over 600 rows resolve.
    double worst = 0;
    for (size_t i = 0; i < W.size(); ++i) worst = std::max(worst, std::abs(fit.W[i] - W[i]));
    std::printf("%s: largest weight %.4f, largest difference %.2e, iterations %d (sklearn %lld)\n", kind.c_str(),
                largest, worst, fit.iterations, (long long)ref.attr_int("n_iter"));
    for (size_t i = 0; i < W.size(); ++i) EXPECT_NEAR(fit.W[i], W[i], 1e-4 * largest) << kind << " W " << i;
    double mean_ours = 0, mean_ref = 0;  // softmax ignores a constant added to every bias
    for (size_t c = 0; c < b.size(); ++c) mean_ours += fit.b[c] / double(b.size()), mean_ref += b[c] / double(b.size());
    for (size_t c = 0; c < b.size(); ++c)
      EXPECT_NEAR(fit.b[c] - (kind == "logistic" ? mean_ours : 0), b[c] - (kind == "logistic" ? mean_ref : 0),
                  1e-4 * std::max(1.0, largest))
          << kind << " b " << c;
    if (kind == "logistic")
      EXPECT_EQ(score, ref.attr_float("test_score"));
    else
      EXPECT_NEAR(score, ref.attr_float("test_score"), 1e-6);
  }
}

}  // namespace
}  // namespace headlab
