// ddim.h — DDIM's sampler (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models"):
// the same trained ε_θ as DDPM, walked down a short subsequence of the timesteps.
//
// DDIM's reverse step (eq. 12) predicts x_0 from x_t, then jumps straight to the level
// t_prev with a chosen amount of fresh noise:
//
//   x̂_0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t
//   x_{t_prev} = √ᾱ_prev · x̂_0 + √(1−ᾱ_prev−σ²) · ε̂ + σ z
//   σ = η √((1−ᾱ_prev)/(1−ᾱ_t)) √(1−ᾱ_t/ᾱ_prev)                              (eq. 16)
//
// η = 0 is deterministic (the noise x_T decides the picture); η = 1 with every timestep is
// DDPM itself (σ² = β̃_t, the posterior variance). After the last step ᾱ_prev = 1: x_0 = x̂_0.
//
//   DDIMSampler sampler(scheduler, /*eta=*/0.0);
//   std::vector<int64_t> ts = ddim_timesteps(scheduler.steps(), 50);   // 980, 960, ..., 0
//   Tensor x = randn({16, 1, 28, 28});                                 // x_T ~ N(0, I)
//   for (size_t i = 0; i < ts.size(); ++i) {
//     int64_t t = ts[i], t_prev = i + 1 < ts.size() ? ts[i + 1] : -1;  // -1: the end, ᾱ = 1
//     Tensor eps_hat = model.forward(x, scheduler.timesteps(16, t));   // ε_θ(x_t, t)
//     x = sampler.step(eps_hat, t, t_prev, x);                         // x_{t_prev}
//   }
//
// or all of it at once: `sampler.sample(model, {16, 1, 28, 28}, 50)`. Timesteps are 0-based
// as everywhere in drift (index t uses alpha_bar[t]); t_prev = -1 stands for ᾱ = 1. A sampler
// holds a reference to the scheduler whose constants it uses (keep the scheduler alive).
#pragma once

#include <cstdint>
#include <vector>

#include "diffusion/models/noise_predictor.h"
#include "diffusion/process/schedule.h"
#include "diffusion/samplers/ddpm.h"  // SampleCallback
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// The timesteps DDIM visits, from noisiest to cleanest: t_i = floor(i · T / num_steps) for
// i = 0 .. num_steps-1, reversed — evenly strided, ending at 0 (the DDIM paper's "linear"
// choice, section D.2; its code's range(0, T, T // S) when S divides T). T = 1000 and 50
// steps give 980, 960, ..., 20, 0. Requires 1 <= num_steps <= T.
std::vector<int64_t> ddim_timesteps(int64_t T, int64_t num_steps);

class DDIMSampler {
 public:
  // η in [0, 1]: 0 = deterministic DDIM, 1 = DDPM's amount of noise.
  explicit DDIMSampler(const NoiseScheduler& scheduler, double eta = 0.0);

  // σ of the step from timestep t to t_prev (eq. 16), in double (ᾱ recomputed in double
  // from the scheduler's β); t_prev = -1 (the end) gives 0.
  double sigma(int64_t t, int64_t t_prev) const;

  // One reverse step (eq. 12) from timestep t to t_prev < t (-1: to x_0), with the noise z
  // given. eps_hat = ε_θ(x_t, t), the model's noise prediction, one timestep for the batch.
  Tensor step_with_noise(const Tensor& eps_hat, int64_t t, int64_t t_prev, const Tensor& x_t,
                         const Tensor& z) const;
  // The same step drawing z ~ N(0, I) from `generator` (the global one when null). When σ = 0
  // (η = 0, or the last step) nothing is drawn and the generator is left as it was.
  Tensor step(const Tensor& eps_hat, int64_t t, int64_t t_prev, const Tensor& x_t,
              Generator* generator = nullptr) const;

  // The whole loop: x_T ~ N(0, I) of the given shape, then step() along
  // ddim_timesteps(T, num_steps), num_steps model calls. Runs without building a graph.
  // on_step is called with (T, x_T) first, then after each step with level t_prev + 1 (the
  // picture now carries ᾱ[t_prev]'s noise), down to (0, x_0). Returns x_0 in model range
  // (roughly [-1, 1]; not clamped).
  Tensor sample(NoisePredictor& model, const Shape& shape, int64_t num_steps,
                Generator* generator = nullptr, const SampleCallback& on_step = {}) const;

  const NoiseScheduler& scheduler() const { return scheduler_; }
  double eta() const { return eta_; }

 private:
  double alpha_bar(int64_t t) const;  // ᾱ_t, 1 for t = -1

  const NoiseScheduler& scheduler_;
  double eta_;
  std::vector<double> alpha_bar_;  // ᾱ, recomputed in double from the scheduler's β
};

// DDIMSampler(scheduler, eta).sample(model, shape, num_steps, generator, on_step), in one call.
Tensor ddim_sample(NoisePredictor& model, const NoiseScheduler& scheduler, const Shape& shape,
                   int64_t num_steps, double eta = 0.0, Generator* generator = nullptr,
                   const SampleCallback& on_step = {});

}  // namespace diffusion
}  // namespace drift
