// distance.h — how close samples are to the one picture a model was overfitted to.
//
// With one training picture the best possible model reproduces it, so the distance of each
// sample to that picture measures how well training and sampling worked (chapter 3 (b), (c)).
// Later metrics (FID) live beside this file.
#pragma once

#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

struct PictureDistance {
  double mean = 0, worst = 0;  // RMS distance per sample, pixels in [0, 1]: mean and largest
  int64_t within = 0, count = 0;  // how many of `count` samples are within `tolerance`
  double tolerance = 0;
  // "distance to the training picture (RMS, pixels in [0, 1]): mean 0.05, worst 0.09; 16 of
  // 16 samples within 0.10"
  std::string describe() const;
};

// samples [N, C, H, W] and picture [1, C, H, W] in model range [-1, 1]; both are mapped to
// [0, 1] and clamped first (what a PNG would show), then compared pixel by pixel.
PictureDistance distance_to_picture(const Tensor& samples, const Tensor& picture,
                                    double tolerance = 0.1);

}  // namespace diffusion
}  // namespace drift
