// parameterisation.cpp — the four prediction targets and their identities (see
// parameterisation.h). a = √ᾱ_t, s = √(1−ᾱ_t), picked per sample by NoiseScheduler::select.
#include "diffusion/objectives/parameterisation.h"

#include "autograd/ops.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

namespace {

constexpr Prediction kAllPredictions[] = {Prediction::Eps, Prediction::X0, Prediction::V,
                                          Prediction::Mean};

// The per-sample constant, shaped to broadcast against x (x's number of dimensions).
Tensor pick(const NoiseScheduler& sch, const Tensor& constant, const Tensor& t, const Tensor& x) {
  return sch.select(constant, t, x.ndim());
}

}  // namespace

const char* prediction_name(Prediction prediction) {
  switch (prediction) {
    case Prediction::Eps:
      return "eps";
    case Prediction::X0:
      return "x0";
    case Prediction::V:
      return "v";
    case Prediction::Mean:
      return "mean";
  }
  return "?";
}

Prediction parse_prediction(const std::string& name) {
  for (Prediction p : kAllPredictions)
    if (name == prediction_name(p)) return p;
  DRIFT_FAIL("prediction: unknown target '" << name << "' (expected eps, x0, v or mean)");
}

Tensor x0_from_eps(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& eps,
                   const Tensor& t) {
  return sch.predict_x0(x_t, eps, t);  // x_0 = (x_t − s ε) / a        (eq. 4 solved for x_0)
}

Tensor eps_from_x0(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& x0,
                   const Tensor& t) {
  // ε = (x_t − a x_0) / s                                                 (eq. 4 solved for ε)
  return (x_t - pick(sch, sch.sqrt_alpha_bar, t, x_t) * x0) /
         pick(sch, sch.sqrt_one_minus_alpha_bar, t, x_t);
}

Tensor v_from_x0_eps(const NoiseScheduler& sch, const Tensor& x0, const Tensor& eps,
                     const Tensor& t) {
  // v = a ε − s x_0                                                  (Salimans & Ho 2022, sec. 4)
  return pick(sch, sch.sqrt_alpha_bar, t, x0) * eps -
         pick(sch, sch.sqrt_one_minus_alpha_bar, t, x0) * x0;
}

Tensor x0_from_v(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& v, const Tensor& t) {
  // x_0 = a x_t − s v   (a x_t = a² x_0 + a s ε and s v = a s ε − s² x_0; a² + s² = 1)
  return pick(sch, sch.sqrt_alpha_bar, t, x_t) * x_t -
         pick(sch, sch.sqrt_one_minus_alpha_bar, t, x_t) * v;
}

Tensor eps_from_v(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& v, const Tensor& t) {
  // ε = s x_t + a v     (s x_t = a s x_0 + s² ε and a v = a² ε − a s x_0)
  return pick(sch, sch.sqrt_one_minus_alpha_bar, t, x_t) * x_t +
         pick(sch, sch.sqrt_alpha_bar, t, x_t) * v;
}

Tensor eps_from_mean(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& mean,
                     const Tensor& t) {
  // μ̃ = (x_t − β_t/s · ε) / √α_t (eq. 11) solved for ε: ε = (x_t − √α_t μ̃) · s / β_t.
  // At t = 0, s/β_t = 1/√β_0 (100 for β_0 = 1e-4): an error in μ̃ comes back 100x larger in ε.
  Tensor sqrt_alpha = 1.0f / pick(sch, sch.sqrt_recip_alphas, t, x_t);
  return (x_t - sqrt_alpha * mean) * pick(sch, sch.sqrt_one_minus_alpha_bar, t, x_t) /
         pick(sch, sch.betas, t, x_t);
}

Tensor score_from_eps(const NoiseScheduler& sch, const Tensor& eps, const Tensor& t) {
  // ∇_x log q(x_t | x_0) = −(x_t − a x_0) / s² = −ε / s: the noise, pointing away from the data
  return -eps / pick(sch, sch.sqrt_one_minus_alpha_bar, t, eps);
}

Tensor prediction_target(const NoiseScheduler& sch, Prediction prediction, const Tensor& x0,
                         const Tensor& eps, const Tensor& x_t, const Tensor& t) {
  switch (prediction) {
    case Prediction::Eps:
      return eps;
    case Prediction::X0:
      return x0;
    case Prediction::V:
      return v_from_x0_eps(sch, x0, eps, t);
    case Prediction::Mean:
      return sch.posterior_mean(x0, x_t, t);  // μ̃_t(x_t, x_0), eq. 7
  }
  DRIFT_FAIL("prediction_target: unknown prediction");
}

Tensor eps_from_prediction(const NoiseScheduler& sch, Prediction prediction, const Tensor& output,
                           const Tensor& x_t, const Tensor& t) {
  check_same_shape(output, x_t, "eps_from_prediction (the network's output and x_t)");
  switch (prediction) {
    case Prediction::Eps:
      return output;
    case Prediction::X0:
      return eps_from_x0(sch, x_t, output, t);
    case Prediction::V:
      return eps_from_v(sch, x_t, output, t);
    case Prediction::Mean:
      return eps_from_mean(sch, x_t, output, t);
  }
  DRIFT_FAIL("eps_from_prediction: unknown prediction");
}

Tensor diffusion_loss(NoisePredictor& model, const NoiseScheduler& scheduler, const Tensor& x0,
                      Prediction prediction, Generator* generator) {
  DRIFT_CHECK(x0.defined() && x0.ndim() >= 2,
              "diffusion_loss: expected a batch of clean samples [B, ...], got "
                  << (x0.defined() ? describe(x0) : "undefined"));
  Tensor noise = randn(x0.shape(), x0.device(), generator);      // ε ~ N(0, I), drawn first
  Tensor t = scheduler.sample_timesteps(x0.size(0), generator);  // t ~ U{0, ..., T-1}
  Tensor x_t = scheduler.add_noise(x0, noise, t);                // √ᾱ_t x0 + √(1-ᾱ_t) ε
  Tensor target = prediction_target(scheduler, prediction, x0, noise, x_t, t);
  return mse_loss(model.forward(x_t, t), target);  // ‖target − f_θ(x_t, t)‖² / n
}

std::string EpsFromPrediction::describe() const {
  return std::string("EpsFromPrediction(") + prediction_name(prediction_) + ", " +
         model_.describe() + ")";
}

}  // namespace diffusion
}  // namespace drift
