// The small nonsymmetric eigenvalue routine against matrices whose eigenvalues are known by
// construction: triangular, rotation-scaling blocks, companion matrices of known polynomials, and
// Q T Qᵀ similarity transforms of non-normal triangular and block-triangular matrices.
#include "circuits/eigen.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "core/errors.h"

namespace headlab {
namespace {

using cplx = std::complex<double>;

// Sorts by real part, then imaginary part, so two spectra can be compared entry by entry.
std::vector<cplx> sorted(std::vector<cplx> v) {
  std::sort(v.begin(), v.end(), [](const cplx& a, const cplx& b) {
    if (std::fabs(a.real() - b.real()) > 1e-6) return a.real() < b.real();
    return a.imag() < b.imag();
  });
  return v;
}

void expect_spectrum(const std::vector<cplx>& got, const std::vector<cplx>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  const auto g = sorted(got), w = sorted(want);
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_NEAR(g[i].real(), w[i].real(), tol) << "eigenvalue " << i;
    EXPECT_NEAR(g[i].imag(), w[i].imag(), tol) << "eigenvalue " << i;
  }
}

// A random orthogonal matrix [n, n]: Gram-Schmidt on Gaussian columns.
std::vector<double> random_orthogonal(int n, std::mt19937_64& rng) {
  std::normal_distribution<double> gauss;
  std::vector<double> q(size_t(n * n));
  for (double& x : q) x = gauss(rng);
  for (int j = 0; j < n; ++j) {  // column j
    for (int k = 0; k < j; ++k) {
      double dot = 0;
      for (int i = 0; i < n; ++i) dot += q[size_t(i * n + j)] * q[size_t(i * n + k)];
      for (int i = 0; i < n; ++i) q[size_t(i * n + j)] -= dot * q[size_t(i * n + k)];
    }
    double norm = 0;
    for (int i = 0; i < n; ++i) norm += q[size_t(i * n + j)] * q[size_t(i * n + j)];
    norm = std::sqrt(norm);
    for (int i = 0; i < n; ++i) q[size_t(i * n + j)] /= norm;
  }
  return q;
}

// Q T Qᵀ, with the same eigenvalues as T.
std::vector<double> similar(const std::vector<double>& t, const std::vector<double>& q, int n) {
  std::vector<double> qt(size_t(n * n), 0.0), out(size_t(n * n), 0.0);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k)
      for (int j = 0; j < n; ++j) qt[size_t(i * n + j)] += q[size_t(i * n + k)] * t[size_t(k * n + j)];
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k)
      for (int j = 0; j < n; ++j) out[size_t(i * n + j)] += qt[size_t(i * n + k)] * q[size_t(j * n + k)];
  return out;
}

TEST(CircuitsEigenTest, TriangularMatrixHasItsDiagonal) {
  const std::vector<double> a = {3, 7, -2, 0, -1, 5, 0, 0, 0.5};
  expect_spectrum(eigenvalues(a, 3), {3.0, -1.0, 0.5}, 1e-12);
}

TEST(CircuitsEigenTest, RotationScalingHasAComplexPair) {
  const double r = 2.0, th = 0.7;
  const std::vector<double> a = {r * std::cos(th), -r * std::sin(th), r * std::sin(th), r * std::cos(th)};
  expect_spectrum(eigenvalues(a, 2), {std::polar(r, th), std::polar(r, -th)}, 1e-12);
}

TEST(CircuitsEigenTest, CompanionMatrixHasThePolynomialsRoots) {
  // (x-1)(x-2)(x-3)(x-4)(x-5)(x²+2x+5): roots 1..5 and -1 ± 2i.
  std::vector<double> poly = {1};  // coefficients, highest degree first
  auto times = [&](std::vector<double> f) {
    std::vector<double> out(poly.size() + f.size() - 1, 0.0);
    for (size_t i = 0; i < poly.size(); ++i)
      for (size_t j = 0; j < f.size(); ++j) out[i + j] += poly[i] * f[j];
    poly = out;
  };
  for (int r = 1; r <= 5; ++r) times({1.0, -double(r)});
  times({1.0, 2.0, 5.0});
  const int n = int(poly.size()) - 1;
  std::vector<double> c(size_t(n * n), 0.0);  // first row -coefficients, ones on the subdiagonal
  for (int j = 0; j < n; ++j) c[size_t(j)] = -poly[size_t(j + 1)];
  for (int i = 1; i < n; ++i) c[size_t(i * n + i - 1)] = 1.0;
  expect_spectrum(eigenvalues(c, n), {1.0, 2.0, 3.0, 4.0, 5.0, cplx(-1, 2), cplx(-1, -2)}, 1e-8);
}

