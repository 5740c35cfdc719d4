// marginal_check.cpp — the estimators of marginal_check.h.
#include "diffusion/metrics/marginal_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"

namespace drift {
namespace diffusion {

MarginalCheck check_marginals(const Tensor& x0, const NoiseScheduler& scheduler, int64_t draws,
                              Generator* generator) {
  NoGradGuard no_grad;
  const Device device = x0.device();
  const std::vector<float> betas = scheduler.betas.to_vector(),
                           ab = scheduler.alpha_bar.to_vector();
  const Tensor x0s = x0 * ones({draws, 1, 1, 1}, device);  // the same x_0 in every draw
  const std::vector<float> x0v = x0s.to_vector();
  double x0_x0 = 0;
  for (float v : x0v) x0_x0 += double(v) * v;
  MarginalCheck check;
  check.values = double(x0v.size());
  const double n = check.values;
  Tensor x = x0s;
  for (int64_t k = 1; k <= scheduler.steps(); ++k) {
    const float beta = betas[size_t(k - 1)];
    // the walk: one more step of eq. 2;  the jump: eq. 4 straight from x_0
    x = std::sqrt(1.0f - beta) * x + std::sqrt(beta) * randn(x.shape(), device, generator);
    Tensor jump = scheduler.add_noise(x0s, randn(x0s.shape(), device, generator),
                                      scheduler.timesteps(draws, k - 1));
    const double a = ab[size_t(k - 1)], root = std::sqrt(a);
    double slope[2], variance[2];
    for (int which = 0; which < 2; ++which) {
      const std::vector<float> xt = (which == 0 ? x : jump).to_vector();
      double x0_xt = 0, residual = 0;
      for (size_t i = 0; i < xt.size(); ++i) {
        x0_xt += double(x0v[i]) * xt[i];
        residual += (xt[i] - root * x0v[i]) * (xt[i] - root * x0v[i]);
      }
      slope[which] = x0_xt / x0_x0, variance[which] = residual / n;
      check.worst =
          std::max({check.worst, std::fabs(slope[which] - root) / std::sqrt((1 - a) / x0_x0),
                    std::fabs(variance[which] - (1 - a)) / ((1 - a) * std::sqrt(2.0 / n))});
    }
    check.fits.push_back({k, root, slope[0], slope[1], 1 - a, variance[0], variance[1]});
  }
  return check;
}

std::string MarginalCheck::table() const {
  char line[160];
  std::snprintf(line, sizeof line, "    %4s  %9s  %9s  %9s  |  %9s  %9s  %9s\n", "t", "sqrt(ab)",
                "iterated", "closed", "1-ab", "iterated", "closed");
  std::string text = line;
  const int64_t T = static_cast<int64_t>(fits.size());
  for (const MarginalFit& f : fits)
    if (f.steps == 1 || f.steps == T || f.steps % std::max<int64_t>(1, T / 4) == 0) {
      std::snprintf(line, sizeof line, "    %4lld  %9.5f  %9.5f  %9.5f  |  %9.5f  %9.5f  %9.5f\n",
                    static_cast<long long>(f.steps), f.sqrt_alpha_bar, f.slope_walk, f.slope_jump,
                    f.one_minus_alpha_bar, f.variance_walk, f.variance_jump);
      text += line;
    }
  return text;
}

}  // namespace diffusion
}  // namespace drift
