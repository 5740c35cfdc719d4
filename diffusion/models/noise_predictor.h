// noise_predictor.h — what every diffusion model of the chapters is: a network ε_θ(x_t, t)
// that looks at a noisy picture x_t and its timestep t and predicts the noise ε in it.
//
// The training objective and the sampler (diffusion/objectives/ddpm_loss.h) are written once against this
// interface, so the toy model of chapter 2 and the U-Nets of later chapters share them.
#pragma once

#include "nn/module.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

class NoisePredictor : public nn::Module {
 public:
  // x_t [B, C, H, W] and t [B] (whole numbers in [0, T) as float32)  ->  ε̂, shaped like x_t.
  virtual Tensor forward(const Tensor& x_t, const Tensor& t) = 0;
  // The one-input forward of nn::Module is not used by noise predictors (it throws).
  using nn::Module::forward;
};

}  // namespace diffusion
}  // namespace drift
