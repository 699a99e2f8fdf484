// The two linear models a probe fits, full batch, on features X [n, d] in host memory (float32):
//  - multinomial logistic regression with L2:
//      minimise (1/n) Σ_i CE(softmax(W x_i + b), y_i) + (λ/2) ||W||²_F   (b not penalised),
//    by L-BFGS; scikit-learn's LogisticRegression(multi_class="multinomial", C) minimises the same
//    function times n·C for λ = 1 / (C n), so the solutions are equal;
//  - ridge regression for scalar labels, in closed form:
//      minimise (1/n) Σ_i (y_i - w·x_i - b)² + λ ||w||²,
//    w = (Xcᵀ Xc / n + λ I)⁻¹ Xcᵀ yc / n on centred X and y, b = ȳ - w·x̄ (Cholesky, float64).
// The matrix products go through the model's Backend (oneDNN on the CPU), the rest is OpenMP.
#pragma once
#include <cstdint>
#include <vector>

#include "model/backend.h"
#include "probes/lbfgs.h"

namespace headlab {

struct LinearFit {
  int64_t d = 0;
  int k = 0;             // classes (1 for ridge)
  std::vector<float> W;  // [k, d]
  std::vector<float> b;  // [k]
  double objective = 0;
  int iterations = 0;
  bool converged = true;
};

// y[i] in [0, k). `warm` (same d and k) starts L-BFGS from its weights: a path over λ.
LinearFit fit_logistic(Backend& be, const float* X, const int32_t* y, int64_t n, int64_t d, int k, double l2,
                       const LbfgsOptions& options, const LinearFit* warm = nullptr);
// The objective and its gradient at `fit` (for tests: finite differences).
double logistic_objective(Backend& be, const float* X, const int32_t* y, int64_t n, int64_t d, int k, double l2,
                          const LinearFit& fit, std::vector<double>* gradient = nullptr);
// scores [n, k] = X Wᵀ + b.
std::vector<float> linear_scores(Backend& be, const LinearFit& fit, const float* X, int64_t n);
// argmax of the scores per row.
std::vector<int32_t> predict_classes(Backend& be, const LinearFit& fit, const float* X, int64_t n);
double accuracy(const std::vector<int32_t>& predicted, const int32_t* y, int64_t n);

LinearFit fit_ridge(Backend& be, const float* X, const float* y, int64_t n, int64_t d, double l2);
// 1 - Σ (y - ŷ)² / Σ (y - mean(y))²  (mean over these rows).
double r_squared(Backend& be, const LinearFit& fit, const float* X, const float* y, int64_t n);

}  // namespace headlab
