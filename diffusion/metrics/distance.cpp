// distance.cpp — see distance.h.
#include "diffusion/metrics/distance.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "diffusion/tools/image.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

std::string PictureDistance::describe() const {
  char text[200];
  std::snprintf(text, sizeof text,
                "distance to the training picture (RMS, pixels in [0, 1]): mean %.3f, worst "
                "%.3f; %lld of %lld samples within %.2f",
                mean, worst, static_cast<long long>(within), static_cast<long long>(count),
                tolerance);
  return text;
}

PictureDistance distance_to_picture(const Tensor& samples, const Tensor& picture,
                                    double tolerance) {
  DRIFT_CHECK(samples.ndim() == 4 && picture.ndim() == 4 && picture.size(0) == 1 &&
                  samples.numel() / samples.size(0) == picture.numel(),
              "distance_to_picture: expected samples [N, C, H, W] and one picture [1, C, H, W], "
              "got "
                  << describe(samples) << " and " << describe(picture));
  const std::vector<float> a = unnormalize_to_zero_to_one(samples).to_vector();
  const std::vector<float> b = unnormalize_to_zero_to_one(picture).to_vector();
  PictureDistance d;
  d.count = samples.size(0);
  d.tolerance = tolerance;
  const size_t per = b.size();
  for (int64_t i = 0; i < d.count; ++i) {
    double sq = 0;
    for (size_t j = 0; j < per; ++j) {
      const double diff = a[static_cast<size_t>(i) * per + j] - b[j];
      sq += diff * diff;
    }
    const double rms = std::sqrt(sq / static_cast<double>(per));
    d.within += rms <= tolerance;
    d.worst = std::max(d.worst, rms);
    d.mean += rms / static_cast<double>(d.count);
  }
  return d;
}

}  // namespace diffusion
}  // namespace drift
