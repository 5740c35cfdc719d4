// ddpm.cpp — DDPM's training objective and sampler (see ddpm.h).
#include "diffusion/ddpm.h"

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

Tensor ddpm_loss(NoisePredictor& model, const NoiseScheduler& scheduler, const Tensor& x0,
                 Generator* generator) {
  DRIFT_CHECK(x0.defined() && x0.ndim() == 4,
              "ddpm_loss: expected clean pictures shaped [B, C, H, W], got "
                  << (x0.defined() ? describe(x0) : "undefined"));
  const int64_t batch = x0.size(0);
  Tensor noise = randn(x0.shape(), x0.device(), generator);  // ε ~ N(0, I)
  Tensor t = scheduler.sample_timesteps(batch, generator);   // t ~ U{0, ..., T-1}
  Tensor x_t = scheduler.add_noise(x0, noise, t);            // √ᾱ_t x0 + √(1-ᾱ_t) ε
  Tensor predicted_noise = model.forward(x_t, t);            // ε_θ(x_t, t)
  return mse_loss(predicted_noise, noise);                   // ‖ε − ε_θ(x_t, t)‖² / n
}

Tensor ddpm_sample(NoisePredictor& model, const NoiseScheduler& scheduler, const Shape& shape,
                   Generator* generator, const SampleCallback& on_step, ReverseVariance variance) {
  DRIFT_CHECK(shape.ndim() == 4 && shape.numel() > 0,
              "ddpm_sample: expected a shape [N, C, H, W], got " << shape);
  NoGradGuard no_grad;  // sampling trains nothing: no graph
  const int64_t T = scheduler.steps();
  Tensor x = randn(shape, scheduler.device(), generator);  // x_T ~ N(0, I)
  if (on_step) on_step(T, x);
  for (int64_t t = T - 1; t >= 0; --t) {
    Tensor eps_hat = model.forward(x, scheduler.timesteps(shape[0], t));  // ε_θ(x_t, t)
    x = scheduler.step(eps_hat, t, x, generator, variance);               // Algorithm 2, line 4
    if (on_step) on_step(t, x);
  }
  return x;
}

}  // namespace diffusion
}  // namespace drift
