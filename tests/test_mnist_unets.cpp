// test_mnist_unets.cpp — the chapter-4 U-Nets of diffusion/models/mnist_unets.h: the factory,
// parameter counts and names, the positional-encoding table, each of (A), (C), (D), (E)
// against the tutorial's PyTorch code (tests/fixtures/gen_mnist_unets.py: the output, the
// input gradient and every parameter's gradient), and the two new blocks against finite
// differences.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/models/mnist_unets.h"
#include "diffusion/models/tiny_unet.h"
#include "tensor/error.h"
#include "tests/helpers.h"
#include "tests/module_gradcheck.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

bool has(const nn::NamedTensors& named, const std::string& name) {
  for (const auto& entry : named)
    if (entry.first == name) return true;
  return false;
}

// The fixture's u(seed, i) in [-1, 1) (gen_mnist_unets.py's `uniform`): murmur3's finaliser.
double fixture_uniform(uint32_t seed, uint32_t index) {
  uint32_t h = index * 0x9E3779B1u + seed * 0x85EBCA77u + 0x27D4EB2Fu;
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return static_cast<double>(static_cast<int64_t>(h >> 8) - (int64_t{1} << 23)) /
         static_cast<double>(int64_t{1} << 23);
}

// Sets every parameter of `model` from the fixture's formula: value[j] = shift + scale u(seed,
// offset + j), rounded once to float32 as numpy does. Every fixture parameter must be used.
void load_fixture_parameters(nn::Module& model, const SafetensorsData& f, const std::string& key) {
  const auto seed = static_cast<uint32_t>(f.at(key + ".seed").item());
  int64_t used = 0;
  for (auto& [name, p] : model.named_parameters()) {
    INFO("parameter " << name);
    const Tensor* row = f.find(key + ".param." + name);
    REQUIRE(row != nullptr);
    const std::vector<float> r = row->to_vector();
    const auto offset = static_cast<uint32_t>(r[0]);
    std::vector<float> values(static_cast<size_t>(p.numel()));
    for (size_t j = 0; j < values.size(); ++j)
      values[j] = static_cast<float>(static_cast<double>(r[2]) +
                                     static_cast<double>(r[1]) *
                                         fixture_uniform(seed, offset + static_cast<uint32_t>(j)));
    p.copy_(from_vector(values, p.shape()));
    ++used;
  }
  int64_t stored = 0;
  for (const auto& entry : f.tensors)
    if (entry.first.rfind(key + ".param.", 0) == 0) ++stored;
  CHECK(used == stored);  // the same parameters on both sides, matched by name
}

// [sum, sum of squares, sum g[j] u(777, j), g[0], g[n/2], g[n-1]] (gen_mnist_unets.py).
std::vector<double> summary(const Tensor& g) {
  const std::vector<float> v = g.to_vector();
  double s = 0, s2 = 0, proj = 0;
  for (size_t j = 0; j < v.size(); ++j) {
    s += v[j];
    s2 += static_cast<double>(v[j]) * v[j];
    proj += v[j] * fixture_uniform(777, static_cast<uint32_t>(j));
  }
  return {s, s2, proj, v.front(), v[v.size() / 2], v.back()};
}

// Each number of the summary within `rtol` of the gradient's size: sums against its norm,
// elements against |e| + its root mean square, the sum of squares relatively.
void check_summary(const Tensor& grad, const std::vector<float>& expected, size_t at, double rtol) {
  REQUIRE(grad.defined());
  const std::vector<double> a = summary(grad);
  const double norm = std::sqrt(static_cast<double>(expected[at + 1]));
  const double rms = norm / std::sqrt(static_cast<double>(grad.numel()));
  const char* what[] = {"sum", "sum of squares", "projection", "first", "middle", "last"};
  for (size_t k = 0; k < 6; ++k) {
    const double e = expected[at + k];
    const double allowed = k == 1  ? rtol * e + 1e-12
                           : k < 3 ? rtol * norm + 1e-9
                                   : rtol * (std::fabs(e) + rms) + 1e-9;
    INFO(what[k] << ": drift " << a[k] << ", PyTorch " << e);
    CHECK(std::fabs(a[k] - e) <= allowed);
  }
}

}  // namespace

