// linalg.h — the little linear algebra the FID needs, in double precision on the host:
// the eigendecomposition of a symmetric matrix by Jacobi rotations, the square root of a
// symmetric positive semi-definite matrix, and the Fréchet distance between two Gaussians.
//
// Matrices are row-major std::vector<double> of n·n numbers. The sizes here are the
// classifier's feature width (128), where a few Jacobi sweeps take milliseconds.
#pragma once

#include <cstdint>
#include <vector>

namespace drift {
namespace diffusion {

struct SymmetricEigen {
  std::vector<double> values;   // n eigenvalues, ascending
  std::vector<double> vectors;  // n x n, column k is the eigenvector of values[k]
};

// A = V diag(λ) Vᵀ for symmetric A (n x n), by cyclic Jacobi rotations: each rotation zeroes
// one off-diagonal pair (p, q); sweeps repeat until the off-diagonal mass is below 1e-15 of
// the whole (at most 100 sweeps). A must be symmetric (checked).
SymmetricEigen symmetric_eigen(const std::vector<double>& a, int64_t n);

// The symmetric square root S = V diag(√λ) Vᵀ of a symmetric positive semi-definite A, so
// S·S = A. Eigenvalues that rounding made slightly negative (above -1e-6 of the largest) are
// taken as 0; a clearly negative one is an error.
std::vector<double> sqrtm_psd(const std::vector<double>& a, int64_t n);

// The Fréchet (2-Wasserstein) distance between N(μ1, Σ1) and N(μ2, Σ2) (Dowson & Landau
// 1982), the FID's formula (Heusel et al. 2017, eq. 6):
//   d² = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½)
// (Σ1^½ Σ2 Σ1^½ is symmetric PSD and has the eigenvalues of Σ1 Σ2, so this equals the usual
// Tr((Σ1 Σ2)^½) but needs only symmetric square roots.)
double frechet_distance(const std::vector<double>& mu1, const std::vector<double>& sigma1,
                        const std::vector<double>& mu2, const std::vector<double>& sigma2);

// The mean [F] and the covariance [F x F] (divided by N - 1, as numpy.cov) of N feature rows.
struct GaussianFit {
  std::vector<double> mean, covariance;
  int64_t count = 0;
};
GaussianFit fit_gaussian(const std::vector<float>& rows, int64_t n, int64_t features);

}  // namespace diffusion
}  // namespace drift
