// parameterisation.h — what the network is asked to predict, and the identities that turn
// one answer into another.
//
// A noisy picture is x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (Ho et al. 2020, eq. 4). Given x_t, knowing
// any one of these determines the others, so a network can be trained to output any of them:
//
//   eps   ε, the noise (Ho et al.: the default since DDPM)
//   x0    x_0, the clean picture
//   v     v = √ᾱ_t ε − √(1−ᾱ_t) x_0 (Salimans & Ho 2022, "progressive distillation", sec. 4)
//   mean  μ̃_t, the mean of the reverse step q(x_{t−1} | x_t, x_0) (Ho et al. eq. 7; the
//         parameterisation their section 3.2 compares against, and finds worse)
//
// Write a = √ᾱ_t and s = √(1−ᾱ_t) (a² + s² = 1). The identities, each one line below:
//
//   x_0 = (x_t − s ε) / a              ε = (x_t − a x_0) / s                 (eq. 4 solved)
//   v   = a ε − s x_0                  x_0 = a x_t − s v      ε = s x_t + a v
//   μ̃   = (x_t − β_t/s · ε) / √α_t     ε = (x_t − √α_t μ̃) · s / β_t          (eq. 11 solved)
//   score ∇ log q(x_t | x_0) = −ε / s                                     (the score view)
//
// The samplers are written for ε̂. `EpsFromPrediction` wraps a network trained on any target
// so that its forward returns ε̂; the samplers need no change:
//
//   Tensor loss = diffusion_loss(model, scheduler, x0, Prediction::V);   // training
//   EpsFromPrediction eps_model(model, scheduler, Prediction::V);        // sampling
//   Tensor x = DDIMSampler(scheduler).sample(eps_model, {64, 1, 28, 28}, 50);
//
// Timesteps t are [B] tensors of whole numbers, one per sample, as everywhere in drift.
#pragma once

#include <string>

#include "diffusion/models/noise_predictor.h"
#include "diffusion/process/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

enum class Prediction { Eps, X0, V, Mean };

const char* prediction_name(Prediction prediction);  // "eps", "x0", "v", "mean"
// Parses "eps", "x0", "v" or "mean"; throws naming the valid choices.
Prediction parse_prediction(const std::string& name);

// ---- the identities (a = √ᾱ_t, s = √(1−ᾱ_t), per sample) ------------------------------------
Tensor x0_from_eps(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& eps,
                   const Tensor& t);  // (x_t − s ε) / a
Tensor eps_from_x0(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& x0,
                   const Tensor& t);  // (x_t − a x_0) / s
Tensor v_from_x0_eps(const NoiseScheduler& sch, const Tensor& x0, const Tensor& eps,
                     const Tensor& t);  // a ε − s x_0
Tensor x0_from_v(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& v,
                 const Tensor& t);  // a x_t − s v
Tensor eps_from_v(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& v,
                  const Tensor& t);  // s x_t + a v
Tensor eps_from_mean(const NoiseScheduler& sch, const Tensor& x_t, const Tensor& mean,
                     const Tensor& t);  // (x_t − √α_t μ̃) s / β_t
Tensor score_from_eps(const NoiseScheduler& sch, const Tensor& eps,
                      const Tensor& t);  // −ε / s

// What a network of the given parameterisation should output for the sample x_t made from
// x0 and ε at timesteps t: ε, x_0, v, or the posterior mean μ̃_t(x_t, x_0).
Tensor prediction_target(const NoiseScheduler& sch, Prediction prediction, const Tensor& x0,
                         const Tensor& eps, const Tensor& x_t, const Tensor& t);

// The network's output, read in its parameterisation, as ε̂ (what the samplers take).
Tensor eps_from_prediction(const NoiseScheduler& sch, Prediction prediction, const Tensor& output,
                           const Tensor& x_t, const Tensor& t);

// Algorithm 1 with any target: ε ~ N(0, I), t ~ U{0..T−1}, x_t by eq. 4, and the mean squared
// error between the network's output and prediction_target(...). With Prediction::Eps it is
// ddpm_loss exactly (the same draws in the same order). The other targets weight the
// timesteps differently: ‖x̂_0 − x_0‖² = (s/a)² ‖ε̂ − ε‖², large at high noise.
Tensor diffusion_loss(NoisePredictor& model, const NoiseScheduler& scheduler, const Tensor& x0,
                      Prediction prediction, Generator* generator = nullptr);

// A network trained to predict `prediction`, seen as a noise predictor: forward(x_t, t)
// returns ε̂. Holds references (keep the model and the scheduler alive); owns no parameters.
class EpsFromPrediction : public NoisePredictor {
 public:
  EpsFromPrediction(NoisePredictor& model, const NoiseScheduler& scheduler, Prediction prediction)
      : model_(model), scheduler_(scheduler), prediction_(prediction) {}
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override {
    return eps_from_prediction(scheduler_, prediction_, model_.forward(x_t, t), x_t, t);
  }
  std::string describe() const override;

 private:
  NoisePredictor& model_;
  const NoiseScheduler& scheduler_;
  Prediction prediction_;
};

}  // namespace diffusion
}  // namespace drift
