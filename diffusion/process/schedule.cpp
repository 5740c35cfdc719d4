// schedule.cpp — beta schedules, the NoiseScheduler's constants and the forward jump.
//
// The constants are computed once, on the host in double precision (T is at most a few
// thousand), then stored as float32 tensors on the scheduler's device. Everything that runs
// per batch (select, add_noise, and the samplers' steps) is made of tensor ops only, so it runs on any device.
#include "diffusion/process/schedule.h"

#include <cmath>

#include "autograd/ops.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

namespace {

constexpr double kPi = 3.14159265358979323846;

// torch.linspace in double: both ends exact, evenly spaced.
std::vector<double> linspace_double(double start, double end, int64_t steps) {
  std::vector<double> values(static_cast<size_t>(steps));
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  for (int64_t i = 0; i < steps; ++i)
    values[static_cast<size_t>(i)] =
        i == steps - 1 && steps > 1 ? end : start + step * static_cast<double>(i);
  return values;
}

Tensor to_tensor(const std::vector<double>& values, Device device = Device::cpu()) {
  std::vector<float> floats(values.begin(), values.end());
  return from_vector(floats, device);
}

void check_schedule_args(const char* name, int64_t steps, double beta_start, double beta_end) {
  DRIFT_CHECK(steps >= 1, name << ": steps must be at least 1, got " << steps);
  DRIFT_CHECK(beta_start > 0.0 && beta_start < 1.0 && beta_end > 0.0 && beta_end < 1.0,
              name << ": beta_start and beta_end must lie in (0, 1), got " << beta_start << " and "
                   << beta_end);
}

}  // namespace

// ---- beta schedules -------------------------------------------------------------------------

Tensor linear_beta_schedule(int64_t steps, double beta_start, double beta_end) {
  check_schedule_args("linear_beta_schedule", steps, beta_start, beta_end);
  return to_tensor(linspace_double(beta_start, beta_end, steps));
}

Tensor cosine_beta_schedule(int64_t steps, double s, double max_beta) {
  DRIFT_CHECK(steps >= 1, "cosine_beta_schedule: steps must be at least 1, got " << steps);
  DRIFT_CHECK(s >= 0.0, "cosine_beta_schedule: the offset s must be >= 0, got " << s);
  DRIFT_CHECK(max_beta > 0.0 && max_beta < 1.0,
              "cosine_beta_schedule: max_beta must lie in (0, 1), got " << max_beta);
  // f(t) = cos²((t/T + s)/(1 + s) · π/2); the small offset s keeps β_0 from being ~0.
  auto f = [&](double t) {
    double angle = (t / static_cast<double>(steps) + s) / (1.0 + s) * kPi / 2.0;
    return std::cos(angle) * std::cos(angle);
  };
  std::vector<double> betas(static_cast<size_t>(steps));
  for (int64_t t = 0; t < steps; ++t) {
    // β_t = 1 - ᾱ(t+1)/ᾱ(t); the normalisation by f(0) cancels in the ratio.
    double beta = 1.0 - f(static_cast<double>(t + 1)) / f(static_cast<double>(t));
    betas[static_cast<size_t>(t)] = std::min(beta, max_beta);  // Nichol & Dhariwal: β ≤ 0.999
  }
  return to_tensor(betas);
}

Tensor quadratic_beta_schedule(int64_t steps, double beta_start, double beta_end) {
  check_schedule_args("quadratic_beta_schedule", steps, beta_start, beta_end);
  std::vector<double> betas = linspace_double(std::sqrt(beta_start), std::sqrt(beta_end), steps);
  for (double& beta : betas) beta = beta * beta;
  return to_tensor(betas);
}

Tensor sigmoid_beta_schedule(int64_t steps, double beta_start, double beta_end) {
  check_schedule_args("sigmoid_beta_schedule", steps, beta_start, beta_end);
  std::vector<double> betas = linspace_double(-6.0, 6.0, steps);
  for (double& beta : betas)
    beta = 1.0 / (1.0 + std::exp(-beta)) * (beta_end - beta_start) + beta_start;
  return to_tensor(betas);
}

const char* beta_schedule_name(BetaSchedule schedule) {
  switch (schedule) {
    case BetaSchedule::Linear:
      return "linear";
    case BetaSchedule::Cosine:
      return "cosine";
    case BetaSchedule::Quadratic:
      return "quadratic";
    case BetaSchedule::Sigmoid:
      return "sigmoid";
  }
  return "?";
}

