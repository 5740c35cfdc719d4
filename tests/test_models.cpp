// test_models.cpp — the diffusion models and DDPM's two algorithms: the toy model against
// PyTorch, the tiny U-Net's shapes, parameter count and gradients (finite differences), the
// training objective against its definition, and the sampler against an oracle that knows
// the answer.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/objectives/ddpm_loss.h"
#include "diffusion/samplers/ddpm.h"
#include "diffusion/models/oracle.h"
#include "diffusion/models/tiny_unet.h"
#include "diffusion/models/toy.h"
#include "diffusion/process/schedule.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

int64_t conv_params(int64_t in, int64_t out, int64_t k) {
  return out * in * k * k + out;
}
int64_t linear_params(int64_t in, int64_t out) {
  return out * in + out;
}

// L(θ) = Σ w · model(x, t) for fixed random weights w, in double.
double weighted_output(NoisePredictor& model, const Tensor& x, const Tensor& t,
                       const std::vector<float>& w) {
  NoGradGuard no_grad;
  std::vector<float> y = model.forward(x, t).to_vector();
  double total = 0;
  for (size_t i = 0; i < y.size(); ++i) total += static_cast<double>(y[i]) * w[i];
  return total;
}

// A finite-difference check of the gradient of L along one random direction d per tensor
// (the input and every parameter): (L(θ + h d) − L(θ − h d)) / 2h must match ∇L · d, with
// |d| = 1 and h = 1e-3. One direction per tensor instead of one per element keeps it fast.
// ReLU and max-pool are not smooth: a step that crosses a kink (a ReLU input passing 0, a
// max-pool window changing its winner) measures another slope than backward computes, so
// the inputs must keep every kink farther away than the step moves it. The U-Net test uses
// parameters chosen for that by tests/fixtures/gen_models.py (margin 0.002); h much smaller
// than 1e-3 drowns the difference in float32 rounding.
void check_directional_gradients(NoisePredictor& model, const Tensor& x_in, const Tensor& t) {
  Tensor x = x_in.clone().set_requires_grad(true);
  Generator gen(99);
  Tensor y = model.forward(x, t);
  const std::vector<float> w = randn(y.shape(), Device::cpu(), &gen).to_vector();
  model.zero_grad();
  y.backward(from_vector(w, y.shape()));

  std::vector<std::pair<std::string, Tensor>> targets = {{"input x_t", x}};
  for (const auto& named : model.named_parameters()) targets.push_back(named);
  int checked = 0;
  for (auto& [name, tensor] : targets) {
    INFO("tensor: " << name << " " << tensor.shape());
    REQUIRE(tensor.grad().defined());
    const std::vector<float> grad = tensor.grad().to_vector();
    const std::vector<float> original = tensor.to_vector();
    std::vector<float> direction = randn(tensor.shape(), Device::cpu(), &gen).to_vector();
    double norm = 0, analytic = 0;
    for (float d : direction) norm += static_cast<double>(d) * d;
    norm = std::sqrt(norm);
    for (size_t i = 0; i < direction.size(); ++i) {
      direction[i] = static_cast<float>(direction[i] / norm);  // a unit direction
      analytic += static_cast<double>(grad[i]) * direction[i];
    }
    const double h = 1e-3;
    auto shifted = [&](double by) {
      std::vector<float> values(original.size());
      for (size_t i = 0; i < values.size(); ++i)
        values[i] = static_cast<float>(original[i] + by * direction[i]);
      tensor.copy_(from_vector(values, tensor.shape()));
      return weighted_output(model, x, t, w);
    };
    const double numeric = (shifted(h) - shifted(-h)) / (2 * h);
    tensor.copy_(from_vector(original, tensor.shape()));
    INFO("analytic " << analytic << ", numeric " << numeric);
    CHECK(std::fabs(analytic - numeric) <= 2e-3 + 2e-2 * std::fabs(numeric));
    ++checked;
  }
  CHECK(checked == static_cast<int>(model.named_parameters().size()) + 1);
}

// The noise predictor that knows the answer: diffusion/models/oracle.h.
using OraclePredictor = OracleNoisePredictor;