TEST_CASE("chapter-4 U-Nets: the names, one per model, and an unknown name's error") {
  CHECK(mnist_unet_names() == std::vector<std::string>{"A", "C", "D", "E"});
  for (const std::string& name : mnist_unet_names()) CHECK(make_mnist_unet(name) != nullptr);
  CHECK_THROWS_WITH_AS(make_mnist_unet("B"),
                       doctest::Contains("no model \"B\"; the chapter-4 U-Nets are A, C, D, E"),
                       Error);
}

TEST_CASE("chapter-4 U-Nets: sized by a config (channels for all, groups for D and E)") {
  MnistUNetConfig wide;
  wide.channels = 32;
  auto c = make_mnist_unet("C", nullptr, wide);
  CHECK(dynamic_cast<TinyUNet&>(*c).config.channels == std::vector<int64_t>{32, 64, 128});
  CHECK(c->num_parameters() > 3 * 119473);  // ~4x the weights of every convolution
  MnistUNetConfig one_group;
  one_group.groups = 1;
  auto e = make_mnist_unet("E", nullptr, one_group);
  CHECK(e->num_parameters() == 558753);  // GroupNorm's affine is per channel, whatever the groups
  CHECK(dynamic_cast<ResUNet&>(*e).norm_out->num_groups == 1);
  CHECK(dynamic_cast<ResUNet&>(*e).enc2_2->norm2->num_groups == 1);
  CHECK_THROWS_WITH_AS(make_mnist_unet("A", nullptr, one_group),
                       doctest::Contains("(A) and (C) have no GroupNorm"), Error);
}

TEST_CASE("chapter-4 U-Nets: parameter counts, the models and their tutorial names") {
  manual_seed(1);
  // (A): the chapter-3 (c) TinyUNet on 1 channel; (C) without its 1000 x 16 learned table.
  auto a = make_mnist_unet("A"), c = make_mnist_unet("C");
  CHECK(a->num_parameters() == 135473);
  CHECK(c->num_parameters() == 135473 - 1000 * 16);
  REQUIRE(dynamic_cast<TinyUNet*>(c.get()) != nullptr);
  CHECK(dynamic_cast<TinyUNet&>(*c).time_embedding == nullptr);
  CHECK(has(c->named_buffers(), "time_encoding.pe"));
  CHECK(has(a->named_parameters(), "time_embedding.weight"));

  auto d = make_mnist_unet("D");
  CHECK(d->num_parameters() == 138593);
  REQUIRE(dynamic_cast<NormUNet*>(d.get()) != nullptr);
  for (const char* name : {"embed.1.weight", "embed.3.bias", "conv_in.weight", "enc1.norm1.weight",
                           "enc2.proj.weight", "bottleneck.conv2.bias", "upconv2.weight",
                           "dec1.norm2.bias", "norm_out.weight", "conv_out.bias"})
    CHECK_MESSAGE(has(d->named_parameters(), name), name);
  CHECK(has(d->named_buffers(), "embed.0.pe"));

  // (E): the tutorial's final model, counted by torch as 558,753.
  auto e = make_mnist_unet("E");
  CHECK(e->num_parameters() == 558753);
  REQUIRE(dynamic_cast<ResUNet*>(e.get()) != nullptr);
  const nn::NamedTensors named = e->named_parameters();
  for (const char* name : {"embed.3.weight", "enc1_1.conv1.weight", "enc1_2.shortcut.weight",
                           "downconv1.conv.weight", "bottleneck_2.proj.bias", "upconv2.conv.weight",
                           "dec2_1.shortcut.weight", "dec1_2.norm2.weight"})
    CHECK_MESSAGE(has(named, name), name);
  CHECK_FALSE(has(named, "enc1_1.shortcut.weight"));        // 16 -> 16: the identity
  CHECK_FALSE(has(named, "bottleneck_1.shortcut.weight"));  // 64 -> 64
  const ResUNet& res = dynamic_cast<ResUNet&>(*e);
  CHECK(res.dec2_1->conv1->weight.shape() == Shape{64, 128, 3, 3});  // cat [up 64, enc2 64]
  CHECK(res.dec1_1->conv1->weight.shape() == Shape{32, 64, 3, 3});   // cat [up 32, enc1 32]
  CHECK(res.describe() ==
        "ResUNet(image_channels=1, T=1000, embed_dim=64, channels=16/32/64, "
        "groups=16)");
}

