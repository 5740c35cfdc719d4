// schedule.h — the noise schedule β_1..β_T and every constant the forward and reverse
// processes of DDPM (Ho et al. 2020) are written with.
//
// The forward process adds a little Gaussian noise at each of T steps:
//
//     q(x_t | x_{t-1}) = N(x_t; √(1-β_t) x_{t-1}, β_t I)                          (eq. 2)
//
// and because a sum of Gaussians is Gaussian, t steps collapse into one jump from x_0:
//
//     q(x_t | x_0) = N(x_t; √ᾱ_t x_0, (1-ᾱ_t) I),   α_t = 1-β_t,  ᾱ_t = Π_{s≤t} α_s  (eq. 4)
//
// Timesteps are 0-based everywhere in drift: t ∈ [0, T). Index t of every constant below
// describes the (t+1)-th noising step of the papers, so betas[0] is the paper's β_1 and
// alpha_bar[t] = α_0 α_1 ... α_t is the paper's ᾱ_{t+1}. Timestep tensors are float32 holding
// whole numbers (drift's index type), shaped [B] (one timestep per batch element).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// ---- beta schedules ---------------------------------------------------------------------
// Each returns β as a float32 CPU tensor of length `steps`, computed in double precision.

// DDPM's schedule: `steps` values evenly spaced from beta_start to beta_end (inclusive).
// Ho et al. use 1e-4 -> 0.02 over T = 1000; the toy chapters use 1e-4 -> 0.6 over 24 steps.
Tensor linear_beta_schedule(int64_t steps, double beta_start = 1e-4, double beta_end = 0.02);

// Nichol & Dhariwal (2021), eq. 17: ᾱ(t) = f(t)/f(0) with f(t) = cos²((t/T + s)/(1 + s) · π/2),
// and β_t = 1 - ᾱ(t+1)/ᾱ(t), clipped to at most `max_beta` (0.999 in the paper, to avoid the
// singularity at t = T where ᾱ reaches 0). The DDPM practical instead clips to
// [0.0001, 0.9999]; we follow the paper (see diffusion/README.md).
Tensor cosine_beta_schedule(int64_t steps, double s = 0.008, double max_beta = 0.999);

// √β evenly spaced, then squared: linspace(√beta_start, √beta_end, steps)².
Tensor quadratic_beta_schedule(int64_t steps, double beta_start = 1e-4, double beta_end = 0.02);

// sigmoid(linspace(-6, 6, steps)) · (beta_end - beta_start) + beta_start.
Tensor sigmoid_beta_schedule(int64_t steps, double beta_start = 1e-4, double beta_end = 0.02);

enum class BetaSchedule { Linear, Cosine, Quadratic, Sigmoid };
// All four, in the order the figures and --help list them.
inline constexpr BetaSchedule kBetaSchedules[] = {BetaSchedule::Linear, BetaSchedule::Cosine,
                                                  BetaSchedule::Quadratic, BetaSchedule::Sigmoid};
const char* beta_schedule_name(BetaSchedule schedule);  // "linear", "cosine", ...
// Parses "linear", "cosine", "quadratic" or "sigmoid"; throws naming the valid choices.
BetaSchedule parse_beta_schedule(const std::string& name);
// One of the four by name; the cosine schedule ignores beta_start / beta_end.
Tensor make_beta_schedule(BetaSchedule schedule, int64_t steps, double beta_start = 1e-4,
                          double beta_end = 0.02);

// ---- the scheduler ------------------------------------------------------------------------

// The variance σ²_t of the reverse step p(x_{t-1} | x_t) = N(μ_θ, σ²_t I). Ho et al. found
// both choices give similar samples (section 3.2):
enum class ReverseVariance {
  Posterior,  // σ²_t = β̃_t = β_t (1-ᾱ_{t-1}) / (1-ᾱ_t), the variance of q(x_{t-1} | x_t, x_0)
  Beta,       // σ²_t = β_t, the variance of the forward step
};

class NoiseScheduler {
 public:
  // A schedule of `steps` betas made by make_beta_schedule.
  NoiseScheduler(int64_t steps, double beta_start, double beta_end,
                 BetaSchedule schedule = BetaSchedule::Linear, Device device = Device::cpu());
  // Any betas: a 1-D tensor of at least 2 values, each in (0, 1).
  explicit NoiseScheduler(const Tensor& betas, Device device = Device::cpu());

