// toy.cpp — the tutorial's toy noise predictor (see toy.h).
#include "diffusion/models/toy.h"

#include <sstream>

#include "autograd/ops.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

ToyModel::ToyModel(int64_t image_channels_, int64_t hidden_channels_, int64_t kernel_size_,
                   Generator* generator)
    : image_channels(image_channels_),
      hidden_channels(hidden_channels_),
      kernel_size(kernel_size_) {
  DRIFT_CHECK(image_channels >= 1 && hidden_channels >= 1,
              "ToyModel: channels must be >= 1, got image_channels = "
                  << image_channels << ", hidden_channels = " << hidden_channels);
  DRIFT_CHECK(kernel_size >= 1 && kernel_size % 2 == 1,
              "ToyModel: kernel_size must be odd (so padding keeps the size), got " << kernel_size);
  const int64_t padding = kernel_size / 2;
  // Registered in the tutorial's order: conv1, conv2, linear.
  conv1 = register_module(
      "conv1", std::make_shared<nn::Conv2d>(image_channels, hidden_channels, kernel_size, 1,
                                            padding, 1, true, generator));
  conv2 = register_module(
      "conv2", std::make_shared<nn::Conv2d>(hidden_channels, image_channels, kernel_size, 1,
                                            padding, 1, true, generator));
  linear =
      register_module("linear", std::make_shared<nn::Linear>(1, hidden_channels, true, generator));
}

Tensor ToyModel::forward(const Tensor& x_t, const Tensor& t) {
  DRIFT_CHECK(x_t.defined() && x_t.ndim() == 4 && x_t.size(1) == image_channels,
              "ToyModel: expected x_t shaped [B, "
                  << image_channels << ", H, W], got "
                  << (x_t.defined() ? drift::describe(x_t) : "undefined"));
  DRIFT_CHECK(t.defined() && t.numel() == x_t.size(0) && (t.ndim() == 1 || t.ndim() == 2),
              "ToyModel: expected " << x_t.size(0) << " timesteps shaped [B] or [B, 1], got "
                                    << (t.defined() ? drift::describe(t) : "undefined"));
  const int64_t batch = x_t.size(0);
  Tensor h = relu(conv1->forward(x_t));                          // [B, hidden, H, W]
  Tensor time_offset = linear->forward(reshape(t, {batch, 1}));  // [B, hidden]: t as a number
  h = h + reshape(time_offset, {batch, hidden_channels, 1, 1});  // the same offset at every pixel
  return conv2->forward(h);                                      // ε̂ [B, channels, H, W]
}

std::string ToyModel::describe() const {
  std::ostringstream os;
  os << "ToyModel(image_channels=" << image_channels << ", hidden_channels=" << hidden_channels
     << ", kernel_size=" << kernel_size << ")";
  return os.str();
}

}  // namespace diffusion
}  // namespace drift