TEST_CASE("PositionalEncoding: the tutorial's table, sin and cos interleaved") {
  const SafetensorsData& f = test::fixture("mnist_unets");
  for (int64_t d : {16, 64}) {
    CAPTURE(d);
    nn::PositionalEncoding pe(d, 1000);
    CHECK(pe.num_parameters() == 0);
    CHECK(pe.pe.shape() == Shape{1000, d});
    CHECK_CLOSE(pe.forward(f.at("pe.t")), f.at("pe" + std::to_string(d) + ".rows"), 1e-7, 1e-6);
  }
  // By the formula: column 2i is sin(t 10000^(-2i/d)), column 2i + 1 its cos.
  nn::PositionalEncoding pe(8, 10);
  const std::vector<float> row = pe.forward(from_vector({7.0f})).to_vector();
  REQUIRE(row.size() == 8);
  for (int i = 0; i < 4; ++i) {
    const double angle = 7.0 * std::pow(10000.0, -2.0 * i / 8.0);
    CHECK(row[2 * i] == doctest::Approx(std::sin(angle)).epsilon(1e-6));
    CHECK(row[2 * i + 1] == doctest::Approx(std::cos(angle)).epsilon(1e-6));
  }
  CHECK_THROWS_WITH_AS(nn::PositionalEncoding(7), doctest::Contains("d_model must be even"), Error);
  CHECK_THROWS_AS(pe.forward(from_vector({10.0f})), Error);  // past max_len
}

TEST_CASE("chapter-4 U-Nets match the tutorial's PyTorch code: output and every gradient") {
  // In (D) and (E), GroupNorm(16, 16) normalises each of the 16 channels alone, so anything
  // that only adds a constant per channel just before it is cancelled: the time projection
  // (and conv1's bias) of the 16-channel blocks enc1, dec1 (D) and enc1_1, dec1_2 (E), and the
  // biases feeding norm_out and enc1.norm1. Their gradients are exactly 0 (PyTorch: ~1e-14 in
  // float64); drift's float32 rounding must stay as small, far below every other gradient.
  const std::map<std::string, int> zero_gradients = {{"A", 0}, {"C", 0}, {"D", 8}, {"E", 8}};
  const SafetensorsData& f = test::fixture("mnist_unets");
  for (const std::string& key : mnist_unet_names()) {
    CAPTURE(key);
    auto model = make_mnist_unet(key);
    load_fixture_parameters(*model, f, key);
    Tensor x = test::leaf(f.at("x"));
    Tensor out = model->forward(x, f.at("t"));
    CHECK_CLOSE(out, f.at(key + ".out"), 1e-5, 1e-4);
    model->zero_grad();
    out.backward(f.at("grad_out"));
    check_summary(x.grad(), f.at(key + ".grad_x").to_vector(), 0, 1e-4);
    double largest = 0;  // the largest gradient norm of the model, for the zero ones
    for (const auto& [name, param] : model->named_parameters())
      largest = std::max(largest, std::sqrt(double{f.at(key + ".param." + name).to_vector()[4]}));
    int64_t checked = 0, zeros = 0;
    for (const auto& [name, param] : model->named_parameters()) {
      INFO("gradient of " << name);
      const std::vector<float> expected = f.at(key + ".param." + name).to_vector();
      if (std::sqrt(double{expected[4]}) < 1e-9 * largest) {
        ++zeros;
        CHECK(std::sqrt(summary(param.grad())[1]) <= 1e-5 * largest);
      } else {
        check_summary(param.grad(), expected, 3, 1e-4);
      }
      ++checked;
    }
    CHECK(zeros == zero_gradients.at(key));
    CHECK(checked > 30);
  }
}

