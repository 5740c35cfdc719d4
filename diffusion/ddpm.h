// ddpm.h — the two algorithms of DDPM (Ho et al. 2020), written once for any noise predictor:
// the training objective (Algorithm 1) and ancestral sampling (Algorithm 2).
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
//   Tensor samples = ddpm_sample(model, scheduler, {16, 3, 32, 32});
#pragma once

#include <cstdint>
#include <functional>

#include "diffusion/models/noise_predictor.h"
#include "diffusion/schedule.h"
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

// Called by ddpm_sample with the current samples: first with level = T and x_T (pure noise),
// then after each reverse step with level = t and x_t, down to level = 0 and the final x_0.
// (Level t is the paper's x_t: the picture with t noising steps left to undo.)
using SampleCallback = std::function<void(int64_t level, const Tensor& x)>;

// Algorithm 2: x_T ~ N(0, I) of the given shape, then for t = T-1 down to 0 (0-based)
//   ε̂ = ε_θ(x_t, t),   x_{t-1} = (x_t − β_t/√(1-ᾱ_t) ε̂)/√α_t + σ_t z   (NoiseScheduler::step)
// with σ²_t the posterior variance β̃_t (or β_t) and no noise on the last step. Runs without
// building a graph. Returns x_0 in model range (roughly [-1, 1]; not clamped).
Tensor ddpm_sample(NoisePredictor& model, const NoiseScheduler& scheduler, const Shape& shape,
                   Generator* generator = nullptr, const SampleCallback& on_step = {},
                   ReverseVariance variance = ReverseVariance::Posterior);

}  // namespace diffusion
}  // namespace drift