BetaSchedule parse_beta_schedule(const std::string& name) {
  for (BetaSchedule s : kBetaSchedules)
    if (name == beta_schedule_name(s)) return s;
  DRIFT_FAIL("beta schedule: unknown schedule '"
             << name << "' (expected linear, cosine, quadratic or sigmoid)");
}

Tensor make_beta_schedule(BetaSchedule schedule, int64_t steps, double beta_start,
                          double beta_end) {
  switch (schedule) {
    case BetaSchedule::Linear:
      return linear_beta_schedule(steps, beta_start, beta_end);
    case BetaSchedule::Cosine:
      return cosine_beta_schedule(steps);
    case BetaSchedule::Quadratic:
      return quadratic_beta_schedule(steps, beta_start, beta_end);
    case BetaSchedule::Sigmoid:
      return sigmoid_beta_schedule(steps, beta_start, beta_end);
  }
  DRIFT_FAIL("make_beta_schedule: unknown schedule");
}

// ---- NoiseScheduler: the constants ---------------------------------------------------------

NoiseScheduler::NoiseScheduler(int64_t steps, double beta_start, double beta_end,
                               BetaSchedule schedule, Device device)
    : NoiseScheduler(make_beta_schedule(schedule, steps, beta_start, beta_end), device) {}

NoiseScheduler::NoiseScheduler(const Tensor& betas_in, Device device) : device_(device) {
  DRIFT_CHECK(betas_in.defined() && betas_in.ndim() == 1 && betas_in.numel() >= 2,
              "NoiseScheduler: betas must be a 1-D tensor of at least 2 values, got "
                  << (betas_in.defined() ? describe(betas_in) : std::string("undefined")));
  const std::vector<float> beta_floats = betas_in.to_vector();
  steps_ = static_cast<int64_t>(beta_floats.size());
  const size_t T = beta_floats.size();
  for (size_t t = 0; t < T; ++t)
    DRIFT_CHECK(
        beta_floats[t] > 0.0f && beta_floats[t] < 1.0f,
        "NoiseScheduler: every beta must lie in (0, 1); beta[" << t << "] = " << beta_floats[t]);

  // Each constant as a host vector in double precision, named like the member it becomes.
  std::vector<double> host_betas(beta_floats.begin(), beta_floats.end());
  struct {
    std::vector<double> alphas, alpha_bar, alpha_bar_prev, sqrt_recip_alphas, sqrt_alpha_bar,
        sqrt_one_minus_alpha_bar, posterior_variance, posterior_log_variance_clipped,
        posterior_mean_coef1, posterior_mean_coef2, sigma_posterior, sigma_beta;
  } host;
  for (auto* v : {&host.alphas, &host.alpha_bar, &host.alpha_bar_prev, &host.sqrt_recip_alphas,
                  &host.sqrt_alpha_bar, &host.sqrt_one_minus_alpha_bar, &host.posterior_variance,
                  &host.posterior_log_variance_clipped, &host.posterior_mean_coef1,
                  &host.posterior_mean_coef2, &host.sigma_posterior, &host.sigma_beta})
    v->resize(T);
  const std::vector<double>& beta = host_betas;
  for (size_t t = 0; t < T; ++t) {
    host.alphas[t] = 1.0 - beta[t];  // α_t = 1 - β_t
    host.alpha_bar[t] =
        (t == 0 ? 1.0 : host.alpha_bar[t - 1]) * host.alphas[t];    // ᾱ_t = Π_{s≤t} α_s
    host.alpha_bar_prev[t] = t == 0 ? 1.0 : host.alpha_bar[t - 1];  // ᾱ_{t-1}, ᾱ_{-1} = 1
    host.sqrt_recip_alphas[t] = std::sqrt(1.0 / host.alphas[t]);    // √(1/α_t)
    host.sqrt_alpha_bar[t] = std::sqrt(host.alpha_bar[t]);          // √ᾱ_t
    host.sqrt_one_minus_alpha_bar[t] = std::sqrt(1.0 - host.alpha_bar[t]);  // √(1-ᾱ_t)
    // The posterior q(x_{t-1} | x_t, x_0) = N(μ̃_t, β̃_t I), Ho et al. eqs. 6-7:
    //   β̃_t = β_t (1-ᾱ_{t-1}) / (1-ᾱ_t),   μ̃_t = coef1 · x_0 + coef2 · x_t
    const double one_minus_alpha_bar = 1.0 - host.alpha_bar[t];
    host.posterior_variance[t] = beta[t] * (1.0 - host.alpha_bar_prev[t]) / one_minus_alpha_bar;
    host.posterior_mean_coef1[t] =
        beta[t] * std::sqrt(host.alpha_bar_prev[t]) / one_minus_alpha_bar;
    host.posterior_mean_coef2[t] =
        (1.0 - host.alpha_bar_prev[t]) * std::sqrt(host.alphas[t]) / one_minus_alpha_bar;
  }
  for (size_t t = 0; t < T; ++t) {
    // β̃ is 0 at t = 0 (given x_1 and x_0, the previous picture is x_0 itself), and log 0 is
    // -inf, so the log is clipped to log β̃_1 there, as in the DDPM code.
    host.posterior_log_variance_clipped[t] =
        std::log(t == 0 ? host.posterior_variance[1] : host.posterior_variance[t]);
    // σ_t of the reverse step; σ_0 = 0 since the last step returns the mean (Algorithm 2).
    host.sigma_posterior[t] = t == 0 ? 0.0 : std::sqrt(host.posterior_variance[t]);
    host.sigma_beta[t] = t == 0 ? 0.0 : std::sqrt(beta[t]);
  }

  betas = to_tensor(host_betas, device);
  alphas = to_tensor(host.alphas, device);
  alpha_bar = to_tensor(host.alpha_bar, device);
  alpha_bar_prev = to_tensor(host.alpha_bar_prev, device);
  sqrt_recip_alphas = to_tensor(host.sqrt_recip_alphas, device);
  sqrt_alpha_bar = to_tensor(host.sqrt_alpha_bar, device);
  sqrt_one_minus_alpha_bar = to_tensor(host.sqrt_one_minus_alpha_bar, device);
  posterior_variance = to_tensor(host.posterior_variance, device);
  posterior_log_variance_clipped = to_tensor(host.posterior_log_variance_clipped, device);
  posterior_mean_coef1 = to_tensor(host.posterior_mean_coef1, device);
  posterior_mean_coef2 = to_tensor(host.posterior_mean_coef2, device);
  sigma_posterior_ = to_tensor(host.sigma_posterior, device);
  sigma_beta_ = to_tensor(host.sigma_beta, device);
}