  int64_t steps() const { return steps_; }  // T
  Device device() const { return device_; }
  void to(Device device);  // moves every constant (in place)

  // ---- the constants, each a float32 tensor of length T on device() -----------------
  Tensor betas;                     // β_t
  Tensor alphas;                    // α_t = 1 - β_t
  Tensor alpha_bar;                 // ᾱ_t = α_0 α_1 ... α_t
  Tensor alpha_bar_prev;            // ᾱ_{t-1}, with ᾱ_{-1} = 1 (no noise before the first step)
  Tensor sqrt_recip_alphas;         // √(1/α_t)
  Tensor sqrt_alpha_bar;            // √ᾱ_t, how much of x_0 survives in x_t
  Tensor sqrt_one_minus_alpha_bar;  // √(1-ᾱ_t), the standard deviation of the noise in x_t
  Tensor posterior_variance;        // β̃_t = β_t (1-ᾱ_{t-1}) / (1-ᾱ_t)    (0 at t = 0)
  // log β̃_t with t = 0 replaced by log β̃_1, since log 0 = -inf (as in the DDPM code)
  Tensor posterior_log_variance_clipped;
  Tensor posterior_mean_coef1;  // β_t √ᾱ_{t-1} / (1-ᾱ_t)        multiplies x_0 in μ̃_t
  Tensor posterior_mean_coef2;  // (1-ᾱ_{t-1}) √α_t / (1-ᾱ_t)    multiplies x_t in μ̃_t

  // Every constant by name ("betas", "alpha_bar", ...), for tests, printing and plots.
  std::vector<std::pair<std::string, Tensor>> named_constants() const;

  // ---- picking per-timestep values ----------------------------------------------------
  // constant[t_b] for each element of the timesteps t ([B] or [B, 1], whole numbers in
  // [0, T)), shaped [B, 1, ..., 1] with `ndim` dimensions so it broadcasts against a batch
  // of ndim-dimensional samples (ndim = 4 for NCHW images). Built on index_select.
  Tensor select(const Tensor& constant, const Tensor& t, int64_t ndim = 4) const;

  // B copies of one timestep, [B] on device(): what a sampling loop passes the model.
  Tensor timesteps(int64_t batch, int64_t t) const;
  // B timesteps drawn uniformly from [0, T): what a training step uses.
  Tensor sample_timesteps(int64_t batch, Generator* generator = nullptr) const;

  // ---- the forward process --------------------------------------------------------------
  // q_sample: x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε   (eq. 4 by reparameterisation), per batch element.
  Tensor add_noise(const Tensor& x0, const Tensor& noise, const Tensor& t) const;

  // ---- the posterior q(x_{t-1} | x_t, x_0) and the reverse-step noise --------------------
  // x̂_0 = (x_t - √(1-ᾱ_t) ε̂) / √ᾱ_t, eq. 4 solved for x_0.
  Tensor predict_x0(const Tensor& x_t, const Tensor& eps_hat, const Tensor& t) const;
  // μ̃_t(x_t, x_0) = coef1 x_0 + coef2 x_t, the mean of q(x_{t-1} | x_t, x_0)   (eq. 7).
  Tensor posterior_mean(const Tensor& x0, const Tensor& x_t, const Tensor& t) const;
  // σ_t for the chosen variance, length T, with σ = 0 at t = 0 (the last reverse step adds
  // no noise, Algorithm 2 line 3).
  Tensor reverse_sigma(ReverseVariance variance = ReverseVariance::Posterior) const;

  // The reverse step itself lives with the samplers (diffusion/samplers/ddpm.h).

  // Throws, naming `op`, unless t is a [B] or [B, 1] timestep tensor on device().
  void check_timesteps(const Tensor& t, const char* op) const;

 private:
  int64_t steps_ = 0;
  Device device_ = Device::cpu();
  Tensor sigma_posterior_, sigma_beta_;  // reverse_sigma() for each variance choice
};

}  // namespace diffusion
}  // namespace drift
