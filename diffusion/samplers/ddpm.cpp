// ddpm.cpp — DDPM's reverse step and ancestral sampler (see ddpm.h).
#include "diffusion/samplers/ddpm.h"

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

DDPMSampler::DDPMSampler(const NoiseScheduler& scheduler, ReverseVariance variance)
    : scheduler_(scheduler), variance_(variance) {}

Tensor DDPMSampler::step_with_noise(const Tensor& eps_hat, const Tensor& t, const Tensor& x_t,
                                    const Tensor& z) const {
  DRIFT_CHECK(eps_hat.defined() && x_t.defined() && z.defined(),
              "DDPMSampler::step: undefined input");
  check_same_shape(eps_hat, x_t, "DDPMSampler::step (eps_hat and x_t)");
  check_same_shape(z, x_t, "DDPMSampler::step (z and x_t)");
  scheduler_.check_timesteps(t, "DDPMSampler::step");
  DRIFT_CHECK(x_t.size(0) == t.size(0), "DDPMSampler::step: " << t.size(0)
                                                              << " timesteps for a batch of "
                                                              << describe(x_t));
  const NoiseScheduler& s = scheduler_;
  const int64_t ndim = x_t.ndim();
  // μ_θ(x_t, t) = (x_t - β_t / √(1-ᾱ_t) · ε̂) / √α_t                        (Ho et al. eq. 11)
  Tensor eps_scale = s.select(s.betas, t, ndim) / s.select(s.sqrt_one_minus_alpha_bar, t, ndim);
  Tensor mean = s.select(s.sqrt_recip_alphas, t, ndim) * (x_t - eps_scale * eps_hat);
  // x_{t-1} = μ_θ + σ_t z, with σ_0 = 0: no noise on the last step      (Algorithm 2, line 4)
  return mean + s.select(s.reverse_sigma(variance_), t, ndim) * z;
}

Tensor DDPMSampler::step(const Tensor& eps_hat, const Tensor& t, const Tensor& x_t,
                         Generator* generator) const {
  DRIFT_CHECK(x_t.defined(), "DDPMSampler::step: x_t is undefined");
  Tensor z = randn(x_t.shape(), x_t.device(), generator);  // z ~ N(0, I)
  return step_with_noise(eps_hat, t, x_t, z);
}

Tensor DDPMSampler::step(const Tensor& eps_hat, int64_t t, const Tensor& x_t,
                         Generator* generator) const {
  DRIFT_CHECK(x_t.defined() && x_t.ndim() >= 1, "DDPMSampler::step: x_t must have a batch dim");
  return step(eps_hat, scheduler_.timesteps(x_t.size(0), t), x_t, generator);
}

Tensor DDPMSampler::sample(NoisePredictor& model, const Shape& shape, Generator* generator,
                           const SampleCallback& on_step) const {
  DRIFT_CHECK(shape.ndim() == 4 && shape.numel() > 0,
              "ddpm_sample: expected a shape [N, C, H, W], got " << shape);
  NoGradGuard no_grad;  // sampling trains nothing: no graph
  const int64_t T = scheduler_.steps();
  Tensor x = randn(shape, scheduler_.device(), generator);  // x_T ~ N(0, I)     (line 1)
  if (on_step) on_step(T, x);
  for (int64_t t = T - 1; t >= 0; --t) {                                   // (line 2)
    Tensor eps_hat = model.forward(x, scheduler_.timesteps(shape[0], t));  // ε_θ(x_t, t)
    x = step(eps_hat, t, x, generator);                                    // (lines 3-4)
    if (on_step) on_step(t, x);
  }
  return x;                                                                // (line 6)
}

Tensor ddpm_sample(NoisePredictor& model, const NoiseScheduler& scheduler, const Shape& shape,
                   Generator* generator, const SampleCallback& on_step, ReverseVariance variance) {
  return DDPMSampler(scheduler, variance).sample(model, shape, generator, on_step);
}

}  // namespace diffusion
}  // namespace drift