std::vector<std::pair<std::string, Tensor>> NoiseScheduler::named_constants() const {
  return {{"betas", betas},
          {"alphas", alphas},
          {"alpha_bar", alpha_bar},
          {"alpha_bar_prev", alpha_bar_prev},
          {"sqrt_recip_alphas", sqrt_recip_alphas},
          {"sqrt_alpha_bar", sqrt_alpha_bar},
          {"sqrt_one_minus_alpha_bar", sqrt_one_minus_alpha_bar},
          {"posterior_variance", posterior_variance},
          {"posterior_log_variance_clipped", posterior_log_variance_clipped},
          {"posterior_mean_coef1", posterior_mean_coef1},
          {"posterior_mean_coef2", posterior_mean_coef2}};
}

void NoiseScheduler::to(Device device) {
  for (Tensor* constant :
       {&betas, &alphas, &alpha_bar, &alpha_bar_prev, &sqrt_recip_alphas, &sqrt_alpha_bar,
        &sqrt_one_minus_alpha_bar, &posterior_variance, &posterior_log_variance_clipped,
        &posterior_mean_coef1, &posterior_mean_coef2, &sigma_posterior_, &sigma_beta_})
    *constant = constant->to(device);
  device_ = device;
}

// ---- picking per-timestep values ----------------------------------------------------------

void NoiseScheduler::check_timesteps(const Tensor& t, const char* op) const {
  DRIFT_CHECK(t.defined(), op << ": the timestep tensor is undefined");
  DRIFT_CHECK(t.ndim() == 1 || (t.ndim() == 2 && t.size(1) == 1),
              op << ": timesteps must be shaped [B] or [B, 1], got " << describe(t));
  DRIFT_CHECK(t.device() == device_, op << ": timesteps are on " << t.device()
                                        << " but the scheduler's constants are on " << device_
                                        << " (call scheduler.to(device))");
}

