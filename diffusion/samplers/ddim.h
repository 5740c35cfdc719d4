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
#include <string>
#include <vector>

#include "diffusion/models/noise_predictor.h"
#include "diffusion/process/schedule.h"
#include "diffusion/samplers/ddpm.h"  // SampleCallback
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// Which num_steps of the T timesteps DDIM visits. Every choice returns them noisiest first,
// strictly decreasing, within [0, T). With T = 1000 and 50 steps (the names are diffusers'):
//   Leading    floor(i · T / S), i = 0..S-1: 980, 960, ..., 20, 0 — the DDIM paper's "linear"
//              choice (section D.2; its code's range(0, T, T // S)). The trap: it never visits
//              t = T-1, so the pure noise x_T is handed to the model as if it were x_980.
//   Trailing   round(T − i · T / S) − 1: 999, 979, ..., 19 — starts where x_T really is; the
//              last step then jumps from 19 straight to x_0 (Lin et al. 2024, table 2).
//   Linspace   round(linspace(0, T-1, S)): 999, 979, ..., 20, 0 — both ends; the stride is
//              (T-1)/(S-1), not a whole number, so the gaps alternate (20 and 21 here).
//   Quadratic  floor(linspace(0, √(0.8 T), S)²): 0, 0, 1, 3, ... in the DDIM code, which
//              repeats small timesteps (a repeated step changes nothing and wastes a network
//              call); here a repeat moves one further up (0, 1, 2, 3, ...), so every step is
//              a step. Dense at low noise, where the picture's details are decided.
enum class TimestepSpacing { Leading, Trailing, Linspace, Quadratic };
const char* timestep_spacing_name(TimestepSpacing spacing);  // "leading", "trailing", ...
// Parses "leading", "trailing", "linspace" or "quadratic"; throws naming the valid choices.
TimestepSpacing parse_timestep_spacing(const std::string& name);

// The timesteps for `spacing` (Leading when not given). Requires 1 <= num_steps <= T.
std::vector<int64_t> ddim_timesteps(int64_t T, int64_t num_steps,
                                    TimestepSpacing spacing = TimestepSpacing::Leading);

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
  // The same loop from a given x_T along given timesteps (noisiest first, e.g. from
  // ddim_timesteps with any spacing): x_T → x_0 with ts.size() model calls.
  Tensor sample_from(NoisePredictor& model, Tensor x_T, const std::vector<int64_t>& ts,
                     Generator* generator = nullptr, const SampleCallback& on_step = {}) const;

  // DDIM inversion: the η = 0 update run upward, x_0 → x_T, along the same timesteps the
  // sampler walks down (ts noisiest first; the walk goes ts.back() → ... → ts.front()).
  // The η = 0 step is a discretised ODE (Song et al. 2021, section 4.3), so it can be run
  // both ways: from level a to level b > a,
  //   x_b = √ᾱ_b x̂_0 + √(1−ᾱ_b) ε̂,   x̂_0 = (x_a − √(1−ᾱ_a) ε̂) / √ᾱ_a,   ε̂ = ε_θ(x_a, b)
  // with ε̂ taken at the current picture and the level it moves to (x_b is not known yet; the
  // first jump starts from the clean x_0, level -1, which the network has no timestep for).
  // Sampling from the result with sample_from(model, x_T, ts) at η = 0 returns close to x_0;
  // the gap is the ODE's discretisation error and shrinks with more steps. Needs η = 0.
  Tensor invert(NoisePredictor& model, const Tensor& x0, const std::vector<int64_t>& ts) const;

  const NoiseScheduler& scheduler() const { return scheduler_; }
  double eta() const { return eta_; }

 private:
  double alpha_bar(int64_t t) const;  // ᾱ_t, 1 for t = -1
  // eq. 12's deterministic part between two levels (any direction): see ddim.cpp
  Tensor jump(const Tensor& eps_hat, const Tensor& x, double ab_from, double ab_to,
              double sigma) const;

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