TEST(CircuitsEigenTest, NonNormalSimilarityTransformKeepsTheSpectrum) {
  // T: block upper triangular with 1x1 and rotation-scaling 2x2 blocks on the diagonal and a dense
  // random upper part (so Q T Qᵀ is far from normal); n = 32, a d_head-sized problem.
  const int n = 32;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unif(-1, 1);
  std::vector<double> t(size_t(n * n), 0.0);
  std::vector<cplx> want;
  int i = 0;
  while (i < n) {
    if (i + 1 < n && i % 3 == 0) {
      const double re = unif(rng) * 2, im = 0.1 + std::fabs(unif(rng));
      t[size_t(i * n + i)] = re, t[size_t(i * n + i + 1)] = im;
      t[size_t((i + 1) * n + i)] = -im, t[size_t((i + 1) * n + i + 1)] = re;
      want.emplace_back(re, im), want.emplace_back(re, -im);
      i += 2;
    } else {
      const double re = unif(rng) * 3;
      t[size_t(i * n + i)] = re;
      want.emplace_back(re, 0);
      i += 1;
    }
  }
  for (int r = 0; r < n; ++r)
    for (int c = r + 2; c < n; ++c) t[size_t(r * n + c)] = unif(rng);
  const std::vector<double> a = similar(t, random_orthogonal(n, rng), n);
  expect_spectrum(eigenvalues(a, n), want, 1e-7);
}

TEST(CircuitsEigenTest, RepeatedEigenvaluesAndZeroMatrix) {
  expect_spectrum(eigenvalues(std::vector<double>(16, 0.0), 4), {0.0, 0.0, 0.0, 0.0}, 0);
  std::mt19937_64 rng(3);
  const int n = 6;
  std::vector<double> t(size_t(n * n), 0.0);
  for (int i = 0; i < n; ++i) t[size_t(i * n + i)] = 2.0;
  const auto a = similar(t, random_orthogonal(n, rng), n);
  expect_spectrum(eigenvalues(a, n), std::vector<cplx>(size_t(n), 2.0), 1e-10);
}

TEST(CircuitsEigenTest, RandomMatrixTraceAndDeterminantMatch) {
  // Σλ = trace and Πλ = det (by LU with partial pivoting) for a general random 20x20 matrix.
  const int n = 20;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> gauss;
  std::vector<double> a(size_t(n * n));
  for (double& x : a) x = gauss(rng);
  const auto lambda = eigenvalues(a, n);
  cplx sum = 0, prod = 1;
  for (const auto& l : lambda) sum += l, prod *= l;
  double trace = 0;
  for (int i = 0; i < n; ++i) trace += a[size_t(i * n + i)];
  std::vector<double> lu = a;
  double det = 1;
  for (int k = 0; k < n; ++k) {
    int p = k;
    for (int i = k + 1; i < n; ++i)
      if (std::fabs(lu[size_t(i * n + k)]) > std::fabs(lu[size_t(p * n + k)])) p = i;
    if (p != k) {
      for (int j = 0; j < n; ++j) std::swap(lu[size_t(k * n + j)], lu[size_t(p * n + j)]);
      det = -det;
    }
    det *= lu[size_t(k * n + k)];
    for (int i = k + 1; i < n; ++i) {
      const double f = lu[size_t(i * n + k)] / lu[size_t(k * n + k)];
      for (int j = k; j < n; ++j) lu[size_t(i * n + j)] -= f * lu[size_t(k * n + j)];
    }
  }
  EXPECT_NEAR(sum.real(), trace, 1e-9);
  EXPECT_NEAR(sum.imag(), 0.0, 1e-9);
  EXPECT_NEAR(prod.real() / det, 1.0, 1e-8);
  EXPECT_NEAR(prod.imag() / std::fabs(det), 0.0, 1e-8);
}

TEST(CircuitsEigenTest, BadlyScaledMatrixIsBalanced) {
  // D T D⁻¹ with D = diag(1, 1e4, 1e-4): the same eigenvalues, entries over 16 orders of magnitude.
  const std::vector<double> t = {1, 2, 3, 0, 4, 5, 0, 0, 6};
  const double d[3] = {1, 1e4, 1e-4};
  std::vector<double> a(9);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) a[size_t(i * 3 + j)] = d[i] * t[size_t(i * 3 + j)] / d[j];
  expect_spectrum(eigenvalues(a, 3), {1.0, 4.0, 6.0}, 1e-9);
}

TEST(CircuitsEigenTest, PositivityIsSumOverAbsoluteSum) {
  EXPECT_DOUBLE_EQ(eigenvalue_positivity({1.0, 2.0, 3.0}), 1.0);
  EXPECT_DOUBLE_EQ(eigenvalue_positivity({-1.0, -2.0}), -1.0);
  EXPECT_DOUBLE_EQ(eigenvalue_positivity({3.0, -1.0}), 0.5);
  // A pair 0 ± 1i adds 0 to the sum and 2 to the absolute sum.
  EXPECT_DOUBLE_EQ(eigenvalue_positivity({2.0, cplx(0, 1), cplx(0, -1)}), 0.5);
  EXPECT_DOUBLE_EQ(eigenvalue_positivity({0.0, 0.0}), 0.0);
}

TEST(CircuitsEigenTest, RejectsMisshapenAndNonFiniteInput) {
  EXPECT_THROW(eigenvalues({1, 2, 3}, 2), InternalError);
  EXPECT_THROW(eigenvalues({1, NAN, 0, 1}, 2), InputError);
  EXPECT_TRUE(eigenvalues({}, 0).empty());
}

}  // namespace
}  // namespace headlab
