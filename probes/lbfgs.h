// L-BFGS (Nocedal & Wright, Algorithm 7.4 and 7.5): the two-loop recursion over the last m
// steps, and a backtracking line search with the Armijo condition. The probes' objectives are
// smooth and convex, where this converges as fast as a full Wolfe search and needs no bracketing.
#pragma once
#include <functional>
#include <vector>

namespace headlab {

struct LbfgsOptions {
  int max_iterations = 1000;
  int history = 10;
  // Converged when max_i |gradient_i| <= gradient_tolerance (scikit-learn's pgtol, its `tol`).
  double gradient_tolerance = 1e-5;
};

struct LbfgsResult {
  double value = 0;
  int iterations = 0, evaluations = 0;
  bool converged = false;
};

// f(x, gradient) returns f(x) and writes its gradient. Minimises from x, left at the minimum found.
using Objective = std::function<double(const std::vector<double>& x, std::vector<double>& gradient)>;
LbfgsResult minimize_lbfgs(std::vector<double>& x, const Objective& f, const LbfgsOptions& options);

}  // namespace headlab
