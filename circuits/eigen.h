// Eigenvalues of a small real nonsymmetric matrix (a head's d_head x d_head OV circuit, for the
// copying score). Householder reduction to upper Hessenberg form, then the implicit Francis
// double-shift QR iteration with deflation (Golub & Van Loan, Matrix Computations, 4th ed.,
// algorithms 7.4.2 and 7.5.1-7.5.2). Eigenvalues only: no Schur vectors are accumulated.
// O(n^3); meant for n up to a few hundred.
#pragma once
#include <complex>
#include <cstdint>
#include <vector>

namespace headlab {

// The n eigenvalues of a [n, n] row-major, in no particular order; complex ones come in conjugate
// pairs. InternalError when a.size() != n * n, or when the QR iteration does not converge (it
// converges for every matrix in practice; the limit is 30 n iterations per eigenvalue). An n = 0
// matrix has no eigenvalues. Non-finite entries: InputError("matrix", ...).
std::vector<std::complex<double>> eigenvalues(std::vector<double> a, int64_t n);

// Σλ / Σ|λ| ∈ [-1, 1] (Elhage et al. 2021's copying score): 1 when every eigenvalue is real and
// positive, -1 when all are real and negative. 0 for a matrix whose eigenvalues are all 0.
double eigenvalue_positivity(const std::vector<std::complex<double>>& lambda);

}  // namespace headlab
