// norm.cpp — group normalisation, forward and backward, fused (one kernel each way).
//
// x is seen as [N, C, HW] and the channels are split into G groups of C/G channels. Each
// (image n, group g) pair is normalised on its own over its M = (C/G)*HW values
// (Wu & He 2018, "Group Normalization", eq. 1-2):
//
//   mean = (1/M) sum x                 var = (1/M) sum (x - mean)^2     (biased, as PyTorch)
//   rstd = 1 / sqrt(var + eps)         xhat = (x - mean) * rstd
//   y    = gamma[c] * xhat + beta[c]
//
// LayerNorm over the last dimension D is the special case G = 1 on a [rows, D, 1] view: each
// row is one group, and gamma/beta have one value per feature ("channel").
//
// Statistics are accumulated in double: with M in the hundreds of thousands, a float sum
// loses digits, and var = E[x^2] - mean^2 in float can even come out negative. We use the
// two-pass form (mean first, then the sum of squared deviations), which is exact enough.
#include <cmath>
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace drift {

namespace {
constexpr int64_t kParallelThreshold = 1 << 15;
}

void CpuBackend::group_norm_forward(const float* x, const float* gamma, const float* beta,
                                    float* y, float* mean, float* rstd, int64_t N, int64_t C,
                                    int64_t HW, int64_t groups, float eps) {
  const int64_t channels_per_group = C / groups;
  const int64_t M = channels_per_group * HW;  // values in one group
#pragma omp parallel for if (N * C * HW > kParallelThreshold && N * groups > 1)
  for (int64_t ng = 0; ng < N * groups; ++ng) {
    const float* xg = x + ng * M;  // a group's channels are contiguous in NCHW
    float* yg = y + ng * M;
    double total = 0.0;
#pragma omp simd reduction(+ : total)
    for (int64_t i = 0; i < M; ++i) total += xg[i];
    const double mu = total / static_cast<double>(M);
    double squares = 0.0;
#pragma omp simd reduction(+ : squares)
    for (int64_t i = 0; i < M; ++i) squares += (xg[i] - mu) * (xg[i] - mu);
    const double inv_std = 1.0 / std::sqrt(squares / static_cast<double>(M) + eps);
    mean[ng] = static_cast<float>(mu);
    rstd[ng] = static_cast<float>(inv_std);
    // y = (x - mean) * (rstd * gamma[c]) + beta[c]: one multiply-add per value. (Folding
    // the mean into the shift, x * scale + shift, would cancel badly when |mean| >> std.)
    const int64_t first_channel = (ng % groups) * channels_per_group;
    const float mean_f = static_cast<float>(mu);
    for (int64_t k = 0; k < channels_per_group; ++k) {
      const int64_t c = first_channel + k;
      const float scale = static_cast<float>(inv_std * (gamma ? gamma[c] : 1.0f));
      const float shift = beta ? beta[c] : 0.0f;
      const float* xc = xg + k * HW;
      float* yc = yg + k * HW;
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) yc[i] = (xc[i] - mean_f) * scale + shift;
    }
  }
}

// Backward. With dxhat = dy * gamma[c] (the gradient reaching xhat), differentiating
// xhat = (x - mean) * rstd through mean and rstd gives, per group,
//
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))                    (1)
//
// and, summed over the images and pixels of channel c,
//
//   dgamma[c] = sum dy * xhat        dbeta[c] = sum dy                               (2)
//
// Both need two per-channel sums, computed first for every (n, c) (in double):
//   sum_dy[n,c] = sum_hw dy,   sum_dy_xhat[n,c] = sum_hw dy * xhat = rstd * sum_hw dy (x - mean),
// from which the group means in (1) follow:
//   mean(dxhat) = sum_c gamma[c] sum_dy[n,c] / M,   mean(dxhat * xhat) = sum_c gamma[c] sum_dy_xhat[n,c] / M.
void CpuBackend::group_norm_backward(const float* x, const float* gy, const float* gamma,
                                     const float* mean, const float* rstd, float* gx,
                                     float* ggamma, float* gbeta, int64_t N, int64_t C,
                                     int64_t HW, int64_t groups) {
  const int64_t channels_per_group = C / groups;
  const int64_t M = channels_per_group * HW;
  // Per (n, c): sum dy and sum dy * xhat, in double.
  std::vector<double> sum_dy(static_cast<size_t>(N * C)), sum_dy_xhat(static_cast<size_t>(N * C));
#pragma omp parallel for if (N * C * HW > kParallelThreshold && N * groups > 1)
  for (int64_t ng = 0; ng < N * groups; ++ng) {
    const int64_t n = ng / groups;
    const int64_t first_channel = (ng % groups) * channels_per_group;
    const double mu = mean[ng], inv_std = rstd[ng];
    const float* xg = x + ng * M;
    const float* gyg = gy + ng * M;
    float* gxg = gx + ng * M;
    double mean_dxhat = 0.0, mean_dxhat_xhat = 0.0;
    for (int64_t k = 0; k < channels_per_group; ++k) {
      const int64_t c = first_channel + k;
      const float* xc = xg + k * HW;
      const float* gyc = gyg + k * HW;
      double dy = 0.0, dy_centered = 0.0;
#pragma omp simd reduction(+ : dy, dy_centered)
      for (int64_t i = 0; i < HW; ++i) {
        dy += gyc[i];
        dy_centered += gyc[i] * (xc[i] - mu);
      }
      const double dy_xhat = inv_std * dy_centered;
      sum_dy[static_cast<size_t>(n * C + c)] = dy;
      sum_dy_xhat[static_cast<size_t>(n * C + c)] = dy_xhat;
      const double gamma_c = gamma ? gamma[c] : 1.0;
      mean_dxhat += gamma_c * dy;
      mean_dxhat_xhat += gamma_c * dy_xhat;
    }
    mean_dxhat /= static_cast<double>(M);
    mean_dxhat_xhat /= static_cast<double>(M);
    // Equation (1) with xhat = (x - mean) * rstd substituted, per channel:
    //   dx = a * dy + b * (x - mean) + d,   a = rstd * gamma[c],
    //   b = -rstd^2 * mean(dxhat * xhat),   d = -rstd * mean(dxhat).
    const float mean_f = static_cast<float>(mu);
    const float b = static_cast<float>(-inv_std * inv_std * mean_dxhat_xhat);
    const float d = static_cast<float>(-inv_std * mean_dxhat);
    for (int64_t k = 0; k < channels_per_group; ++k) {
      const int64_t c = first_channel + k;
      const float a = static_cast<float>(inv_std * (gamma ? gamma[c] : 1.0f));
      const float* xc = xg + k * HW;
      const float* gyc = gyg + k * HW;
      float* gxc = gxg + k * HW;
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) gxc[i] = a * gyc[i] + b * (xc[i] - mean_f) + d;
    }
  }
  // Equation (2): reduce the per-image sums over n.
  if (ggamma || gbeta) {
    for (int64_t c = 0; c < C; ++c) {
      double dgamma = 0.0, dbeta = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        dgamma += sum_dy_xhat[static_cast<size_t>(n * C + c)];
        dbeta += sum_dy[static_cast<size_t>(n * C + c)];
      }
      if (ggamma) ggamma[c] = static_cast<float>(dgamma);
      if (gbeta) gbeta[c] = static_cast<float>(dbeta);
    }
  }
}

}  // namespace drift
