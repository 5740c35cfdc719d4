// ddpm_loss.h — DDPM's training objective (Ho et al. 2020, Algorithm 1), written once for
// any noise predictor. Its sampler (Algorithm 2) is in diffusion/samplers/ddpm.h.
//
//   NoiseScheduler scheduler(24, 1e-4, 0.6);
//   ToyModel model;
//   nn::Adam optimizer(model.parameters(), 1e-3);
//   for (int64_t it = 0; it < iterations; ++it) {
//     optimizer.zero_grad();
//     Tensor loss = ddpm_loss(model, scheduler, x0);      // ‖ε − ε_θ(x_t, t)‖², averaged
//     loss.backward();
//     optimizer.step();
//   }
#pragma once

#include <cstdint>

#include "diffusion/models/noise_predictor.h"
#include "diffusion/process/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// Algorithm 1, one batch: for clean pictures x0 [B, C, H, W] (in [-1, 1]) draws
//   ε ~ N(0, I)                         the noise, one picture's worth per sample
//   t ~ Uniform{0, ..., T-1}            one timestep per sample
//   x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε          (eq. 4, NoiseScheduler::add_noise)
// and returns the mean squared error between ε and the model's prediction ε_θ(x_t, t)
// (eq. 14, the "simple" loss), a scalar ready for backward(). ε is drawn before t, as in the
// tutorial. Randomness comes from `generator` (the global one when null).
Tensor ddpm_loss(NoisePredictor& model, const NoiseScheduler& scheduler, const Tensor& x0,
                 Generator* generator = nullptr);

}  // namespace diffusion
}  // namespace drift
