// ddim.cpp — DDIM's reverse step and sampler (see ddim.h).
#include "diffusion/samplers/ddim.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

const char* timestep_spacing_name(TimestepSpacing spacing) {
  switch (spacing) {
    case TimestepSpacing::Leading:
      return "leading";
    case TimestepSpacing::Trailing:
      return "trailing";
    case TimestepSpacing::Linspace:
      return "linspace";
    case TimestepSpacing::Quadratic:
      return "quadratic";
  }
  return "?";
}

TimestepSpacing parse_timestep_spacing(const std::string& name) {
  for (TimestepSpacing s : {TimestepSpacing::Leading, TimestepSpacing::Trailing,
                            TimestepSpacing::Linspace, TimestepSpacing::Quadratic})
    if (name == timestep_spacing_name(s)) return s;
  DRIFT_FAIL("timestep spacing: unknown spacing '"
             << name << "' (expected leading, trailing, linspace or quadratic)");
}

std::vector<int64_t> ddim_timesteps(int64_t T, int64_t num_steps, TimestepSpacing spacing) {
  DRIFT_CHECK(T >= 1, "ddim_timesteps: T must be at least 1, got " << T);
  DRIFT_CHECK(num_steps >= 1 && num_steps <= T,
              "ddim_timesteps: num_steps must be in [1, " << T << "] (T), got " << num_steps);
  const int64_t S = num_steps;
  std::vector<int64_t> up;  // cleanest first; reversed at the end
  up.reserve(static_cast<size_t>(S));
  for (int64_t i = 0; i < S; ++i) {
    switch (spacing) {
      case TimestepSpacing::Leading:  // floor(i · T / S): S ≤ T keeps them ≥ 1 apart
        up.push_back(i * T / S);
        break;
      case TimestepSpacing::Trailing:  // round(T − j · T / S) − 1 for j = S-1-i
        up.push_back(std::llround(double(T) - double(S - 1 - i) * double(T) / double(S)) - 1);
        break;
      case TimestepSpacing::Linspace:  // round(i · (T-1) / (S-1)); one step: t = 0
        up.push_back(S == 1 ? 0 : std::llround(double(i) * double(T - 1) / double(S - 1)));
        break;
      case TimestepSpacing::Quadratic: {  // floor((i · √(0.8 T) / (S-1))²), repeats moved up
        const double c = S == 1 ? 0.0 : std::sqrt(0.8 * double(T)) / double(S - 1);
        int64_t t = static_cast<int64_t>(std::floor((double(i) * c) * (double(i) * c)));
        if (!up.empty()) t = std::max(t, up.back() + 1);  // so t_i <= max(0.8 T, i) < T
        up.push_back(t);
        break;
      }
    }
  }
  return std::vector<int64_t>(up.rbegin(), up.rend());
}

DDIMSampler::DDIMSampler(const NoiseScheduler& scheduler, double eta)
    : scheduler_(scheduler), eta_(eta) {
  DRIFT_CHECK(
      std::isfinite(eta) && eta >= 0.0 && eta <= 1.0,
      "DDIMSampler: eta must be in [0, 1] (0 = deterministic, 1 = DDPM's noise), got " << eta);
  // ᾱ_t = Π_{s≤t} (1 − β_s) in double from the scheduler's β: its float32 ᾱ would lose the
  // small 1 − ᾱ_t/ᾱ_prev of neighbouring steps (σ² off by 1e-4 relative at η = 1).
  double product = 1.0;
  for (float beta : scheduler.betas.to_vector()) {
    product *= 1.0 - static_cast<double>(beta);
    alpha_bar_.push_back(product);
  }
}

double DDIMSampler::alpha_bar(int64_t t) const {
  return t < 0 ? 1.0 : alpha_bar_[static_cast<size_t>(t)];  // ᾱ_{-1} = 1: no noise at the end
}

// The deterministic part of eq. 12, from the level with ᾱ_from to the one with ᾱ_to:
//   x̂_0 = (x − √(1−ᾱ_from) ε̂) / √ᾱ_from                              ("predicted x_0")
//   √ᾱ_to x̂_0 + √(1−ᾱ_to−σ²) ε̂          (the second term "the direction pointing to x_t";
// ≥ 0 for η ≤ 1, max() for rounding). Downward it is the sampler's step before σ z; upward,
// with σ = 0, DDIM inversion's.
Tensor DDIMSampler::jump(const Tensor& eps_hat, const Tensor& x, double ab_from, double ab_to,
                         double sigma) const {
  Tensor x0_hat = (x - eps_hat * static_cast<float>(std::sqrt(1.0 - ab_from))) *
                  static_cast<float>(1.0 / std::sqrt(ab_from));
  const double dir = std::sqrt(std::max(0.0, 1.0 - ab_to - sigma * sigma));
  return x0_hat * static_cast<float>(std::sqrt(ab_to)) + eps_hat * static_cast<float>(dir);
}

