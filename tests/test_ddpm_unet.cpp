// test_ddpm_unet.cpp — diffusion/models/ddpm_unet.h, the DDPM-style U-Net: its
// architecture (shapes, parameter names and count), a gradient spot check by finite
// differences, and that a training step reaches a steady state with no new allocations.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "autograd/grad_mode.h"
#include "diffusion/models/ddpm_unet.h"
#include "nn/optim.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;
using diffusion::DDPMUNet;
using diffusion::DDPMUNetConfig;

namespace {

Tensor parameter(const nn::Module& model, const std::string& name) {
  for (const auto& [n, t] : model.named_parameters())
    if (n == name) return t;
  FAIL("no parameter " << name);
  return Tensor();
}

bool has_parameter(const nn::Module& model, const std::string& name) {
  for (const auto& entry : model.named_parameters())
    if (entry.first == name) return true;
  return false;
}

// Parameters of DDPMResBlock(c_in, c_out) with time embedding width d (see unet.h).
int64_t resblock_parameters(int64_t c_in, int64_t c_out, int64_t d) {
  int64_t n = 2 * c_in + (9 * c_in * c_out + c_out) + (d * c_out + c_out) + 2 * c_out +
              (9 * c_out * c_out + c_out);
  if (c_in != c_out) n += c_in * c_out + c_out;
  return n;
}

}  // namespace

TEST_CASE("DDPMUNet: the architecture, parameter count and names") {
  manual_seed(1);
  DDPMUNet model;
  // Counted by hand from unet.h's diagram (16/32/64, two blocks per level, d = 64).
  const int64_t d = 64;
  int64_t expected = (16 * d + d) + (d * d + d)  // time MLP
                     + (9 * 1 * 16 + 16)         // conv_in
                     + resblock_parameters(16, 16, d) * 2 + (9 * 16 * 16 + 16)   // down.0
                     + resblock_parameters(16, 32, d) + resblock_parameters(32, 32, d) +
                     (9 * 32 * 32 + 32)                                          // down.1
                     + resblock_parameters(32, 64, d) + resblock_parameters(64, 64, d)  // down.2
                     + resblock_parameters(128, 64, d) * 2 + (9 * 64 * 32 + 32)  // up.0
                     + resblock_parameters(64, 32, d) * 2 + (9 * 32 * 16 + 16)   // up.1
                     + resblock_parameters(32, 16, d) * 2                        // up.2
                     + 2 * 16 + (9 * 16 * 1 + 1);                                // out
  CHECK(expected == 557585);
  CHECK(model.num_parameters() == expected);
  // PyTorch's names (bench/torch_reference.py builds the same module).
  for (const char* name : {"time_mlp.0.weight", "time_mlp.2.bias", "conv_in.weight",
                           "down.0.blocks.1.norm2.weight", "down.0.downsample.weight",
                           "down.1.blocks.0.shortcut.weight", "down.2.blocks.1.conv2.bias",
                           "up.0.blocks.0.conv1.weight", "up.0.upsample_conv.weight",
                           "up.2.blocks.1.time_proj.weight", "norm_out.bias", "conv_out.weight"})
    CHECK_MESSAGE(has_parameter(model, name), name);
  CHECK_FALSE(has_parameter(model, "down.0.blocks.0.shortcut.weight"));  // 16 -> 16: identity
  CHECK_FALSE(has_parameter(model, "down.2.downsample.weight"));         // the bottom level
  CHECK_FALSE(has_parameter(model, "up.2.upsample_conv.weight"));        // the top level
  CHECK(parameter(model, "up.0.blocks.0.conv1.weight").shape() == Shape{64, 128, 3, 3});
  CHECK(parameter(model, "up.1.upsample_conv.weight").shape() == Shape{16, 32, 3, 3});
}

TEST_CASE("DDPMUNet: output shaped like the input, for other configs too; t matters") {
  manual_seed(2);
  {
    DDPMUNet model;
    Tensor x = randn({2, 1, 28, 28});
    Tensor y = model.forward(x, from_vector({3.0f, 700.0f}, Shape{2}));
    CHECK(y.shape() == x.shape());
    // The same picture at two timesteps gives two different predictions.
    NoGradGuard no_grad;
    Tensor y2 = model.forward(cat({x, x}, 0), from_vector({1.0f, 1.0f, 1.0f, 500.0f}, Shape{4}));
    std::vector<float> v = y2.to_vector();
    const size_t image = 28 * 28;
    double same = 0.0, different = 0.0;
    for (size_t i = 0; i < image; ++i) {
      same += std::fabs(v[i] - v[2 * image + i]);           // image 0 vs image 2, both t = 1
      different += std::fabs(v[image + i] - v[3 * image + i]);  // image 1: t = 1 vs t = 500
    }
    CHECK(same < 1e-3);
    CHECK(different > 1e-2);
  }
  {
    DDPMUNetConfig config;
    config.image_channels = 3;
    config.channels = {8, 16};
    config.blocks_per_level = 1;
    config.time_embedding_dim = 32;
    config.groups = 4;
    DDPMUNet model(config);
    Tensor x = randn({3, 3, 10, 6});
    CHECK(model.forward(x, from_vector({0.0f, 5.0f, 9.0f}, Shape{3, 1})).shape() == x.shape());
  }
}