// Records what the last forward() was given, and predicts zero noise.
struct RecordingPredictor : NoisePredictor {
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override {
    seen_x = x_t.clone();
    seen_t = t.clone();
    return zeros_like(x_t) + 0.0f * sum(weight);  // depends on a parameter: a graph to backprop
  }
  RecordingPredictor() { weight = register_parameter("weight", ones({1})); }
  Tensor weight, seen_x, seen_t;
};

}  // namespace

// ---- the toy model ------------------------------------------------------------------------------

TEST_CASE("toy model: shapes, parameter count and names (the tutorial's module)") {
  manual_seed(1);
  ToyModel model;  // 3 channels, 16 hidden, 3x3
  CHECK(model.num_parameters() ==
        conv_params(3, 16, 3) + conv_params(16, 3, 3) + linear_params(1, 16));
  CHECK(model.num_parameters() == 915);
  std::vector<std::string> names;
  for (const auto& [name, p] : model.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"conv1.weight", "conv1.bias", "conv2.weight",
                                          "conv2.bias", "linear.weight", "linear.bias"});
  Tensor x = randn({2, 3, 10, 6});
  CHECK(model.forward(x, from_vector({0, 23})).shape() == Shape{2, 3, 10, 6});
  CHECK(model.forward(x, from_vector({0, 23}, Shape{2, 1})).shape() == Shape{2, 3, 10, 6});

  ToyModel grey(1, 8, 5);  // chapter 3 (b): one channel, 5x5 kernels
  CHECK(grey.num_parameters() == conv_params(1, 8, 5) + conv_params(8, 1, 5) + linear_params(1, 8));
  CHECK(grey.forward(randn({3, 1, 8, 8}), from_vector({1, 2, 3})).shape() == Shape{3, 1, 8, 8});

  CHECK_THROWS_WITH_AS(model.forward(randn({2, 1, 8, 8}), from_vector({0, 1})),
                       doctest::Contains("expected x_t shaped [B, 3, H, W]"), Error);
  CHECK_THROWS_WITH_AS(model.forward(x, from_vector({0, 1, 2})),
                       doctest::Contains("expected 2 timesteps"), Error);
  CHECK_THROWS_WITH_AS(ToyModel(3, 16, 4), doctest::Contains("kernel_size must be odd"), Error);
}

TEST_CASE("toy model: the timestep is fed as a number, one offset per hidden channel") {
  manual_seed(2);
  ToyModel model(3, 4);
  Tensor x = randn({1, 3, 6, 6});
  // With conv2 replaced by a sum over the hidden channels at the centre tap, the output moves
  // with t exactly as linear(t) does: linear.weight · Δt summed over channels (no ReLU after).
  NoGradGuard no_grad;
  Tensor y0 = model.forward(x, from_vector({0.0f}));
  Tensor y5 = model.forward(x, from_vector({5.0f}));
  // Δy at an interior pixel = Σ_c Σ_taps conv2.weight[o, c, :, :] · (5 · linear.weight[c]).
  const std::vector<float> w2 = model.conv2->weight.to_vector();   // [3, 4, 3, 3]
  const std::vector<float> wl = model.linear->weight.to_vector();  // [4, 1]
  for (int64_t o = 0; o < 3; ++o) {
    double expected = 0;
    for (int64_t c = 0; c < 4; ++c)
      for (int64_t k = 0; k < 9; ++k)
        expected += w2[static_cast<size_t>((o * 4 + c) * 9 + k)] * 5.0 * wl[static_cast<size_t>(c)];
    CHECK(y5.at({0, o, 2, 3}) - y0.at({0, o, 2, 3}) == doctest::Approx(expected).epsilon(1e-4));
  }
}

TEST_CASE("toy model matches PyTorch: the loss and every parameter's gradient") {
  const SafetensorsData& f = test::fixture("nn");  // tests/fixtures/gen_nn.py, toy_case
  ToyModel model;
  nn::NamedTensors state;
  for (const auto& [key, tensor] : f.tensors)
    if (key.rfind("toy.param.", 0) == 0) state.emplace_back(key.substr(10), tensor);
  model.load_state_dict(state, "nn.safetensors:toy");  // PyTorch's names load 1:1
  Tensor loss = mse_loss(model.forward(f.at("toy.x"), f.at("toy.t")), f.at("toy.noise"));
  CHECK_CLOSE(loss, f.at("toy.loss"), 1e-6, 1e-5);
  loss.backward();
  for (const auto& [name, param] : model.named_parameters()) {
    INFO("gradient of " << name);
    CHECK_CLOSE(param.grad(), f.at("toy.grad." + name), 1e-6, 1e-4);
  }
}