double DDIMSampler::sigma(int64_t t, int64_t t_prev) const {
  DRIFT_CHECK(t >= 0 && t < scheduler_.steps(),
              "DDIMSampler: timestep " << t << " outside [0, " << scheduler_.steps() << ")");
  DRIFT_CHECK(t_prev >= -1 && t_prev < t,
              "DDIMSampler: t_prev must be in [-1, t) = [-1, " << t << "), got " << t_prev);
  const double ab_t = alpha_bar(t), ab_prev = alpha_bar(t_prev);
  // σ = η √((1−ᾱ_prev)/(1−ᾱ_t)) √(1−ᾱ_t/ᾱ_prev)                                 (eq. 16)
  return eta_ * std::sqrt((1.0 - ab_prev) / (1.0 - ab_t)) *
         std::sqrt(std::max(0.0, 1.0 - ab_t / ab_prev));
}

Tensor DDIMSampler::step_with_noise(const Tensor& eps_hat, int64_t t, int64_t t_prev,
                                    const Tensor& x_t, const Tensor& z) const {
  DRIFT_CHECK(eps_hat.defined() && x_t.defined(), "DDIMSampler::step: undefined input");
  check_same_shape(eps_hat, x_t, "DDIMSampler::step (eps_hat and x_t)");
  const double s = sigma(t, t_prev);                                       // checks t and t_prev
  Tensor x_prev = jump(eps_hat, x_t, alpha_bar(t), alpha_bar(t_prev), s);  // eq. 12 without σ z
  if (s == 0.0) return x_prev;
  DRIFT_CHECK(z.defined(), "DDIMSampler::step: σ = " << s << " > 0 needs the noise z");
  check_same_shape(z, x_t, "DDIMSampler::step (z and x_t)");
  return x_prev + z * static_cast<float>(s);
}

Tensor DDIMSampler::step(const Tensor& eps_hat, int64_t t, int64_t t_prev, const Tensor& x_t,
                         Generator* generator) const {
  DRIFT_CHECK(x_t.defined(), "DDIMSampler::step: x_t is undefined");
  if (sigma(t, t_prev) == 0.0) return step_with_noise(eps_hat, t, t_prev, x_t, Tensor());
  Tensor z = randn(x_t.shape(), x_t.device(), generator);  // z ~ N(0, I)
  return step_with_noise(eps_hat, t, t_prev, x_t, z);
}

Tensor DDIMSampler::sample(NoisePredictor& model, const Shape& shape, int64_t num_steps,
                           Generator* generator, const SampleCallback& on_step) const {
  DRIFT_CHECK(shape.ndim() == 4 && shape.numel() > 0,
              "ddim_sample: expected a shape [N, C, H, W], got " << shape);
  Tensor x_T = randn(shape, scheduler_.device(), generator);  // x_T ~ N(0, I)
  return sample_from(model, x_T, ddim_timesteps(scheduler_.steps(), num_steps), generator, on_step);
}

Tensor DDIMSampler::sample_from(NoisePredictor& model, Tensor x, const std::vector<int64_t>& ts,
                                Generator* generator, const SampleCallback& on_step) const {
  DRIFT_CHECK(x.defined() && x.ndim() >= 1 && x.numel() > 0, "ddim sample_from: x_T is empty");
  DRIFT_CHECK(!ts.empty(), "ddim sample_from: no timesteps");
  NoGradGuard no_grad;  // sampling trains nothing: no graph
  if (on_step) on_step(scheduler_.steps(), x);
  for (size_t i = 0; i < ts.size(); ++i) {
    const int64_t t = ts[i], t_prev = i + 1 < ts.size() ? ts[i + 1] : -1;
    Tensor eps_hat = model.forward(x, scheduler_.timesteps(x.size(0), t));  // ε_θ(x_t, t)
    x = step(eps_hat, t, t_prev, x, generator);  // x_{t_prev}; checks t_prev < t
    if (on_step) on_step(t_prev + 1, x);
  }
  return x;
}

Tensor DDIMSampler::invert(NoisePredictor& model, const Tensor& x0,
                           const std::vector<int64_t>& ts) const {
  DRIFT_CHECK(eta_ == 0.0,
              "DDIM inversion needs the deterministic sampler (eta 0), got eta " << eta_);
  DRIFT_CHECK(x0.defined() && x0.ndim() >= 1 && x0.numel() > 0, "ddim invert: x0 is empty");
  DRIFT_CHECK(!ts.empty(), "ddim invert: no timesteps");
  NoGradGuard no_grad;
  Tensor x = x0;
  int64_t a = -1;  // the level x is at: -1 = clean
  for (auto it = ts.rbegin(); it != ts.rend(); ++it) {
    const int64_t b = *it;
    DRIFT_CHECK(b > a && b < scheduler_.steps(),
                "ddim invert: timesteps must be strictly decreasing within [0, "
                    << scheduler_.steps() << "), got " << b << " after " << a);
    Tensor eps_hat = model.forward(x, scheduler_.timesteps(x.size(0), b));  // ε_θ(x_a, b)
    x = jump(eps_hat, x, alpha_bar(a), alpha_bar(b), 0.0);  // eq. 12 at η = 0, upward
    a = b;
  }
  return x;
}

Tensor ddim_sample(NoisePredictor& model, const NoiseScheduler& scheduler, const Shape& shape,
                   int64_t num_steps, double eta, Generator* generator,
                   const SampleCallback& on_step) {
  return DDIMSampler(scheduler, eta).sample(model, shape, num_steps, generator, on_step);
}

}  // namespace diffusion
}  // namespace drift
