#include "probes/linear_models.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace headlab {
namespace {

// x = [W (k*d), b (k)] as doubles for L-BFGS; the products run in float32.
void unpack(const std::vector<double>& x, int64_t d, int k, std::vector<float>& W, std::vector<float>& b) {
  W.resize(size_t(k * d));
  b.resize(size_t(k));
  for (int64_t i = 0; i < k * d; ++i) W[size_t(i)] = float(x[size_t(i)]);
  for (int c = 0; c < k; ++c) b[size_t(c)] = float(x[size_t(k * d + c)]);
}

// Mean cross-entropy of softmax(X Wᵀ + b); with `G`, G = (softmax - onehot) / n in place of the scores.
double softmax_cross_entropy(float* scores, const int32_t* y, int64_t n, int k, bool gradient) {
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float* z = scores + i * k;
    float mx = z[0];
    for (int c = 1; c < k; ++c) mx = std::max(mx, z[c]);
    double sum = 0;
    for (int c = 0; c < k; ++c) sum += std::exp(double(z[c] - mx));
    const double lse = double(mx) + std::log(sum);
    total += lse - double(z[y[i]]);
    if (gradient) {
      for (int c = 0; c < k; ++c) z[c] = float(std::exp(double(z[c]) - lse) / double(n));
      z[y[i]] -= float(1.0 / double(n));
    }
  }
  return total / double(n);
}

double evaluate(Backend& be, const float* X, const int32_t* y, int64_t n, int64_t d, int k, double l2,
                const std::vector<float>& W, const std::vector<float>& b, std::vector<float>& scores,
                std::vector<float>& gW, std::vector<double>* gradient) {
  scores.resize(size_t(n * k));
  be.matmul(scores.data(), X, W.data(), b.data(), n, k, d, Transpose::no, Transpose::yes, Accumulate::overwrite);
  double value = softmax_cross_entropy(scores.data(), y, n, k, gradient != nullptr);
  double penalty = 0;
  for (float w : W) penalty += double(w) * w;
  value += 0.5 * l2 * penalty;
  if (!gradient) return value;
  gW.resize(size_t(k * d));
  // gW [k, d] = Gᵀ [k, n] · X [n, d]
  be.matmul(gW.data(), scores.data(), X, nullptr, k, d, n, Transpose::yes, Transpose::no, Accumulate::overwrite);
  gradient->assign(size_t(k * d + k), 0.0);
  for (int64_t i = 0; i < k * d; ++i) (*gradient)[size_t(i)] = double(gW[size_t(i)]) + l2 * double(W[size_t(i)]);
  std::vector<double> gb(size_t(k), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < k; ++c) gb[size_t(c)] += scores[size_t(i * k + c)];
  for (int c = 0; c < k; ++c) (*gradient)[size_t(k * d + c)] = gb[size_t(c)];
  return value;
}

// Solves A x = rhs for symmetric positive definite A [m, m] (Cholesky, in place). InternalError when
// A is not positive definite (ridge with λ > 0 always is).
std::vector<double> cholesky_solve(std::vector<double> A, std::vector<double> rhs, int64_t m) {
  for (int64_t j = 0; j < m; ++j) {
    double s = A[size_t(j * m + j)];
    for (int64_t p = 0; p < j; ++p) s -= A[size_t(j * m + p)] * A[size_t(j * m + p)];
    if (!(s > 0)) throw InternalError("ridge: the regularised Gram matrix is not positive definite");
    const double l = std::sqrt(s);
    A[size_t(j * m + j)] = l;
#pragma omp parallel for schedule(static)
    for (int64_t i = j + 1; i < m; ++i) {
      double t = A[size_t(i * m + j)];
      for (int64_t p = 0; p < j; ++p) t -= A[size_t(i * m + p)] * A[size_t(j * m + p)];
      A[size_t(i * m + j)] = t / l;
    }
  }
  for (int64_t i = 0; i < m; ++i) {  // L z = rhs
    double t = rhs[size_t(i)];
    for (int64_t p = 0; p < i; ++p) t -= A[size_t(i * m + p)] * rhs[size_t(p)];
    rhs[size_t(i)] = t / A[size_t(i * m + i)];
  }
  for (int64_t i = m; i-- > 0;) {  // Lᵀ x = z
    double t = rhs[size_t(i)];
    for (int64_t p = i + 1; p < m; ++p) t -= A[size_t(p * m + i)] * rhs[size_t(p)];
    rhs[size_t(i)] = t / A[size_t(i * m + i)];
  }
  return rhs;
}

}  // namespace

double logistic_objective(Backend& be, const float* X, const int32_t* y, int64_t n, int64_t d, int k, double l2,
                          const LinearFit& fit, std::vector<double>* gradient) {
  std::vector<float> scores, gW;
  return evaluate(be, X, y, n, d, k, l2, fit.W, fit.b, scores, gW, gradient);
}

