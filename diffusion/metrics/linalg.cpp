// linalg.cpp — Jacobi eigendecomposition, matrix square root, Fréchet distance (linalg.h).
#include "diffusion/metrics/linalg.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tensor/error.h"

namespace drift {
namespace diffusion {

SymmetricEigen symmetric_eigen(const std::vector<double>& a_in, int64_t n) {
  DRIFT_CHECK(n >= 1 && a_in.size() == size_t(n * n),
              "symmetric_eigen: expected " << n << "x" << n << " numbers, got " << a_in.size());
  std::vector<double> a = a_in, v(size_t(n * n), 0.0);
  auto at = [n](std::vector<double>& m, int64_t i, int64_t j) -> double& {
    return m[size_t(i * n + j)];
  };
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    at(v, i, i) = 1.0;
    for (int64_t j = 0; j < n; ++j) {
      total += at(a, i, j) * at(a, i, j);
      DRIFT_CHECK(std::fabs(at(a, i, j) - at(a, j, i)) <=
                      1e-9 * (std::fabs(at(a, i, j)) + std::fabs(at(a, j, i))) + 1e-300,
                  "symmetric_eigen: the matrix is not symmetric at (" << i << ", " << j << ")");
    }
  }
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        if (i != j) off += at(a, i, j) * at(a, i, j);
    if (off <= 1e-30 * total || off == 0.0) break;
    for (int64_t p = 0; p < n - 1; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = at(a, p, q);
        if (apq == 0.0) continue;
        // The rotation by θ with cot 2θ = (a_qq − a_pp) / 2a_pq zeroes a_pq (Golub & Van Loan
        // 8.5.2); t = tan θ, the smaller root, keeps the rotation below 45°.
        const double theta = (at(a, q, q) - at(a, p, p)) / (2.0 * apq);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1.0 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = at(a, k, p), akq = at(a, k, q);
          at(a, k, p) = c * akp - s * akq;
          at(a, k, q) = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // A <- Jᵀ A (rows p, q)
          const double apk = at(a, p, k), aqk = at(a, q, k);
          at(a, p, k) = c * apk - s * aqk;
          at(a, q, k) = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {  // V <- V J: the eigenvectors accumulate
          const double vkp = at(v, k, p), vkq = at(v, k, q);
          at(v, k, p) = c * vkp - s * vkq;
          at(v, k, q) = s * vkp + c * vkq;
        }
      }
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int64_t x, int64_t y) { return at(a, x, x) < at(a, y, y); });
  SymmetricEigen e;
  e.vectors.assign(size_t(n * n), 0.0);
  for (int64_t k = 0; k < n; ++k) {
    e.values.push_back(at(a, order[size_t(k)], order[size_t(k)]));
    for (int64_t i = 0; i < n; ++i) e.vectors[size_t(i * n + k)] = at(v, i, order[size_t(k)]);
  }
  return e;
}

std::vector<double> sqrtm_psd(const std::vector<double>& a, int64_t n) {
  const SymmetricEigen e = symmetric_eigen(a, n);
  const double largest = std::max(std::fabs(e.values.front()), std::fabs(e.values.back()));
  std::vector<double> root(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    const double lambda = e.values[size_t(k)];
    DRIFT_CHECK(
        lambda >= -1e-6 * largest - 1e-300,
        "sqrtm_psd: the matrix is not positive semi-definite (eigenvalue " << lambda << ")");
    root[size_t(k)] = std::sqrt(std::max(lambda, 0.0));  // rounding's tiny negatives -> 0
  }
  std::vector<double> s(size_t(n * n), 0.0);  // S = V diag(√λ) Vᵀ
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t k = 0; k < n; ++k)
        sum += e.vectors[size_t(i * n + k)] * root[size_t(k)] * e.vectors[size_t(j * n + k)];
      s[size_t(i * n + j)] = sum;
    }
  return s;
}

namespace {
std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, int64_t n) {
  std::vector<double> c(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k) {
      const double aik = a[size_t(i * n + k)];
      for (int64_t j = 0; j < n; ++j) c[size_t(i * n + j)] += aik * b[size_t(k * n + j)];
    }
  return c;
}
}  // namespace

double frechet_distance(const std::vector<double>& mu1, const std::vector<double>& sigma1,
                        const std::vector<double>& mu2, const std::vector<double>& sigma2) {
  const int64_t n = int64_t(mu1.size());
  DRIFT_CHECK(n >= 1 && mu2.size() == mu1.size() && sigma1.size() == size_t(n * n) &&
                  sigma2.size() == size_t(n * n),
              "frechet_distance: means of " << mu1.size() << " and " << mu2.size()
                                            << " numbers and covariances of " << sigma1.size()
                                            << " and " << sigma2.size() << " do not fit");
  double d2 = 0.0;
  for (int64_t i = 0; i < n; ++i)
    d2 += (mu1[size_t(i)] - mu2[size_t(i)]) * (mu1[size_t(i)] - mu2[size_t(i)]);
  const std::vector<double> root1 = sqrtm_psd(sigma1, n);
  std::vector<double> middle = matmul(matmul(root1, sigma2, n), root1, n);  // Σ1^½ Σ2 Σ1^½
  for (int64_t i = 0; i < n; ++i)  // symmetric in exact arithmetic: make it so in rounding
    for (int64_t j = i + 1; j < n; ++j) {
      const double m = 0.5 * (middle[size_t(i * n + j)] + middle[size_t(j * n + i)]);
      middle[size_t(i * n + j)] = middle[size_t(j * n + i)] = m;
    }
  const std::vector<double> cross = sqrtm_psd(middle, n);
  for (int64_t i = 0; i < n; ++i)
    d2 += sigma1[size_t(i * n + i)] + sigma2[size_t(i * n + i)] - 2.0 * cross[size_t(i * n + i)];
  return d2;
}

GaussianFit fit_gaussian(const std::vector<float>& rows, int64_t n, int64_t features) {
  DRIFT_CHECK(n >= 2 && rows.size() == size_t(n * features),
              "fit_gaussian: need at least 2 rows of " << features << " features, got "
                                                       << rows.size() << " numbers");
  GaussianFit fit;
  fit.count = n;
  fit.mean.assign(size_t(features), 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t f = 0; f < features; ++f) fit.mean[size_t(f)] += rows[size_t(r * features + f)];
  for (double& m : fit.mean) m /= double(n);
  fit.covariance.assign(size_t(features * features), 0.0);
  std::vector<double> centred(static_cast<size_t>(features));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t f = 0; f < features; ++f)
      centred[size_t(f)] = rows[size_t(r * features + f)] - fit.mean[size_t(f)];
    for (int64_t i = 0; i < features; ++i)
      for (int64_t j = i; j < features; ++j)
        fit.covariance[size_t(i * features + j)] += centred[size_t(i)] * centred[size_t(j)];
  }
  for (int64_t i = 0; i < features; ++i)
    for (int64_t j = i; j < features; ++j) {
      const double c = fit.covariance[size_t(i * features + j)] / double(n - 1);
      fit.covariance[size_t(i * features + j)] = fit.covariance[size_t(j * features + i)] = c;
    }
  return fit;
}

}  // namespace diffusion
}  // namespace drift