TEST_CASE("chapter-4 U-Nets: any H, W divisible by 4, t matters, errors name the problem") {
  manual_seed(3);
  MnistUNetConfig small;
  small.channels = 4;
  small.groups = 2;
  small.embed_dim = 8;
  small.num_timesteps = 50;
  NormUNet d(small);
  ResUNet e(small);
  for (NoisePredictor* model :
       {static_cast<NoisePredictor*>(&d), static_cast<NoisePredictor*>(&e)}) {
    CAPTURE(model->describe());
    Tensor x = randn({1, 1, 8, 12});
    NoGradGuard no_grad;
    Tensor y = model->forward(cat({x, x}, 0), from_vector({2.0f, 40.0f}, Shape{2, 1}));
    CHECK(y.shape() == Shape{2, 1, 8, 12});
    const std::vector<float> v = y.to_vector();
    double different = 0;
    for (size_t i = 0; i < 96; ++i) different += std::fabs(v[i] - v[96 + i]);
    CHECK(different > 1e-3);  // the same picture at two timesteps
    CHECK_THROWS_WITH_AS(model->forward(randn({2, 1, 8, 10}), zeros({2})),
                         doctest::Contains("divisible by 4"), Error);
    CHECK_THROWS_WITH_AS(model->forward(randn({2, 3, 8, 8}), zeros({2})),
                         doctest::Contains("expected x_t [B, 1, H, W]"), Error);
    CHECK_THROWS_WITH_AS(model->forward(randn({2, 1, 8, 8}), zeros({3})),
                         doctest::Contains("expected 2 timesteps"), Error);
  }
  MnistUNetConfig bad;
  bad.groups = 5;
  CHECK_THROWS_WITH_AS(ResUNet{bad}, doctest::Contains("groups dividing channels"), Error);
}

TEST_CASE("NormConvBlock and ResnetBlock: gradients of the input and every parameter") {
  // Tiny blocks (4 -> 8 channels, GroupNorm(2, ·), embedding width 3, 2 x 3 x 3 pictures),
  // finite differences with step 1e-3. ReLU has a kink at 0: the first seed whose ReLU inputs
  // (norm1(x) and norm2(h)) are all at least 0.02 from it is used, so no step crosses one.
  GradcheckOptions options;
  options.eps = 1e-3;
  for (bool residual : {false, true}) {
    CAPTURE(residual);
    bool found = false;
    for (uint64_t seed = 0; seed < 500 && !found; ++seed) {
      Generator gen(seed);
      Tensor x = randn({2, 4, 3, 3}, Device::cpu(), &gen);
      Tensor e = randn({2, 3}, Device::cpu(), &gen);
      std::unique_ptr<NormConvBlock> block =
          residual ? std::make_unique<ResnetBlock>(4, 8, 3, 2, &gen)
                   : std::make_unique<NormConvBlock>(4, 8, 3, 2, &gen);
      double margin;
      {
        NoGradGuard no_grad;
        Tensor a1 = block->norm1->forward(x);
        Tensor h = block->conv1->forward(relu(a1)) + reshape(block->proj->forward(e), {2, 8, 1, 1});
        Tensor a2 = block->norm2->forward(h);
        margin = -std::max(max(-abs(a1)).item(), max(-abs(a2)).item());  // min |a|
      }
      if (margin < 0.02) continue;
      found = true;
      INFO("seed " << seed << ", ReLU margin " << margin);
      auto forward = [&](const Tensor& input) {
        return residual ? static_cast<ResnetBlock&>(*block).forward(input, e)
                        : block->forward(input, e);
      };
      CHECK_MODULE_GRADCHECK(*block, x.set_requires_grad(true), forward, options);
      if (residual) CHECK(static_cast<ResnetBlock&>(*block).shortcut != nullptr);
    }
    CHECK(found);
  }
}

TEST_CASE("chapter-4 U-Nets: sampling's forward (no graph, batch 64) equals training's") {
  // Samplers run the model under NoGradGuard and with other batch sizes than training: the
  // noise prediction of a picture must not depend on either.
  for (const std::string& name : mnist_unet_names()) {
    INFO("model " << name);
    Generator gen(4);
    std::unique_ptr<NoisePredictor> model = make_mnist_unet(name, &gen);
    const Tensor x = randn({64, 1, 28, 28}, Device::cpu(), &gen);
    std::vector<float> steps;
    for (int i = 0; i < 64; ++i) steps.push_back(float((i * 367) % 1000));
    const Tensor t_whole = from_vector(steps);
    Tensor with_graph = model->forward(x, t_whole);
    Tensor without;
    {
      NoGradGuard no_grad;
      without = model->forward(x, t_whole);
    }
    CHECK_CLOSE(without, with_graph.detach(), 1e-6, 1e-5);
    Tensor first_two = model->forward(slice(x, 0, 0, 2), slice(t_whole, 0, 0, 2));
    CHECK_CLOSE(first_two.detach(), slice(with_graph, 0, 0, 2).detach(), 1e-5, 1e-4);
  }
}
