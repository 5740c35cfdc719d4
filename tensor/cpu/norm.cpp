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
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/kernels.h"
#include "tensor/elementwise_math.h"

namespace drift {

namespace {
constexpr int64_t kParallelThreshold = 1 << 15;

// The activation applied after the normalisation, y = f(z), z = gamma[c] xhat + beta[c], with
// dz = gy f'(z) for backward. Identity is plain GroupNorm; Silu is the fused GroupNorm + SiLU
// that opens every half of a ResBlock (one pass instead of two, and no z tensor kept for
// backward: z is recomputed from x and the saved statistics).
struct Identity {
  static float forward(float z) { return z; }
  static float grad(float z, float gy) {
    (void)z;
    return gy;
  }
};
struct Silu {
  static float forward(float z) { return elementwise::Silu::forward(z, 0.0f, 0.0f); }
  static float grad(float z, float gy) {
    return gy * elementwise::Silu::derivative(z, 0.0f, 0.0f, 0.0f);
  }
};

// Sums over many values are taken in float vector partial sums (one per lane: the loop
// vectorises, and float adds are twice as wide and as fast as double ones), flushed into a
// double every kBlock values, so that no float partial ever adds up more than kBlock / 16
// values: accurate to ~1e-7 relative at any length. (Written out at each use: GCC vectorises
// these reductions only as plain loops.)
constexpr int64_t kBlock = 1024;

// A per-thread buffer of at least `floats` floats (kept between calls).
float* thread_buffer(int64_t floats) {
  thread_local std::vector<float> buffer;
  if (static_cast<int64_t>(buffer.size()) < floats) buffer.resize(static_cast<size_t>(floats));
  return buffer.data();
}

template <class Activation>
void norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                  float* rstd, int64_t N, int64_t C, int64_t HW, int64_t groups, float eps) {
  const int64_t channels_per_group = C / groups;
  const int64_t M = channels_per_group * HW;  // values in one group
#pragma omp parallel for if (N * C * HW > kParallelThreshold && N * groups > 1)
  for (int64_t ng = 0; ng < N * groups; ++ng) {
    const float* xg = x + ng * M;  // a group's channels are contiguous in NCHW
    float* yg = y + ng * M;
    // Two passes, mean first and then the squared deviations (var = E[x^2] - mean^2 would
    // cancel when |mean| >> std).
    double total = 0.0;
    for (int64_t begin = 0; begin < M; begin += kBlock) {
      const int64_t end = std::min(M, begin + kBlock);
      float partial = 0.0f;
#pragma omp simd reduction(+ : partial)
      for (int64_t i = begin; i < end; ++i) partial += xg[i];
      total += partial;
    }
    const double mu = total / static_cast<double>(M);
    const float mu_f = static_cast<float>(mu);
    double squares = 0.0;
    for (int64_t begin = 0; begin < M; begin += kBlock) {
      const int64_t end = std::min(M, begin + kBlock);
      float partial = 0.0f;
#pragma omp simd reduction(+ : partial)
      for (int64_t i = begin; i < end; ++i) partial += (xg[i] - mu_f) * (xg[i] - mu_f);
      squares += partial;
    }
    const double inv_std = 1.0 / std::sqrt(squares / static_cast<double>(M) + eps);
    mean[ng] = static_cast<float>(mu);
    rstd[ng] = static_cast<float>(inv_std);
    // z = (x - mean) * (rstd * gamma[c]) + beta[c]: one multiply-add per value. (Folding
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
      for (int64_t i = 0; i < HW; ++i) yc[i] = Activation::forward((xc[i] - mean_f) * scale + shift);
    }
  }
}

