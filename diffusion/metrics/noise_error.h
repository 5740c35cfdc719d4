// noise_error.h — where in the picture a noise predictor is wrong: its squared error in ε̂ at
// each pixel, on the training distribution of the one picture it was overfitted to.
//
// Chapter 3 (c) uses it to explain a stray pixel: a 3x3 convolution at a corner sees zero
// padding in 5 of its 9 taps, at every layer, so ε̂ is worst there, and an error in ε̂ at
// large t is carried all the way down to x_0.
#pragma once

#include <cstdint>
#include <string>

#include "diffusion/models/noise_predictor.h"
#include "diffusion/process/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// mean over draws, channels and t = 0, every, 2 every, ... of (ε̂_θ(x_t, t) − ε)², with
// x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε (the training objective, pixel by pixel): [H, W] on the CPU.
Tensor noise_error_by_pixel(NoisePredictor& model, const NoiseScheduler& scheduler,
                            const Tensor& x0, int64_t draws, int64_t every, Generator* generator);

// The map's mean over the 4 corner pixels, the other border pixels, and the inside.
struct BorderSplit {
  double corners = 0, edges = 0, inside = 0;
  // "squared error of eps_hat: corners 0.120, edges 0.057, inside 0.045"
  std::string describe() const;
};
BorderSplit split_by_border(const Tensor& map);

}  // namespace diffusion
}  // namespace drift
