// oracle.h — the noise predictor that knows the answer, for experiments and tests.
//
// When the data is one picture x0, the noise in x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε is known exactly:
//   ε = (x_t − √ᾱ_t x0) / √(1-ᾱ_t)          (Ho et al. eq. 4 solved for ε)
// A sampler driven by this "model" makes every reverse step an exact draw from the posterior
// q(x_{t-1} | x_t, x0), and so ends exactly at x0: whatever goes wrong with a trained model is
// the model's fault, not the sampler's. Chapter 3 (a) and tests/test_models.cpp use it.
#pragma once

#include <utility>

#include "autograd/ops.h"
#include "diffusion/models/noise_predictor.h"
#include "diffusion/process/schedule.h"

namespace drift {
namespace diffusion {

class OracleNoisePredictor : public NoisePredictor {
 public:
  // `picture` [1, C, H, W] (or one per sample); keep `scheduler` alive while this is used.
  OracleNoisePredictor(Tensor picture, const NoiseScheduler& scheduler)
      : x0(std::move(picture)), scheduler_(scheduler) {}
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override {
    ++calls;
    return (x_t - scheduler_.select(scheduler_.sqrt_alpha_bar, t) * x0) /
           scheduler_.select(scheduler_.sqrt_one_minus_alpha_bar, t);
  }
  std::string describe() const override { return "OracleNoisePredictor (knows x0)"; }

  Tensor x0;
  int calls = 0;  // forward() calls so far

 private:
  const NoiseScheduler& scheduler_;
};

}  // namespace diffusion
}  // namespace drift
