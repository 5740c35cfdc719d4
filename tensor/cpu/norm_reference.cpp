// norm_reference.cpp — group normalisation by its definition, the reference for norm.cpp.
//
// x [N, C, HW], channels in G groups of C/G; each (image n, group g) is normalised over
// its M = (C/G) HW values (Wu & He 2018, eq. 1-2), in two passes, mean first:
//
//   mean = (1/M) sum x        var = (1/M) sum (x - mean)^2        rstd = 1 / sqrt(var + eps)
//   xhat = (x - mean) rstd    z = gamma[c] xhat + beta[c]         y = z   (or silu(z))
//
// Backward, with dz = dy (or dy silu'(z)) and dxhat = dz gamma[c], per group:
//
//   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
//
// and over all images and pixels of channel c: dgamma[c] = sum dz xhat, dbeta[c] = sum dz.
// gamma / beta may be null (1 and 0). Everything in double.
#include <cmath>
#include <vector>

#include "tensor/cpu/kernels.h"

namespace drift::cpu::reference {

namespace {

double sigmoid(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}
double silu(double z) {
  return z * sigmoid(z);
}
double silu_derivative(double z) {
  return sigmoid(z) * (1.0 + z * (1.0 - sigmoid(z)));
}

void forward(bool with_silu, const float* x, const float* gamma, const float* beta, float* y,
             float* mean, float* rstd, int64_t N, int64_t C, int64_t HW, int64_t groups,
             float eps) {
  const int64_t per_group = C / groups, M = per_group * HW;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t ng = n * groups + g;
      const float* xg = x + ng * M;  // the group's channels are contiguous
      double sum = 0.0;              // pass 1: the mean
      for (int64_t i = 0; i < M; ++i) sum += xg[i];
      const double mu = sum / static_cast<double>(M);
      double squares = 0.0;  // pass 2: the variance around it
      for (int64_t i = 0; i < M; ++i) squares += (xg[i] - mu) * (xg[i] - mu);
      const double inv_std = 1.0 / std::sqrt(squares / static_cast<double>(M) + eps);
      mean[ng] = static_cast<float>(mu);
      rstd[ng] = static_cast<float>(inv_std);
      for (int64_t i = 0; i < M; ++i) {
        const int64_t c = g * per_group + i / HW;
        const double z =
            (xg[i] - mu) * inv_std * (gamma ? gamma[c] : 1.0f) + (beta ? beta[c] : 0.0f);
        y[ng * M + i] = static_cast<float>(with_silu ? silu(z) : z);
      }
    }
}

void backward(bool with_silu, const float* x, const float* gy, const float* gamma,
              const float* beta, const float* mean, const float* rstd, float* gx, float* ggamma,
              float* gbeta, int64_t N, int64_t C, int64_t HW, int64_t groups) {
  const int64_t per_group = C / groups, M = per_group * HW;
  std::vector<double> dgamma(static_cast<size_t>(C), 0.0), dbeta(static_cast<size_t>(C), 0.0);
  std::vector<double> xhat(static_cast<size_t>(M)), dz(static_cast<size_t>(M)),
      dxhat(static_cast<size_t>(M));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t ng = n * groups + g;
      const double mu = mean[ng], inv_std = rstd[ng];
      double mean_dxhat = 0.0, mean_dxhat_xhat = 0.0;
      for (int64_t i = 0; i < M; ++i) {
        const int64_t c = g * per_group + i / HW;
        const double gamma_c = gamma ? gamma[c] : 1.0f, beta_c = beta ? beta[c] : 0.0f;
        const size_t k = static_cast<size_t>(i);
        xhat[k] = (x[ng * M + i] - mu) * inv_std;
        const double z = gamma_c * xhat[k] + beta_c;
        dz[k] = with_silu ? gy[ng * M + i] * silu_derivative(z) : gy[ng * M + i];
        dxhat[k] = dz[k] * gamma_c;
        mean_dxhat += dxhat[k] / static_cast<double>(M);
        mean_dxhat_xhat += dxhat[k] * xhat[k] / static_cast<double>(M);
        dgamma[static_cast<size_t>(c)] += dz[k] * xhat[k];
        dbeta[static_cast<size_t>(c)] += dz[k];
      }
      for (int64_t i = 0; i < M; ++i) {
        const size_t k = static_cast<size_t>(i);
        gx[ng * M + i] =
            static_cast<float>(inv_std * (dxhat[k] - mean_dxhat - xhat[k] * mean_dxhat_xhat));
      }
    }
  for (int64_t c = 0; c < C; ++c) {
    if (ggamma) ggamma[c] = static_cast<float>(dgamma[static_cast<size_t>(c)]);
    if (gbeta) gbeta[c] = static_cast<float>(dbeta[static_cast<size_t>(c)]);
  }
}

}  // namespace

void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* rstd, int64_t N, int64_t C, int64_t HW, int64_t groups,
                        float eps) {
  forward(false, x, gamma, beta, y, mean, rstd, N, C, HW, groups, eps);
}

void group_norm_backward(const float* x, const float* gy, const float* gamma, const float* mean,
                         const float* rstd, float* gx, float* ggamma, float* gbeta, int64_t N,
                         int64_t C, int64_t HW, int64_t groups) {
  backward(false, x, gy, gamma, nullptr, mean, rstd, gx, ggamma, gbeta, N, C, HW, groups);
}

void group_norm_silu_forward(const float* x, const float* gamma, const float* beta, float* y,
                             float* mean, float* rstd, int64_t N, int64_t C, int64_t HW,
                             int64_t groups, float eps) {
  forward(true, x, gamma, beta, y, mean, rstd, N, C, HW, groups, eps);
}

void group_norm_silu_backward(const float* x, const float* gy, const float* gamma,
                              const float* beta, const float* mean, const float* rstd, float* gx,
                              float* ggamma, float* gbeta, int64_t N, int64_t C, int64_t HW,
                              int64_t groups) {
  backward(true, x, gy, gamma, beta, mean, rstd, gx, ggamma, gbeta, N, C, HW, groups);
}

}  // namespace drift::cpu::reference