TEST_CASE("DDPMUNet: errors name the problem") {
  DDPMUNet model;
  CHECK_THROWS_WITH_AS(model.forward(randn({2, 1, 30, 28}), zeros({2})),
                       doctest::Contains("divisible by 4"), Error);
  CHECK_THROWS_WITH_AS(model.forward(randn({2, 3, 28, 28}), zeros({2})),
                       doctest::Contains("expected x_t [B, 1, H, W]"), Error);
  CHECK_THROWS_WITH_AS(model.forward(randn({2, 1, 28, 28}), zeros({3})),
                       doctest::Contains("expected 2 timesteps"), Error);
  DDPMUNetConfig bad;
  bad.channels = {16, 20};
  CHECK_THROWS_WITH_AS(DDPMUNet{bad}, doctest::Contains("multiple of groups"), Error);
}

TEST_CASE("DDPMUNet: gradients of a few parameters agree with finite differences") {
  // L = sum(DDPMUNet(x, t) * w) with fixed weights w; dL/dp from backward against
  // (L(p + eps) - L(p - eps)) / (2 eps) for one element of parameters from every part of the
  // network (time MLP, first conv, a shortcut, a down and an up block, upsampling, output).
  manual_seed(3);
  DDPMUNet model;
  Tensor x = randn({2, 1, 8, 8}), t = from_vector({10.0f, 400.0f}, Shape{2});
  Tensor w = randn({2, 1, 8, 8});
  auto loss = [&]() { return sum(model.forward(x, t) * w); };
  model.zero_grad();
  loss().backward();
  const std::vector<std::pair<std::string, int64_t>> spots = {
      {"time_mlp.0.weight", 37},           {"conv_in.weight", 4},
      {"down.0.blocks.1.conv2.weight", 100}, {"down.1.blocks.0.shortcut.weight", 7},
      {"down.2.blocks.0.norm1.weight", 3},  {"up.0.blocks.1.conv1.weight", 2000},
      {"up.0.blocks.0.time_proj.bias", 5},  {"up.1.upsample_conv.weight", 11},
      {"up.2.blocks.1.norm2.bias", 6},      {"conv_out.bias", 0}};
  for (const auto& [name, index] : spots) {
    CAPTURE(name);
    Tensor p = parameter(model, name);
    const float analytic = p.grad().to_vector()[static_cast<size_t>(index)];
    const float eps = 1e-2f;
    std::vector<float> values = p.to_vector();
    const float original = values[static_cast<size_t>(index)];
    double side[2];
    for (int s = 0; s < 2; ++s) {
      values[static_cast<size_t>(index)] = original + (s == 0 ? eps : -eps);
      p.copy_(from_vector(values, p.shape()));
      NoGradGuard no_grad;
      side[s] = loss().item();
    }
    values[static_cast<size_t>(index)] = original;
    p.copy_(from_vector(values, p.shape()));
    const double numeric = (side[0] - side[1]) / (2.0 * eps);
    INFO("analytic " << analytic << ", numeric " << numeric);
    CHECK(std::fabs(analytic - numeric) <= 2e-3 + 3e-2 * std::fabs(numeric));
  }
}

TEST_CASE("DDPMUNet training step: no new allocations once warmed up") {
  // The caching allocator serves every tensor of a step from blocks freed by the step
  // before; after two warm-up steps (the first creates Adam's moments and the gradients), a
  // step must not ask the system for memory.
  manual_seed(4);
  DDPMUNetConfig config;
  config.channels = {8, 16};
  config.groups = 4;
  DDPMUNet model(config);
  nn::Adam optimizer(model.parameters(), 1e-3);
  Tensor x = randn({4, 1, 8, 8}), t = randint(0, 1000, {4}), noise = randn({4, 1, 8, 8});
  auto step = [&] {
    optimizer.zero_grad();
    Tensor loss = mse_loss(model.forward(x, t), noise);
    loss.backward();
    optimizer.step();
  };
  step();
  step();
  const CpuAllocatorStats before = cpu_allocator_stats();
  step();
  step();
  const CpuAllocatorStats after = cpu_allocator_stats();
  CHECK(after.system_allocations == before.system_allocations);
  CHECK(after.cache_hits > before.cache_hits);
}