TEST_CASE("toy model: gradients of the input and every parameter (finite differences)") {
  manual_seed(3);
  ToyModel model(2, 5);
  check_directional_gradients(model, randn({2, 2, 6, 5}), from_vector({3, 11}));
}

// ---- the tiny U-Net -----------------------------------------------------------------------------

TEST_CASE("tiny U-Net: shapes, parameter count, names and the size check") {
  manual_seed(4);
  TinyUNet unet;  // RGB, T = 1000, time_dim 16, channels 16/32/64
  const int64_t time_dim = 16;
  auto block = [&](int64_t in, int64_t out) {
    return conv_params(in, out, 3) + linear_params(time_dim, out) + conv_params(out, out, 3);
  };
  const int64_t expected = 1000 * time_dim                                    // time embedding
                           + block(3, 16) + block(16, 32)                     // down
                           + block(32, 64)                                    // middle
                           + conv_params(32, 16, 2) + conv_params(64, 32, 2)  // ConvTranspose
                           + block(32, 16) + block(64, 32)                    // up (after cat)
                           + conv_params(16, 3, 1);                           // output 1x1
  // ConvTranspose2d(in, out, 2) has in*out*4 weights and out biases, as conv_params(in, out, 2)
  // counts with the roles of in and out swapped; the products are equal.
  CHECK(unet.num_parameters() == expected);
  CHECK(unet.num_parameters() == 135795);
  CHECK(unet.size_multiple() == 4);

  auto names = unet.named_parameters();
  CHECK(names.front().first == "time_embedding.weight");
  CHECK(names[1].first == "down.0.conv1.weight");
  CHECK(names.back().first == "output.bias");
  bool has_skip_block = false;
  for (const auto& [name, p] : names)
    if (name == "up.0.conv1.weight") has_skip_block = p.shape() == Shape{16, 32, 3, 3};
  CHECK(has_skip_block);  // the up block sees [skip, upsampled]: 2 x 16 channels

  Tensor x = randn({2, 3, 16, 12});
  NoGradGuard no_grad;
  CHECK(unet.forward(x, from_vector({0, 999})).shape() == Shape{2, 3, 16, 12});
  TinyUNetConfig grey;
  grey.image_channels = 1;
  grey.num_timesteps = 24;
  grey.channels = {8, 16};  // two levels: one halving
  TinyUNet small(grey);
  CHECK(small.size_multiple() == 2);
  CHECK(small.forward(randn({1, 1, 6, 6}), from_vector({23})).shape() == Shape{1, 1, 6, 6});

  CHECK_THROWS_WITH_AS(unet.forward(randn({1, 3, 10, 12}), from_vector({1})),
                       doctest::Contains("divisible by 4"), Error);
  CHECK_THROWS_WITH_AS(unet.forward(randn({1, 1, 8, 8}), from_vector({1})),
                       doctest::Contains("expected x_t shaped [B, 3, H, W]"), Error);
  CHECK_THROWS_AS(unet.forward(randn({1, 3, 8, 8}), from_vector({1000})), Error);  // t >= T
  TinyUNetConfig one_level;
  one_level.channels = {16};
  CHECK_THROWS_WITH_AS(TinyUNet{one_level}, doctest::Contains("at least 2 levels"), Error);
  CHECK(unet.describe() == "TinyUNet(image_channels=3, T=1000, time_dim=16, channels=16/32/64)");
}

