#include "probes/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>

namespace headlab {
namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

struct Pair {
  std::vector<double> s, y;
  double rho;
};

// The search direction -H g from the stored pairs (two-loop recursion), H0 = (s'y / y'y) I.
std::vector<double> direction(const std::vector<double>& g, const std::deque<Pair>& pairs) {
  std::vector<double> q = g;
  std::vector<double> alpha(pairs.size());
  for (size_t i = pairs.size(); i-- > 0;) {
    alpha[i] = pairs[i].rho * dot(pairs[i].s, q);
    for (size_t j = 0; j < q.size(); ++j) q[j] -= alpha[i] * pairs[i].y[j];
  }
  if (!pairs.empty()) {
    const Pair& last = pairs.back();
    const double gamma = dot(last.s, last.y) / dot(last.y, last.y);
    for (double& v : q) v *= gamma;
  }
  for (size_t i = 0; i < pairs.size(); ++i) {
    const double beta = pairs[i].rho * dot(pairs[i].y, q);
    for (size_t j = 0; j < q.size(); ++j) q[j] += (alpha[i] - beta) * pairs[i].s[j];
  }
  for (double& v : q) v = -v;
  return q;
}

}  // namespace

LbfgsResult minimize_lbfgs(std::vector<double>& x, const Objective& f, const LbfgsOptions& o) {
  LbfgsResult r;
  std::vector<double> g(x.size()), g_new(x.size()), x_new(x.size());
  double value = f(x, g);
  r.evaluations = 1;
  std::deque<Pair> pairs;
  for (r.iterations = 0; r.iterations < o.max_iterations; ++r.iterations) {
    if (max_abs(g) <= o.gradient_tolerance) {
      r.converged = true;
      break;
    }
    std::vector<double> d = direction(g, pairs);
    double slope = dot(g, d);
    if (!(slope < 0)) {  // not a descent direction (rounding): restart from steepest descent
      pairs.clear();
      d = g;
      for (double& v : d) v = -v;
      slope = dot(g, d);
    }
    // The first step has no curvature estimate: a unit-length move.
    double step = pairs.empty() ? std::min(1.0, 1.0 / std::sqrt(dot(g, g))) : 1.0;
    double next = 0;
    bool accepted = false;
    for (int tries = 0; tries < 60; ++tries) {
      for (size_t i = 0; i < x.size(); ++i) x_new[i] = x[i] + step * d[i];
      next = f(x_new, g_new);
      ++r.evaluations;
      if (std::isfinite(next) && next <= value + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) break;  // no decrease left at float precision: as close as the objective can tell
    Pair p{std::vector<double>(x.size()), std::vector<double>(x.size()), 0};
    for (size_t i = 0; i < x.size(); ++i) {
      p.s[i] = x_new[i] - x[i];
      p.y[i] = g_new[i] - g[i];
    }
    const double sy = dot(p.s, p.y);
    if (sy > 1e-12 * std::sqrt(dot(p.y, p.y) * dot(p.s, p.s))) {  // keeps H positive definite
      p.rho = 1.0 / sy;
      pairs.push_back(std::move(p));
      if (int(pairs.size()) > o.history) pairs.pop_front();
    }
    const double decrease = value - next;
    x.swap(x_new);
    g.swap(g_new);
    value = next;
    if (decrease <= 1e-15 * std::max(1.0, std::abs(value))) {  // stalled at the objective's resolution
      ++r.iterations;
      r.converged = max_abs(g) <= o.gradient_tolerance;
      break;
    }
  }
  r.value = value;
  return r;
}

}  // namespace headlab
