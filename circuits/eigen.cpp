#include "circuits/eigen.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>

#include "core/errors.h"

namespace headlab {
namespace {

// A square matrix in row-major order, indexed H(i, j).
struct Square {
  int64_t n;
  std::vector<double>& a;
  double& operator()(int64_t i, int64_t j) { return a[size_t(i * n + j)]; }
};

// A Householder reflector P = I - beta v vᵀ (v[0] = 1 implied by the scaling below) with
// P u = ±‖u‖ e_0, for u of length m (2 or 3). beta = 0 when u = 0 (P = I).
struct Reflector {
  double v[3] = {0, 0, 0};
  double beta = 0;
  int m = 0;
};

Reflector make_reflector(const double* u, int m) {
  Reflector r;
  r.m = m;
  double norm2 = 0;
  for (int i = 0; i < m; ++i) norm2 += u[i] * u[i];
  if (norm2 == 0) return r;
  const double norm = std::sqrt(norm2);
  const double alpha = u[0] >= 0 ? -norm : norm;  // the sign that avoids cancellation in v[0]
  for (int i = 0; i < m; ++i) r.v[i] = u[i];
  r.v[0] -= alpha;
  double vv = 0;
  for (int i = 0; i < m; ++i) vv += r.v[i] * r.v[i];
  r.beta = 2.0 / vv;
  return r;
}

// Rows [row, row + m) := P · rows, over columns [c0, c1].
void apply_left(Square H, const Reflector& r, int64_t row, int64_t c0, int64_t c1) {
  if (r.beta == 0) return;
  for (int64_t j = c0; j <= c1; ++j) {
    double s = 0;
    for (int i = 0; i < r.m; ++i) s += r.v[i] * H(row + i, j);
    s *= r.beta;
    for (int i = 0; i < r.m; ++i) H(row + i, j) -= s * r.v[i];
  }
}

// Columns [col, col + m) := columns · P, over rows [r0, r1].
void apply_right(Square H, const Reflector& r, int64_t col, int64_t r0, int64_t r1) {
  if (r.beta == 0) return;
  for (int64_t i = r0; i <= r1; ++i) {
    double s = 0;
    for (int j = 0; j < r.m; ++j) s += r.v[j] * H(i, col + j);
    s *= r.beta;
    for (int j = 0; j < r.m; ++j) H(i, col + j) -= s * r.v[j];
  }
}

// Parlett-Reinsch balancing: a diagonal similarity D⁻¹ A D by powers of 2 that makes each row and
// its column about equally large, so that the rounding errors of the QR iteration (relative to
// ‖A‖) are small relative to every eigenvalue. Exact in floating point (powers of 2).
void balance(Square A) {
  const double radix = 2.0, radix2 = radix * radix;
  bool converged = false;
  while (!converged) {
    converged = true;
    for (int64_t i = 0; i < A.n; ++i) {
      double c = 0, r = 0;
      for (int64_t j = 0; j < A.n; ++j) {
        if (j == i) continue;
        c += std::fabs(A(j, i));
        r += std::fabs(A(i, j));
      }
      if (c == 0 || r == 0) continue;
      double g = r / radix, f = 1.0;
      const double s = c + r;
      while (c < g) {
        f *= radix;
        c *= radix2;
      }
      g = r * radix;
      while (c > g) {
        f /= radix;
        c /= radix2;
      }
      if ((c + r) / f < 0.95 * s) {
        converged = false;
        for (int64_t j = 0; j < A.n; ++j) A(i, j) /= f;
        for (int64_t j = 0; j < A.n; ++j) A(j, i) *= f;
      }
    }
  }
}

// Householder reduction to upper Hessenberg form (zeros below the first subdiagonal).
void to_hessenberg(Square H) {
  const int64_t n = H.n;
  std::vector<double> u;
  for (int64_t k = 0; k + 2 < n; ++k) {
    // One reflector over rows k+1..n-1 zeros H(k+2.., k).
    const int64_t m = n - k - 1;
    u.assign(size_t(m), 0.0);
    double norm2 = 0;
    for (int64_t i = 0; i < m; ++i) {
      u[size_t(i)] = H(k + 1 + i, k);
      norm2 += u[size_t(i)] * u[size_t(i)];
    }
    if (norm2 == 0) continue;
    const double norm = std::sqrt(norm2);
    const double alpha = u[0] >= 0 ? -norm : norm;
    u[0] -= alpha;
    double uu = 0;
    for (double x : u) uu += x * x;
    if (uu == 0) continue;
    const double beta = 2.0 / uu;
    for (int64_t j = k; j < n; ++j) {  // left: rows k+1.., columns k..
      double s = 0;
      for (int64_t i = 0; i < m; ++i) s += u[size_t(i)] * H(k + 1 + i, j);
      s *= beta;
      for (int64_t i = 0; i < m; ++i) H(k + 1 + i, j) -= s * u[size_t(i)];
    }
    for (int64_t i = 0; i < n; ++i) {  // right: every row, columns k+1..
      double s = 0;
      for (int64_t j = 0; j < m; ++j) s += u[size_t(j)] * H(i, k + 1 + j);
      s *= beta;
      for (int64_t j = 0; j < m; ++j) H(i, k + 1 + j) -= s * u[size_t(j)];
    }
    for (int64_t i = k + 2; i < n; ++i) H(i, k) = 0;  // exactly zero, not rounding noise
  }
}

// The eigenvalues of [[a, b], [c, d]].
void eig2(double a, double b, double c, double d, std::vector<std::complex<double>>& out) {
  const double half_tr = 0.5 * (a + d);
  const double p = 0.5 * (a - d);
  const double disc = p * p + b * c;
  if (disc >= 0) {
    const double root = std::sqrt(disc);
    // The larger-magnitude root directly, the other from the determinant (no cancellation).
    const double big = half_tr + (half_tr >= 0 ? root : -root);
    const double det = a * d - b * c;
    const double small = big != 0 ? det / big : half_tr - (half_tr >= 0 ? root : -root);
    out.emplace_back(big, 0.0);
    out.emplace_back(small, 0.0);
  } else {
    const double im = std::sqrt(-disc);
    out.emplace_back(half_tr, im);
    out.emplace_back(half_tr, -im);
  }
}

// One implicit double-shift (Francis) QR step on the unreduced block H[lo..hi, lo..hi], with
// shifts whose sum is `s` and product `t`. Only the block is updated: the rows and columns outside
// it do not change the eigenvalues once the block is decoupled.
void francis_step(Square H, int64_t lo, int64_t hi, double s, double t) {
  // First column of (H - σ1 I)(H - σ2 I), which has three nonzeros.
  double x = H(lo, lo) * H(lo, lo) + H(lo, lo + 1) * H(lo + 1, lo) - s * H(lo, lo) + t;
  double y = H(lo + 1, lo) * (H(lo, lo) + H(lo + 1, lo + 1) - s);
  double z = H(lo + 1, lo) * H(lo + 2, lo + 1);
  for (int64_t k = lo; k + 2 <= hi; ++k) {  // chase the bulge down the subdiagonal
    const double u[3] = {x, y, z};
    const Reflector r = make_reflector(u, 3);
    apply_left(H, r, k, std::max(lo, k - 1), hi);
    apply_right(H, r, k, lo, std::min(k + 3, hi));
    x = H(k + 1, k);
    y = H(k + 2, k);
    if (k + 3 <= hi) z = H(k + 3, k);
  }
  const double u[2] = {x, y};
  const Reflector r = make_reflector(u, 2);
  apply_left(H, r, hi - 1, hi - 2, hi);
  apply_right(H, r, hi - 1, lo, hi);
}

}  // namespace

std::vector<std::complex<double>> eigenvalues(std::vector<double> a, int64_t n) {
  if (n < 0 || int64_t(a.size()) != n * n)
    throw InternalError("eigenvalues: expected " + std::to_string(n) + " x " + std::to_string(n) + " values, got " +
                        std::to_string(a.size()));
  for (double x : a)
    if (!std::isfinite(x)) throw InputError("matrix", "has a NaN or infinite entry; eigenvalues need finite values");
  std::vector<std::complex<double>> out;
  out.reserve(size_t(n));
  if (n == 0) return out;
  Square H{n, a};
  balance(H);
  to_hessenberg(H);

  double norm = 0;  // the fallback scale of "negligible" where both diagonal entries are 0
  for (double x : a) norm = std::max(norm, std::fabs(x));
  const double eps = DBL_EPSILON;

  int64_t hi = n - 1;
  int iterations = 0;
  const int max_iterations = 30 * int(std::max<int64_t>(n, 10));
  while (hi >= 0) {
    // lo: the top of the unreduced block that ends at hi (H(lo, lo-1) negligible, or lo = 0).
    int64_t lo = hi;
    while (lo > 0) {
      double scale = std::fabs(H(lo, lo)) + std::fabs(H(lo - 1, lo - 1));
      if (scale == 0) scale = norm;
      if (std::fabs(H(lo, lo - 1)) <= eps * scale) {
        H(lo, lo - 1) = 0;
        break;
      }
      --lo;
    }
    if (lo == hi) {  // a 1x1 block: a real eigenvalue
      out.emplace_back(H(hi, hi), 0.0);
      hi -= 1;
      iterations = 0;
    } else if (lo == hi - 1) {  // a 2x2 block: a real or a complex pair
      eig2(H(hi - 1, hi - 1), H(hi - 1, hi), H(hi, hi - 1), H(hi, hi), out);
      hi -= 2;
      iterations = 0;
    } else {
      if (++iterations > max_iterations)
        throw InternalError("eigenvalues: the QR iteration did not converge for a " + std::to_string(n) + " x " +
                            std::to_string(n) + " matrix");
      double s, t;
      if (iterations % 10 == 0) {
        // Exceptional shift (as in EISPACK's hqr): breaks the rare cycles of the standard shift.
        const double w = std::fabs(H(hi, hi - 1)) + std::fabs(H(hi - 1, hi - 2));
        const double h = H(hi, hi);
        s = 1.5 * w + 2 * h;
        t = w * w + 1.5 * w * h + h * h;
      } else {  // Francis' shifts: the eigenvalues of the trailing 2x2 block
        s = H(hi - 1, hi - 1) + H(hi, hi);
        t = H(hi - 1, hi - 1) * H(hi, hi) - H(hi - 1, hi) * H(hi, hi - 1);
      }
      francis_step(H, lo, hi, s, t);
    }
  }
  return out;
}

double eigenvalue_positivity(const std::vector<std::complex<double>>& lambda) {
  double sum = 0, abs_sum = 0;
  for (const auto& l : lambda) {
    sum += l.real();  // the imaginary parts of conjugate pairs cancel
    abs_sum += std::abs(l);
  }
  return abs_sum > 0 ? sum / abs_sum : 0.0;
}

}  // namespace headlab