TEST_CASE("tiny U-Net: each timestep has its own learned embedding") {
  manual_seed(5);
  TinyUNetConfig config;
  config.num_timesteps = 10;
  TinyUNet unet(config);
  Tensor x = randn({1, 3, 8, 8});
  NoGradGuard no_grad;
  Tensor a = unet.forward(x, from_vector({3})), b = unet.forward(x, from_vector({7}));
  CHECK(max(abs(a - b)).item() > 1e-3f);
  // Changing row 7 of the table changes the output at t = 7 and nothing at t = 3.
  std::vector<float> table = unet.time_embedding->weight.to_vector();
  for (int64_t j = 0; j < config.time_dim; ++j)
    table[static_cast<size_t>(7 * config.time_dim + j)] += 1.0f;
  unet.time_embedding->weight.copy_(from_vector(table, unet.time_embedding->weight.shape()));
  CHECK(max(abs(unet.forward(x, from_vector({3})) - a)).item() == 0.0f);
  CHECK(max(abs(unet.forward(x, from_vector({7})) - b)).item() > 1e-3f);
}

// The fixture's small U-Net (tests/fixtures/gen_models.py): 2 channels, T = 12, time_dim 4,
// channels 3/4/5, with PyTorch's parameters loaded by name.
TinyUNet fixture_unet() {
  TinyUNetConfig config;
  config.image_channels = 2;
  config.num_timesteps = 12;
  config.time_dim = 4;
  config.channels = {3, 4, 5};
  return TinyUNet(config);
}

TEST_CASE("tiny U-Net matches PyTorch: output, input gradient and every parameter's gradient") {
  const SafetensorsData& f = test::fixture("models");
  TinyUNet unet = fixture_unet();
  nn::NamedTensors state;
  for (const auto& [key, tensor] : f.tensors)
    if (key.rfind("unet.param.", 0) == 0) state.emplace_back(key.substr(11), tensor);
  unet.load_state_dict(state, "models.safetensors:unet");  // ModuleList names load 1:1
  Tensor x = test::leaf(f.at("unet.x"));
  Tensor out = unet.forward(x, f.at("unet.t"));
  CHECK_CLOSE(out, f.at("unet.out"), 1e-5, 1e-4);
  out.backward(f.at("unet.grad_out"));
  CHECK_CLOSE(x.grad(), f.at("unet.grad_x"), 1e-5, 1e-4);
  int checked = 0;
  for (const auto& [name, param] : unet.named_parameters()) {
    INFO("gradient of " << name);
    CHECK_CLOSE(param.grad(), f.at("unet.grad." + name), 1e-5, 1e-4);
    ++checked;
  }
  CHECK(checked == 37);  // embedding + 5 blocks x 6 + 2 transposed convs x 2 + output x 2
}

TEST_CASE("tiny U-Net: gradients of the input and every parameter (finite differences)") {
  // On the fixture's parameters, so the numbers do not depend on our initialisation code.
  const SafetensorsData& f = test::fixture("models");
  TinyUNet unet = fixture_unet();
  nn::NamedTensors state;
  for (const auto& [key, tensor] : f.tensors)
    if (key.rfind("unet.param.", 0) == 0) state.emplace_back(key.substr(11), tensor);
  unet.load_state_dict(state, "models.safetensors:unet");
  // Two samples at different timesteps, so the embedding rows of both get gradients.
  check_directional_gradients(unet, f.at("unet.x"), f.at("unet.t"));
}

// ---- DDPM's algorithms --------------------------------------------------------------------------

TEST_CASE("ddpm_loss: draws ε then t from the generator and is the MSE of the noise") {
  NoiseScheduler scheduler(24, 1e-4, 0.6);
  RecordingPredictor model;
  Tensor x0 = randn({3, 1, 4, 4});
  Generator gen(11);
  Tensor loss = ddpm_loss(model, scheduler, x0, &gen);
  // Replay the draws: ε first, then t, from the same seed.
  Generator replay(11);
  Tensor noise = randn(x0.shape(), Device::cpu(), &replay);
  Tensor t = scheduler.sample_timesteps(3, &replay);
  CHECK(max(abs(model.seen_t - t)).item() == 0.0f);
  CHECK_CLOSE(model.seen_x, scheduler.add_noise(x0, noise, t), 1e-6, 1e-6);
  CHECK(loss.item() == doctest::Approx(mean(square(noise)).item()).epsilon(1e-6));  // ε̂ = 0
  loss.backward();  // a scalar with a graph
  CHECK(model.weight.grad().defined());
  CHECK_THROWS_WITH_AS(ddpm_loss(model, scheduler, randn({4, 4})),
                       doctest::Contains("[B, C, H, W]"), Error);
}

