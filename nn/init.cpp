#include "nn/init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/error.h"

namespace drift {
namespace nn {
namespace init {

namespace {

int64_t receptive_field(const Tensor& weight) {
  DRIFT_CHECK(weight.defined() && weight.ndim() >= 2,
              "init: fan in/out need a weight with at least 2 dims, got " << describe(weight));
  int64_t field = 1;
  for (int64_t d = 2; d < weight.ndim(); ++d) field *= weight.size(d);
  return field;
}

}  // namespace

int64_t fan_in(const Tensor& weight) { return weight.size(1) * receptive_field(weight); }
int64_t fan_out(const Tensor& weight) { return weight.size(0) * receptive_field(weight); }

Tensor uniform_(Tensor t, float low, float high, Generator* generator) {
  DRIFT_CHECK(t.defined(), "uniform_: the tensor is undefined");
  DRIFT_CHECK(low <= high, "uniform_: low " << low << " is larger than high " << high);
  NoGradGuard no_grad;
  t.copy_(rand(t.shape(), t.device(), generator) * (high - low) + low);
  return t;
}

Tensor normal_(Tensor t, float mean, float stddev, Generator* generator) {
  DRIFT_CHECK(t.defined(), "normal_: the tensor is undefined");
  DRIFT_CHECK(stddev >= 0.0f, "normal_: stddev must not be negative, got " << stddev);
  NoGradGuard no_grad;
  t.copy_(randn(t.shape(), t.device(), generator) * stddev + mean);
  return t;
}

Tensor zeros_(Tensor t) { return t.fill_(0.0f); }
Tensor ones_(Tensor t) { return t.fill_(1.0f); }

float leaky_relu_gain(float negative_slope) {
  return std::sqrt(2.0f / (1.0f + negative_slope * negative_slope));
}

Tensor kaiming_uniform_(Tensor t, float a, Generator* generator) {
  const int64_t fan = fan_in(t);
  DRIFT_CHECK(fan > 0, "kaiming_uniform_: fan_in of " << describe(t) << " is zero");
  const float bound = std::sqrt(3.0f) * leaky_relu_gain(a) / std::sqrt(static_cast<float>(fan));
  return uniform_(t, -bound, bound, generator);
}

}  // namespace init
}  // namespace nn
}  // namespace drift
