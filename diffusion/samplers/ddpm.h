// ddpm.h — DDPM's sampler (Ho et al. 2020, Algorithm 2): ancestral sampling, one reverse step
// per timestep, from x_T ~ N(0, I) down to x_0.
//
//   DDPMSampler sampler(scheduler);                 // σ²_t = β̃_t, the posterior variance
//   Tensor x = randn({16, 3, 32, 32});              // x_T ~ N(0, I)
//   for (int64_t t = T - 1; t >= 0; --t) {
//     Tensor eps_hat = model.forward(x, scheduler.timesteps(16, t));   // ε_θ(x_t, t)
//     x = sampler.step(eps_hat, t, x);              // x_{t-1}
//   }
//
// or all of it at once: `sampler.sample(model, {16, 3, 32, 32})`. A sampler holds a reference
// to the scheduler whose constants it uses (keep the scheduler alive while sampling).
// Every sampler in this folder has the same two members: `step` and `sample`.
#pragma once

#include <cstdint>
#include <functional>

#include "diffusion/models/noise_predictor.h"
#include "diffusion/process/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// Called by sample() with the current samples: first with level = T and x_T (pure noise),
// then after each reverse step with level = t and x_t, down to level = 0 and the final x_0.
// (Level t is the paper's x_t: the picture with t noising steps left to undo.)
using SampleCallback = std::function<void(int64_t level, const Tensor& x)>;

class DDPMSampler {
 public:
  explicit DDPMSampler(const NoiseScheduler& scheduler,
                       ReverseVariance variance = ReverseVariance::Posterior);

  // One reverse step (Algorithm 2, line 4), with the noise z given:
  //   x_{t-1} = (x_t - β_t / √(1-ᾱ_t) · ε̂) / √α_t + σ_t z,   no noise at t = 0.
  // eps_hat = ε_θ(x_t, t), the model's noise prediction; t is a [B] timestep tensor.
  Tensor step_with_noise(const Tensor& eps_hat, const Tensor& t, const Tensor& x_t,
                         const Tensor& z) const;
  // The same step drawing z ~ N(0, I) from `generator` (the global one when null); `t` is a
  // [B] timestep tensor, or one timestep for the whole batch.
  Tensor step(const Tensor& eps_hat, const Tensor& t, const Tensor& x_t,
              Generator* generator = nullptr) const;
  Tensor step(const Tensor& eps_hat, int64_t t, const Tensor& x_t,
              Generator* generator = nullptr) const;

  // Algorithm 2 whole: x_T ~ N(0, I) of the given shape, then step() for t = T-1 down to 0.
  // Runs without building a graph. Returns x_0 in model range (roughly [-1, 1]; not clamped).
  Tensor sample(NoisePredictor& model, const Shape& shape, Generator* generator = nullptr,
                const SampleCallback& on_step = {}) const;

  const NoiseScheduler& scheduler() const { return scheduler_; }
  ReverseVariance variance() const { return variance_; }

 private:
  const NoiseScheduler& scheduler_;
  ReverseVariance variance_;
};

// DDPMSampler(scheduler, variance).sample(model, shape, generator, on_step), in one call.
Tensor ddpm_sample(NoisePredictor& model, const NoiseScheduler& scheduler, const Shape& shape,
                   Generator* generator = nullptr, const SampleCallback& on_step = {},
                   ReverseVariance variance = ReverseVariance::Posterior);

}  // namespace diffusion
}  // namespace drift