// Backward. With dz the gradient reaching z (gy itself for plain GroupNorm, gy silu'(z) for
// the fused op) and dxhat = dz * gamma[c] (the gradient reaching xhat), differentiating
// xhat = (x - mean) * rstd through mean and rstd gives, per group,
//
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))                    (1)
//
// and, summed over the images and pixels of channel c,
//
//   dgamma[c] = sum dz * xhat        dbeta[c] = sum dz                               (2)
//
// Both need two per-channel sums, computed first for every (n, c) (in double):
//   sum_dz[n,c] = sum_hw dz,   sum_dz_xhat[n,c] = sum_hw dz * xhat = rstd * sum_hw dz (x - mean),
// from which the group means in (1) follow:
//   mean(dxhat) = sum_c gamma[c] sum_dz[n,c] / M,   mean(dxhat * xhat) = sum_c gamma[c] sum_dz_xhat[n,c] / M.
// For the fused op, dz of a group is computed once into a per-thread buffer (M floats, a few
// KB) and used by both passes.
template <class Activation>
void norm_backward(const float* x, const float* gy, const float* gamma, const float* beta,
                   const float* mean, const float* rstd, float* gx, float* ggamma, float* gbeta,
                   int64_t N, int64_t C, int64_t HW, int64_t groups) {
  constexpr bool kIdentity = std::is_same<Activation, Identity>::value;
  const int64_t channels_per_group = C / groups;
  const int64_t M = channels_per_group * HW;
  // Per (n, c): sum dz and sum dz * xhat, in double (the calling thread's buffer, reused:
  // at 128 x 128 it is 256 KB, which malloc would map and unmap again on every call).
  thread_local std::vector<double> sums;
  if (sums.size() < static_cast<size_t>(2 * N * C)) sums.resize(static_cast<size_t>(2 * N * C));
  double* sum_dz = sums.data();
  double* sum_dz_xhat = sums.data() + N * C;
#pragma omp parallel for if (N * C * HW > kParallelThreshold && N * groups > 1)
  for (int64_t ng = 0; ng < N * groups; ++ng) {
    const int64_t n = ng / groups;
    const int64_t first_channel = (ng % groups) * channels_per_group;
    const double mu = mean[ng], inv_std = rstd[ng];
    const float mean_f = static_cast<float>(mu), rstd_f = static_cast<float>(inv_std);
    const float* xg = x + ng * M;
    const float* gyg = gy + ng * M;
    float* gxg = gx + ng * M;
    // Per channel: dz (gy itself, or recomputed z -> gy f'(z), kept in the thread's buffer
    // for the second pass) and its two sums, in one pass.
    float* dz_buffer = kIdentity ? nullptr : thread_buffer(M);
    const float* dzg = kIdentity ? gyg : dz_buffer;
    double mean_dxhat = 0.0, mean_dxhat_xhat = 0.0;
    for (int64_t k = 0; k < channels_per_group; ++k) {
      const int64_t c = first_channel + k;
      const float* xc = xg + k * HW;
      const float* gyc = gyg + k * HW;
      const float scale = rstd_f * (gamma ? gamma[c] : 1.0f);
      const float shift = beta ? beta[c] : 0.0f;
      float* dzc = kIdentity ? nullptr : dz_buffer + k * HW;
      double dz = 0.0, dz_centered = 0.0;
      for (int64_t begin = 0; begin < HW; begin += kBlock) {
        const int64_t end = std::min(HW, begin + kBlock);
        float sum = 0.0f, sum_centered = 0.0f;
        if (kIdentity) {
#pragma omp simd reduction(+ : sum, sum_centered)
          for (int64_t i = begin; i < end; ++i) {
            sum += gyc[i];
            sum_centered += gyc[i] * (xc[i] - mean_f);
          }
        } else {
#pragma omp simd reduction(+ : sum, sum_centered)
          for (int64_t i = begin; i < end; ++i) {
            const float centered = xc[i] - mean_f;
            const float value = Activation::grad(centered * scale + shift, gyc[i]);
            dzc[i] = value;
            sum += value;
            sum_centered += value * centered;
          }
        }
        dz += sum;
        dz_centered += sum_centered;
      }
      const double dz_xhat = inv_std * dz_centered;
      sum_dz[n * C + c] = dz;
      sum_dz_xhat[n * C + c] = dz_xhat;
      const double gamma_c = gamma ? gamma[c] : 1.0;
      mean_dxhat += gamma_c * dz;
      mean_dxhat_xhat += gamma_c * dz_xhat;
    }
    mean_dxhat /= static_cast<double>(M);
    mean_dxhat_xhat /= static_cast<double>(M);
    // Equation (1) with xhat = (x - mean) * rstd substituted, per channel:
    //   dx = a * dz + b * (x - mean) + d,   a = rstd * gamma[c],
    //   b = -rstd^2 * mean(dxhat * xhat),   d = -rstd * mean(dxhat).
    const float b = static_cast<float>(-inv_std * inv_std * mean_dxhat_xhat);
    const float d = static_cast<float>(-inv_std * mean_dxhat);
    for (int64_t k = 0; k < channels_per_group; ++k) {
      const int64_t c = first_channel + k;
      const float a = static_cast<float>(inv_std * (gamma ? gamma[c] : 1.0f));
      const float* xc = xg + k * HW;
      const float* dzc = dzg + k * HW;
      float* gxc = gxg + k * HW;
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) gxc[i] = a * dzc[i] + b * (xc[i] - mean_f) + d;
    }
  }
  // Equation (2): reduce the per-image sums over n.
  if (ggamma || gbeta) {
    for (int64_t c = 0; c < C; ++c) {
      double dgamma = 0.0, dbeta = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        dgamma += sum_dz_xhat[n * C + c];
        dbeta += sum_dz[n * C + c];
      }
      if (ggamma) ggamma[c] = static_cast<float>(dgamma);
      if (gbeta) gbeta[c] = static_cast<float>(dbeta);
    }
  }
}

}  // namespace

void cpu::fast::group_norm_forward(const float* x, const float* gamma, const float* beta,
                                    float* y, float* mean, float* rstd, int64_t N, int64_t C,
                                    int64_t HW, int64_t groups, float eps) {
  norm_forward<Identity>(x, gamma, beta, y, mean, rstd, N, C, HW, groups, eps);
}

void cpu::fast::group_norm_backward(const float* x, const float* gy, const float* gamma,
                                     const float* mean, const float* rstd, float* gx,
                                     float* ggamma, float* gbeta, int64_t N, int64_t C,
                                     int64_t HW, int64_t groups) {
  norm_backward<Identity>(x, gy, gamma, nullptr, mean, rstd, gx, ggamma, gbeta, N, C, HW, groups);
}

void cpu::fast::group_norm_silu_forward(const float* x, const float* gamma, const float* beta,
                                         float* y, float* mean, float* rstd, int64_t N,
                                         int64_t C, int64_t HW, int64_t groups, float eps) {
  norm_forward<Silu>(x, gamma, beta, y, mean, rstd, N, C, HW, groups, eps);
}

void cpu::fast::group_norm_silu_backward(const float* x, const float* gy, const float* gamma,
                                          const float* beta, const float* mean,
                                          const float* rstd, float* gx, float* ggamma,
                                          float* gbeta, int64_t N, int64_t C, int64_t HW,
                                          int64_t groups) {
  norm_backward<Silu>(x, gy, gamma, beta, mean, rstd, gx, ggamma, gbeta, N, C, HW, groups);
}

}  // namespace drift
