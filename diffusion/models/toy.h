// toy.h — the tutorial's toy noise predictor ε_θ(x_t, t) (chapters 2 and 3).
//
// Two 3x3 convolutions for the picture, and one Linear(1, hidden) that turns the timestep —
// the raw step index as a float, as the tutorial feeds it — into one number per hidden
// channel, added to every pixel of that channel:
//
//     h = ReLU(conv1(x_t))                       [B, hidden, H, W]
//     h = h + linear(t) viewed as [B, hidden, 1, 1]
//     ε̂ = conv2(h)                               [B, channels, H, W]
//
// It sees only a 5x5 neighbourhood of each pixel, so it can learn "how much of what I see is
// noise at step t" but not where it is in the picture: a lesson chapter 3 makes visible.
// Parameter names (conv1.weight, conv2.weight, linear.weight, ...) and their order are the
// tutorial's PyTorch module's, so its state dicts load 1:1.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "diffusion/models/noise_predictor.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

class ToyModel : public NoisePredictor {
 public:
  // The tutorial's model is ToyModel(3, 16): RGB pictures, 16 hidden channels. Weights are
  // drawn from `generator` (the global one when null) with PyTorch's default initialisation.
  // `kernel_size` (odd; padding keeps the size) sets how far each pixel sees: two k x k
  // convolutions see a (2k-1) x (2k-1) neighbourhood.
  explicit ToyModel(int64_t image_channels = 3, int64_t hidden_channels = 16,
                    int64_t kernel_size = 3, Generator* generator = nullptr);

  // x_t [B, image_channels, H, W] (any H, W), t [B] or [B, 1] timesteps (whole numbers as
  // float32)  ->  the predicted noise ε̂, shaped like x_t.
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override;
  std::string describe() const override;

  const int64_t image_channels, hidden_channels, kernel_size;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Linear> linear;  // t -> one offset per hidden channel
};

}  // namespace diffusion
}  // namespace drift