LinearFit fit_logistic(Backend& be, const float* X, const int32_t* y, int64_t n, int64_t d, int k, double l2,
                       const LbfgsOptions& options, const LinearFit* warm) {
  if (n < 1 || d < 1 || k < 2) throw InternalError("fit_logistic: needs rows, features and two classes");
  std::vector<double> x(size_t(k * d + k), 0.0);
  if (warm && warm->d == d && warm->k == k) {
    for (int64_t i = 0; i < k * d; ++i) x[size_t(i)] = warm->W[size_t(i)];
    for (int c = 0; c < k; ++c) x[size_t(k * d + c)] = warm->b[size_t(c)];
  }
  std::vector<float> W, b, scores, gW;
  const Objective f = [&](const std::vector<double>& at, std::vector<double>& gradient) {
    unpack(at, d, k, W, b);
    return evaluate(be, X, y, n, d, k, l2, W, b, scores, gW, &gradient);
  };
  const LbfgsResult r = minimize_lbfgs(x, f, options);
  LinearFit fit;
  fit.d = d;
  fit.k = k;
  unpack(x, d, k, fit.W, fit.b);
  fit.objective = r.value;
  fit.iterations = r.iterations;
  fit.converged = r.converged;
  return fit;
}

std::vector<float> linear_scores(Backend& be, const LinearFit& fit, const float* X, int64_t n) {
  std::vector<float> scores(size_t(n * fit.k));
  if (n > 0)
    be.matmul(scores.data(), X, fit.W.data(), fit.b.data(), n, fit.k, fit.d, Transpose::no, Transpose::yes,
              Accumulate::overwrite);
  return scores;
}

std::vector<int32_t> predict_classes(Backend& be, const LinearFit& fit, const float* X, int64_t n) {
  const std::vector<float> s = linear_scores(be, fit, X, n);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    out[size_t(i)] =
        int32_t(std::max_element(s.begin() + i * fit.k, s.begin() + (i + 1) * fit.k) - (s.begin() + i * fit.k));
  return out;
}

double accuracy(const std::vector<int32_t>& predicted, const int32_t* y, int64_t n) {
  if (n == 0) return NAN;
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) right += predicted[size_t(i)] == y[i];
  return double(right) / double(n);
}

LinearFit fit_ridge(Backend& be, const float* X, const float* y, int64_t n, int64_t d, double l2) {
  if (n < 1 || d < 1) throw InternalError("fit_ridge: needs rows and features");
  std::vector<double> mean(size_t(d), 0.0);
  double y_mean = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) mean[size_t(j)] += X[i * d + j];
    y_mean += y[i];
  }
  for (double& m : mean) m /= double(n);
  y_mean /= double(n);
  // Xᵀ X through the backend, centred afterwards: Xcᵀ Xc = Xᵀ X - n x̄ x̄ᵀ.
  std::vector<float> gram(size_t(d * d));
  be.matmul(gram.data(), X, X, nullptr, d, d, n, Transpose::yes, Transpose::no, Accumulate::overwrite);
  std::vector<double> A(size_t(d * d)), rhs(size_t(d), 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j)
      A[size_t(i * d + j)] =
          (double(gram[size_t(i * d + j)]) - double(n) * mean[size_t(i)] * mean[size_t(j)]) / double(n) +
          (i == j ? l2 : 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const double yc = double(y[i]) - y_mean;
    for (int64_t j = 0; j < d; ++j) rhs[size_t(j)] += (double(X[i * d + j]) - mean[size_t(j)]) * yc;
  }
  for (double& r : rhs) r /= double(n);
  const std::vector<double> w = cholesky_solve(std::move(A), std::move(rhs), d);
  LinearFit fit;
  fit.d = d;
  fit.k = 1;
  fit.W.resize(size_t(d));
  double b = y_mean;
  for (int64_t j = 0; j < d; ++j) {
    fit.W[size_t(j)] = float(w[size_t(j)]);
    b -= w[size_t(j)] * mean[size_t(j)];
  }
  fit.b = {float(b)};
  return fit;
}

double r_squared(Backend& be, const LinearFit& fit, const float* X, const float* y, int64_t n) {
  if (n == 0) return NAN;
  const std::vector<float> s = linear_scores(be, fit, X, n);
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += y[i];
  mean /= double(n);
  double residual = 0, total = 0;
  for (int64_t i = 0; i < n; ++i) {
    residual += (double(y[i]) - s[size_t(i)]) * (double(y[i]) - s[size_t(i)]);
    total += (double(y[i]) - mean) * (double(y[i]) - mean);
  }
  return total > 0 ? 1.0 - residual / total : NAN;
}

}  // namespace headlab
