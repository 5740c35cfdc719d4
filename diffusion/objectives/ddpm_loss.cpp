// ddpm_loss.cpp — DDPM's training objective (see ddpm_loss.h).
#include "diffusion/objectives/ddpm_loss.h"

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

}  // namespace diffusion
}  // namespace drift
