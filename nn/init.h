// init.h — parameter initialisation, as torch.nn.init.
//
// The layers of nn/layers.h initialise exactly like PyTorch's defaults (the same
// distributions, not the same numbers: drift draws from its own Philox generator):
//   Linear, Conv2d, ConvTranspose2d  weight  kaiming_uniform_(a = sqrt(5)) = U(-1/sqrt(fan_in), +1/sqrt(fan_in))
//                                    bias    U(-1/sqrt(fan_in), +1/sqrt(fan_in))
//   Embedding                        weight  N(0, 1)
//   GroupNorm, LayerNorm             weight  ones, bias zeros
// Every function writes into the tensor in place (outside the autograd graph) and returns the
// same handle; random ones draw from `generator`, or the global one (manual_seed) if null.
#pragma once

#include <cstdint>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace nn {
namespace init {

// torch.nn.init._calculate_fan_in_and_fan_out: for a weight of at least 2 dims,
// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field, where the
// receptive field is the product of the dims after the first two (kH * kW for a conv).
// Note this reads ConvTranspose2d's [in, out, kH, kW] weight as PyTorch does: its "fan_in"
// is out * kH * kW.
int64_t fan_in(const Tensor& weight);
int64_t fan_out(const Tensor& weight);

Tensor uniform_(Tensor t, float low, float high, Generator* generator = nullptr);  // U(low, high)
Tensor normal_(Tensor t, float mean = 0.0f, float stddev = 1.0f, Generator* generator = nullptr);
Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);

// The gain of leaky_relu with negative slope a, sqrt(2 / (1 + a^2)) (torch.nn.init.calculate_gain).
float leaky_relu_gain(float negative_slope);

// He et al. 2015 initialisation, fan_in mode: U(-bound, bound) with
//   bound = sqrt(3) * gain / sqrt(fan_in),  gain = leaky_relu_gain(a).
// With PyTorch's layer default a = sqrt(5): gain = sqrt(1/3), so bound = 1 / sqrt(fan_in).
Tensor kaiming_uniform_(Tensor t, float a = 0.0f, Generator* generator = nullptr);

}  // namespace init
}  // namespace nn
}  // namespace drift