TEST_CASE("ddpm_sample with an oracle ends exactly at the training picture") {
  for (auto [T, beta_end] : {std::pair<int64_t, double>{24, 0.6}, {1000, 0.02}}) {
    CAPTURE(T);
    NoiseScheduler scheduler(T, 1e-4, beta_end);
    OraclePredictor oracle(randn({1, 2, 4, 4}), scheduler);
    std::vector<int64_t> levels;
    Generator gen(3);
    Tensor x =
        ddpm_sample(oracle, scheduler, {5, 2, 4, 4}, &gen, [&](int64_t level, const Tensor& xt) {
          levels.push_back(level);
          CHECK(xt.shape() == Shape{5, 2, 4, 4});
        });
    CHECK(oracle.calls == T);
    REQUIRE(levels.size() == static_cast<size_t>(T + 1));
    CHECK(levels.front() == T);
    CHECK(levels.back() == 0);
    // The last step adds no noise and the oracle's ε is exact: every sample is x0.
    CHECK_CLOSE(x, oracle.x0 * ones({5, 1, 1, 1}), 1e-5, 1e-5);
  }
}

TEST_CASE("ddpm_sample with an oracle walks through q(x_t | x0): the right mean and variance") {
  // With the exact ε, each reverse step draws from the true posterior q(x_{t-1} | x_t, x0), so
  // the samples at level t are distributed as the forward process's x_t: mean √ᾱ_t x0 and
  // variance 1-ᾱ_t in every pixel. Checked at three levels over 256 samples of 64 pixels.
  NoiseScheduler scheduler(24, 1e-4, 0.6);
  Generator picture_gen(4);
  OraclePredictor oracle(randn({1, 1, 8, 8}, Device::cpu(), &picture_gen), scheduler);
  const std::vector<float> x0 = oracle.x0.to_vector();
  const std::vector<float> alpha_bar = scheduler.alpha_bar.to_vector();
  int checked = 0;
  Generator gen(5);
  ddpm_sample(oracle, scheduler, {256, 1, 8, 8}, &gen, [&](int64_t level, const Tensor& x) {
    if (level != 18 && level != 9 && level != 3) return;
    // Level t is the picture after t noising steps: alpha_bar[t - 1] in 0-based indexing.
    const double ab = alpha_bar[static_cast<size_t>(level - 1)];
    const std::vector<float> v = x.to_vector();
    double slope_num = 0, slope_den = 0, residual = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const double x0_i = x0[i % 64];
      slope_num += x0_i * v[i];
      slope_den += x0_i * x0_i;
      residual += (v[i] - std::sqrt(ab) * x0_i) * (v[i] - std::sqrt(ab) * x0_i);
    }
    const double n = static_cast<double>(v.size());
    CAPTURE(level);
    // Within 5 standard errors: √((1-ᾱ)/Σx0²) for the slope, (1-ᾱ)√(2/n) for the variance.
    CHECK(std::fabs(slope_num / slope_den - std::sqrt(ab)) < 5 * std::sqrt((1 - ab) / slope_den));
    CHECK(std::fabs(residual / n - (1 - ab)) < 5 * (1 - ab) * std::sqrt(2.0 / n));
    ++checked;
  });
  CHECK(checked == 3);
}

TEST_CASE("ddpm_sample: reproducible with a seed, no graph, clear errors") {
  NoiseScheduler scheduler(6, 1e-4, 0.6);
  manual_seed(7);
  ToyModel model(1, 4);
  Generator a(1), b(1), c(2);
  Tensor first = ddpm_sample(model, scheduler, {2, 1, 5, 5}, &a);
  Tensor again = ddpm_sample(model, scheduler, {2, 1, 5, 5}, &b);
  Tensor other = ddpm_sample(model, scheduler, {2, 1, 5, 5}, &c);
  CHECK(max(abs(first - again)).item() == 0.0f);
  CHECK(max(abs(first - other)).item() > 0.0f);
  CHECK_FALSE(first.requires_grad());
  CHECK_THROWS_WITH_AS(ddpm_sample(model, scheduler, {1, 5, 5}), doctest::Contains("[N, C, H, W]"),
                       Error);
}