Tensor NoiseScheduler::select(const Tensor& constant, const Tensor& t, int64_t ndim) const {
  check_timesteps(t, "NoiseScheduler::select");
  DRIFT_CHECK(constant.defined() && constant.ndim() == 1 && constant.numel() == steps_,
              "NoiseScheduler::select: expected a constant of length T = "
                  << steps_ << ", got " << (constant.defined() ? describe(constant) : "undefined"));
  DRIFT_CHECK(ndim >= 1, "NoiseScheduler::select: ndim must be >= 1, got " << ndim);
  Tensor flat_t = t.ndim() == 1 ? t : reshape(t, Shape{t.size(0)});
  // index_select checks every t is a whole number in [0, T) and names the bad one.
  Tensor values = index_select(constant, 0, flat_t);  // [B]
  std::vector<int64_t> dims(static_cast<size_t>(ndim), 1);
  dims[0] = flat_t.size(0);
  return reshape(values, Shape(dims));  // [B, 1, ..., 1]: broadcasts over each sample
}

Tensor NoiseScheduler::timesteps(int64_t batch, int64_t t) const {
  DRIFT_CHECK(batch >= 1, "NoiseScheduler::timesteps: batch must be >= 1, got " << batch);
  DRIFT_CHECK(t >= 0 && t < steps_,
              "NoiseScheduler::timesteps: t = " << t << " is outside [0, " << steps_ << ")");
  return full(Shape{batch}, static_cast<float>(t), device_);
}

Tensor NoiseScheduler::sample_timesteps(int64_t batch, Generator* generator) const {
  return randint(0, steps_, Shape{batch}, device_, generator);
}

// ---- the forward process ---------------------------------------------------------------------

Tensor NoiseScheduler::add_noise(const Tensor& x0, const Tensor& noise, const Tensor& t) const {
  DRIFT_CHECK(x0.defined() && noise.defined(), "NoiseScheduler::add_noise: undefined input");
  check_same_shape(x0, noise, "NoiseScheduler::add_noise (x0 and noise)");
  check_timesteps(t, "NoiseScheduler::add_noise");
  DRIFT_CHECK(
      x0.ndim() >= 1 && x0.size(0) == t.size(0),
      "NoiseScheduler::add_noise: " << t.size(0) << " timesteps for a batch of " << describe(x0));
  const int64_t ndim = x0.ndim();
  // x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε                                       (Ho et al. eq. 4)
  return select(sqrt_alpha_bar, t, ndim) * x0 + select(sqrt_one_minus_alpha_bar, t, ndim) * noise;
}

// ---- the posterior and the reverse-step noise ---------------------------------------------------

Tensor NoiseScheduler::predict_x0(const Tensor& x_t, const Tensor& eps_hat, const Tensor& t) const {
  check_same_shape(x_t, eps_hat, "NoiseScheduler::predict_x0 (x_t and eps_hat)");
  const int64_t ndim = x_t.ndim();
  // x̂_0 = (x_t - √(1-ᾱ_t) ε̂) / √ᾱ_t                                   (eq. 4 solved for x_0)
  return (x_t - select(sqrt_one_minus_alpha_bar, t, ndim) * eps_hat) /
         select(sqrt_alpha_bar, t, ndim);
}

Tensor NoiseScheduler::posterior_mean(const Tensor& x0, const Tensor& x_t, const Tensor& t) const {
  check_same_shape(x0, x_t, "NoiseScheduler::posterior_mean (x0 and x_t)");
  const int64_t ndim = x_t.ndim();
  // μ̃_t = β_t √ᾱ_{t-1} / (1-ᾱ_t) · x_0 + (1-ᾱ_{t-1}) √α_t / (1-ᾱ_t) · x_t  (Ho et al. eq. 7)
  return select(posterior_mean_coef1, t, ndim) * x0 + select(posterior_mean_coef2, t, ndim) * x_t;
}

Tensor NoiseScheduler::reverse_sigma(ReverseVariance variance) const {
  return variance == ReverseVariance::Posterior ? sigma_posterior_ : sigma_beta_;
}

}  // namespace diffusion
}  // namespace drift
