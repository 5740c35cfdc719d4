// test_layers.cpp — the layer library beyond parity: the CPU kernels against direct
// definitions on large shapes (tiling and threading), initialisation statistics, dropout,
// parameter names, descriptions, and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "nn/functional.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/error.h"
#include "tests/conv_check.h"
#include "tests/helpers.h"

using namespace drift;
using drift::test::check_conv_kernels_against_definition;
namespace F = drift::nn::F;

namespace {

double mean_of(const std::vector<float>& v) {
  double total = 0.0;
  for (float x : v) total += x;
  return total / static_cast<double>(v.size());
}

double variance_of(const std::vector<float>& v) {
  const double m = mean_of(v);
  double total = 0.0;
  for (float x : v) total += (x - m) * (x - m);
  return total / static_cast<double>(v.size());
}

double max_abs(const std::vector<float>& v) {
  double best = 0.0;
  for (float x : v) best = std::max(best, static_cast<double>(std::fabs(x)));
  return best;
}

// Values uniform in (-bound, bound): inside the bounds, filling them, mean 0 and variance
// bound^2/3 within 5 standard errors.
void check_uniform(const Tensor& t, double bound) {
  std::vector<float> v = t.to_vector();
  const double n = static_cast<double>(v.size());
  INFO("tensor " << describe(t) << ", bound " << bound);
  CHECK(max_abs(v) <= bound);
  CHECK(max_abs(v) >= bound * (n >= 256 ? 0.95 : 0.5));
  CHECK(std::fabs(mean_of(v)) <= 5.0 * bound / std::sqrt(3.0 * n));
  const double var = bound * bound / 3.0;
  // Var(x^2) = 4 bound^4 / 45 for the uniform distribution.
  CHECK(std::fabs(variance_of(v) - var) <= 5.0 * std::sqrt(4.0 / 45.0) * bound * bound / std::sqrt(n));
}

}  // namespace

// ---- kernels against the definition ---------------------------------------------------------

TEST_CASE("conv kernels equal the definition on shapes with several tiles and threads") {
  manual_seed(21);
  SUBCASE("3x3 padding 1, three bands per image, two images") {
    check_conv_kernels_against_definition({2, 16, 30, 70}, {4, 16, 3, 3}, 1, 1, 1);
  }
  SUBCASE("4x4 stride 2 padding 1, five bands, one image (threads share the bands)") {
    check_conv_kernels_against_definition({1, 16, 61, 140}, {4, 16, 4, 4}, 2, 1, 1);
  }
  SUBCASE("grouped 3x3, three images") {
    check_conv_kernels_against_definition({3, 8, 40, 50}, {6, 4, 3, 3}, 1, 1, 2);
  }
  SUBCASE("depthwise 3x3 on a large plane, two bands") {
    check_conv_kernels_against_definition({1, 8, 100, 200}, {8, 1, 3, 3}, 1, 1, 8);
  }
  SUBCASE("1x1 (no unrolling)") {
    check_conv_kernels_against_definition({2, 8, 50, 60}, {5, 8, 1, 1}, 1, 0, 1);
  }
  SUBCASE("5x5 stride 3 padding 2, odd sizes") {
    check_conv_kernels_against_definition({2, 3, 23, 17}, {4, 3, 5, 5}, 3, 2, 1);
  }
}

TEST_CASE("group norm statistics stay accurate for large groups far from zero") {
  manual_seed(22);
  // 2 x 16 x 64 x 64 with mean 1000 and std 0.5: naive float sums of x and x^2 would lose
  // the variance entirely.
  Tensor x = randn({2, 16, 64, 64}) * 0.5f + 1000.0f;
  Tensor y = F::group_norm(x, 4);
  std::vector<float> yv = y.to_vector();
  const size_t group = 4 * 64 * 64;
  for (size_t start = 0; start < yv.size(); start += group) {
    std::vector<float> part(yv.begin() + static_cast<std::ptrdiff_t>(start),
                            yv.begin() + static_cast<std::ptrdiff_t>(start + group));
    CHECK(std::fabs(mean_of(part)) < 1e-3);
    CHECK(std::fabs(variance_of(part) - 1.0) < 5e-3);
  }
}

// ---- initialisation -------------------------------------------------------------------------

TEST_CASE("init: weights and biases are U(+-1/sqrt(fan_in)) as PyTorch's defaults") {
  manual_seed(23);
  SUBCASE("Linear(256, 512): fan_in 256") {
    nn::Linear m(256, 512);
    check_uniform(m.weight, 1.0 / 16.0);
    check_uniform(m.bias, 1.0 / 16.0);
  }
  SUBCASE("Conv2d(16, 32, 3): fan_in 16*3*3 = 144") {
    nn::Conv2d m(16, 32, 3);
    CHECK(nn::init::fan_in(m.weight) == 144);
    check_uniform(m.weight, 1.0 / 12.0);
    check_uniform(m.bias, 1.0 / 12.0);
  }
  SUBCASE("depthwise Conv2d(32, 32, 3, groups 32): fan_in 1*3*3 = 9") {
    nn::Conv2d m(32, 32, 3, 1, 1, 32);
    check_uniform(m.weight, 1.0 / 3.0);
  }
  SUBCASE("ConvTranspose2d(32, 16, 4): weight [32, 16, 4, 4], fan_in = size(1)*4*4 = 256") {
    nn::ConvTranspose2d m(32, 16, 4, 2, 1);
    CHECK(m.weight.shape() == Shape{32, 16, 4, 4});
    CHECK(nn::init::fan_in(m.weight) == 256);
    check_uniform(m.weight, 1.0 / 16.0);
    check_uniform(m.bias, 1.0 / 16.0);
  }
  SUBCASE("Embedding(1000, 16) ~ N(0, 1); norms are ones and zeros") {
    nn::Embedding e(1000, 16);
    std::vector<float> v = e.weight.to_vector();
    CHECK(std::fabs(mean_of(v)) < 4.0 / std::sqrt(16000.0));
    CHECK(std::fabs(variance_of(v) - 1.0) < 5.0 * std::sqrt(2.0 / 16000.0));
    nn::GroupNorm gn(4, 8);
    nn::LayerNorm ln(5);
    CHECK(gn.weight.to_vector() == std::vector<float>(8, 1.0f));
    CHECK(gn.bias.to_vector() == std::vector<float>(8, 0.0f));
    CHECK(ln.weight.to_vector() == std::vector<float>(5, 1.0f));
    CHECK(ln.bias.to_vector() == std::vector<float>(5, 0.0f));
  }
}

TEST_CASE("init: the same seed or generator gives the same parameters") {
  manual_seed(5);
  nn::Conv2d a(3, 4, 3);
  manual_seed(5);
  nn::Conv2d b(3, 4, 3);
  CHECK(a.weight.to_vector() == b.weight.to_vector());
  CHECK(a.bias.to_vector() == b.bias.to_vector());
  Generator g1(9), g2(9);
  nn::Linear c(4, 3, true, &g1), d(4, 3, true, &g2);
  CHECK(c.weight.to_vector() == d.weight.to_vector());
  nn::Linear e(4, 3);  // global generator: a different stream
  CHECK(c.weight.to_vector() != e.weight.to_vector());
}

// ---- dropout ---------------------------------------------------------------------------------

TEST_CASE("dropout: drops a fraction p, scales survivors by 1/(1-p), reuses its mask") {
  Generator gen(77);
  const float p = 0.3f;
  Tensor x = ones({200000});
  std::vector<float> y = F::dropout(x, p, true, &gen).to_vector();
  int64_t dropped = 0;
  bool scaled = true;
  for (float v : y) {
    if (v == 0.0f) ++dropped;
    else scaled = scaled && v == 1.0f / (1.0f - p);
  }
  CHECK(scaled);
  const double fraction = static_cast<double>(dropped) / static_cast<double>(y.size());
  CHECK(std::fabs(fraction - p) < 5.0 * std::sqrt(p * (1 - p) / 200000.0));  // 5 standard errors
  CHECK(std::fabs(mean_of(y) - 1.0) < 0.01);

  SUBCASE("backward multiplies by the same mask") {
    Tensor input = randn({1000}).set_requires_grad(true);
    Tensor out = F::dropout(input, 0.5f, true, &gen);
    Tensor g = randn({1000});
    out.backward(g);
    std::vector<float> o = out.to_vector(), xi = input.to_vector(), gi = g.to_vector(),
                       gx = input.grad().to_vector();
    bool matches = true;
    for (size_t i = 0; i < o.size(); ++i)
      matches = matches && (o[i] == 0.0f ? gx[i] == 0.0f : gx[i] == gi[i] * 2.0f &&
                                                               o[i] == xi[i] * 2.0f);
    CHECK(matches);
  }
  SUBCASE("eval mode and p = 0 are the identity; p = 1 drops everything") {
    CHECK(F::dropout(x, p, false).same(x));
    CHECK(F::dropout(x, 0.0f, true).same(x));
    CHECK(max_abs(F::dropout(x, 1.0f, true, &gen).to_vector()) == 0.0);
  }
  SUBCASE("the same generator state gives the same mask; successive calls differ") {
    Generator a(3), b(3);
    Tensor r = randn({64});
    CHECK(F::dropout(r, 0.5f, true, &a).to_vector() == F::dropout(r, 0.5f, true, &b).to_vector());
    Tensor first = F::dropout(r, 0.5f, true, &a), second = F::dropout(r, 0.5f, true, &a);
    CHECK(first.to_vector() != second.to_vector());
  }
  SUBCASE("the Dropout layer follows train() / eval()") {
    nn::Sequential model(std::make_shared<nn::Linear>(4, 4), std::make_shared<nn::Dropout>(0.5f));
    Tensor in = randn({8, 4});
    model.eval();
    Tensor a = model.forward(in), b = model.forward(in);
    CHECK(a.to_vector() == b.to_vector());
    model.train();
    CHECK(model.forward(in).to_vector() != a.to_vector());
  }
  CHECK_THROWS_WITH_AS(F::dropout(x, 1.5f), doctest::Contains("p must be in [0, 1]"), Error);
}

// ---- names, descriptions, containers --------------------------------------------------------

TEST_CASE("parameter names are PyTorch's") {
  auto names = [](const nn::Module& m) {
    std::vector<std::string> out;
    for (const auto& entry : m.named_parameters()) out.push_back(entry.first);
    return out;
  };
  CHECK(names(nn::Linear(2, 3)) == std::vector<std::string>{"weight", "bias"});
  CHECK(names(nn::Conv2d(2, 3, 3, 1, 1, 1, false)) == std::vector<std::string>{"weight"});
  CHECK(names(nn::SelfAttention2d(8, 4, 32)) ==
        std::vector<std::string>{"to_qkv.weight", "to_out.weight", "to_out.bias"});
  CHECK(names(nn::LinearAttention2d(8)) ==
        std::vector<std::string>{"to_qkv.weight", "to_out.0.weight", "to_out.0.bias",
                                 "to_out.1.weight", "to_out.1.bias"});
  nn::LinearAttention2d attention(28);  // annotated diffusion: 4 heads x 32
  CHECK(attention.to_qkv->weight.shape() == Shape{384, 28, 1, 1});
  CHECK(attention.num_parameters() == 384 * 28 + 28 * 128 + 28 + 28 + 28);
  CHECK(names(nn::GroupNorm(2, 4, 1e-5f, false)).empty());
  CHECK(names(nn::Embedding(1000, 16)) == std::vector<std::string>{"weight"});
}

TEST_CASE("Sequential names children 0, 1, ... and applies them in order") {
  nn::Sequential seq;
  auto conv = seq.push_back(std::make_shared<nn::Conv2d>(1, 2, 3, 1, 1));
  seq.push_back(std::make_shared<nn::ReLU>());
  auto linear = seq.push_back(std::make_shared<nn::Linear>(5, 3));
  CHECK(seq.size() == 3);
  CHECK(seq[0] == conv);
  CHECK(linear->out_features == 3);  // push_back returns the typed module
  std::vector<std::string> names;
  for (const auto& entry : seq.named_parameters()) names.push_back(entry.first);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  Tensor x = randn({2, 1, 4, 5});
  Tensor expected = linear->forward(relu(conv->forward(x)));
  CHECK(seq.forward(x).to_vector() == expected.to_vector());
  CHECK_THROWS_WITH_AS(seq[3], doctest::Contains("index 3 is out of range (3 modules)"), Error);
}

TEST_CASE("describe() reads like PyTorch's repr") {
  CHECK(nn::Conv2d(3, 16, 3, 1, 1).describe() == "Conv2d(3, 16, kernel_size=3, stride=1, padding=1)");
  CHECK(nn::Conv2d(16, 16, 3, 2, 1, 16, false).describe() ==
        "Conv2d(16, 16, kernel_size=3, stride=2, padding=1, groups=16, bias=False)");
  CHECK(nn::Conv2d(4, 8, {3, 1}).describe() == "Conv2d(4, 8, kernel_size=(3, 1), stride=1)");
  CHECK(nn::ConvTranspose2d(64, 32, 4, 2, 1).describe() ==
        "ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1)");
  CHECK(nn::ConvTranspose2d(8, 8, 3, 2, 1, 1).describe() ==
        "ConvTranspose2d(8, 8, kernel_size=3, stride=2, padding=1, output_padding=1)");
  CHECK(nn::Linear(1, 16).describe() == "Linear(in_features=1, out_features=16, bias=True)");
  CHECK(nn::GroupNorm(4, 32).describe() == "GroupNorm(4, 32, eps=1e-05, affine=True)");
  CHECK(nn::LayerNorm(32).describe() == "LayerNorm((32,), eps=1e-05, elementwise_affine=True)");
  CHECK(nn::Embedding(1000, 16).describe() == "Embedding(1000, 16)");
  CHECK(nn::Dropout(0.1f).describe() == "Dropout(p=0.1)");
  CHECK(nn::Upsample().describe() == "Upsample(scale_factor=2.0, mode='nearest')");
  CHECK(nn::MaxPool2d(2).describe() == "MaxPool2d(kernel_size=2, stride=2, padding=0)");
  CHECK(nn::AvgPool2d(3, 2, 1).describe() == "AvgPool2d(kernel_size=3, stride=2, padding=1)");
  CHECK(nn::SelfAttention2d(64).describe() == "SelfAttention2d(channels=64, heads=4, dim_head=32)");
  CHECK(nn::SinusoidalEmbedding(28).describe() == "SinusoidalEmbedding(dim=28)");
  CHECK(nn::SiLU().describe() == "SiLU()");
}

TEST_CASE("shapes of the U-Net building blocks") {
  Tensor x = randn({2, 8, 14, 14});
  CHECK(nn::Conv2d(8, 8, 4, 2, 1).forward(x).shape() == Shape{2, 8, 7, 7});         // down
  CHECK(nn::ConvTranspose2d(8, 8, 4, 2, 1).forward(x).shape() == Shape{2, 8, 28, 28});
  CHECK(nn::ConvTranspose2d(8, 4, 3, 2, 1, 1).forward(x).shape() == Shape{2, 4, 28, 28});
  CHECK(nn::ConvTranspose2d(8, 4, 2, 2).forward(x).shape() == Shape{2, 4, 28, 28});
  CHECK(nn::MaxPool2d(2).forward(x).shape() == Shape{2, 8, 7, 7});
  CHECK(nn::Upsample().forward(x).shape() == Shape{2, 8, 28, 28});
  CHECK(nn::Conv2d(8, 16, 7, 1, 3).forward(x).shape() == Shape{2, 16, 14, 14});     // init conv
  CHECK(nn::SelfAttention2d(8, 4, 32).forward(x).shape() == x.shape());
  CHECK(nn::LinearAttention2d(8).forward(x).shape() == x.shape());
  CHECK(nn::SinusoidalEmbedding(28).forward(from_vector({1, 599})).shape() == Shape{2, 28});
  CHECK(nn::Embedding(1000, 16).forward(from_vector({0, 999, 5})).shape() == Shape{3, 16});
  CHECK(nn::Linear(16, 64).forward(randn({2, 5, 16})).shape() == Shape{2, 5, 64});
}

// ---- errors ------------------------------------------------------------------------------------

TEST_CASE("errors name the layer and the shapes") {
  using doctest::Contains;
  nn::Conv2d conv(3, 16, 3, 1, 1);
  SUBCASE("wrong number of input channels") {
    CHECK_THROWS_WITH_AS(conv.forward(randn({2, 4, 8, 8})),
                         Contains("Conv2d(3, 16, kernel_size=3, stride=1, padding=1): conv2d: "
                                  "input [2, 4, 8, 8]"),
                         Error);
    CHECK_THROWS_WITH_AS(conv.forward(randn({2, 4, 8, 8})), Contains("expects 3"), Error);
    CHECK_THROWS_WITH_AS(nn::ConvTranspose2d(8, 4, 4, 2, 1).forward(randn({1, 3, 4, 4})),
                         Contains("ConvTranspose2d(8, 4, kernel_size=4, stride=2, padding=1): "
                                  "conv_transpose2d: input [1, 3, 4, 4]"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::Linear(5, 3).forward(randn({2, 4})),
                         Contains("Linear(in_features=5, out_features=3, bias=True): linear: "
                                  "input [2, 4]"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::GroupNorm(2, 8).forward(randn({2, 6, 4, 4})),
                         Contains("GroupNorm(2, 8, eps=1e-05, affine=True): expected input "
                                  "[N, 8, *], got [2, 6, 4, 4]"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::SelfAttention2d(8).forward(randn({1, 6, 4, 4})),
                         Contains("SelfAttention2d(channels=8, heads=4, dim_head=32): expected "
                                  "input [N, 8, H, W], got [1, 6, 4, 4]"),
                         Error);
  }
  SUBCASE("wrong number of dimensions") {
    CHECK_THROWS_WITH_AS(conv.forward(randn({3, 8, 8})),
                         Contains("conv2d: input must be 4-D [N, C, H, W], got [3, 8, 8]"), Error);
    CHECK_THROWS_WITH_AS(nn::MaxPool2d(2).forward(randn({3, 8, 8})),
                         Contains("MaxPool2d(kernel_size=2, stride=2, padding=0): max_pool2d: "
                                  "input must be 4-D"),
                         Error);
    CHECK_THROWS_WITH_AS(F::sinusoidal_embedding(randn({2, 1}), 8),
                         Contains("time steps must be 1-D [B], got [2, 1]"), Error);
  }
  SUBCASE("channels not divisible by groups") {
    CHECK_THROWS_WITH_AS(nn::Conv2d(6, 4, 3, 1, 0, 4),
                         Contains("Conv2d: in_channels 6 and out_channels 4 must both be "
                                  "divisible by groups 4"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::GroupNorm(3, 16),
                         Contains("GroupNorm: num_channels 16 is not divisible by num_groups 3"),
                         Error);
    CHECK_THROWS_WITH_AS(F::conv2d(randn({1, 6, 5, 5}), randn({4, 2, 3, 3}), Tensor(), 1, 0, 4),
                         Contains("conv2d: groups 4 must divide both the input channels (6, "
                                  "input [1, 6, 5, 5]"),
                         Error);
    CHECK_THROWS_WITH_AS(F::group_norm(randn({2, 6, 3}), 4),
                         Contains("group_norm: 4 groups do not divide the 6 channels of input "
                                  "[2, 6, 3]"),
                         Error);
    CHECK_THROWS_WITH_AS(F::conv_transpose2d(randn({1, 4, 3, 3}), randn({4, 2, 3, 3}), Tensor(),
                                             1, 0, 0, 2),
                         Contains("conv_transpose2d: groups=2 is not supported"), Error);
  }
  SUBCASE("kernel larger than the padded input") {
    CHECK_THROWS_WITH_AS(nn::Conv2d(1, 1, 5).forward(randn({1, 1, 3, 3})),
                         Contains("Conv2d(1, 1, kernel_size=5, stride=1): conv2d: kernel 5x5 "
                                  "(weight [1, 1, 5, 5] on cpu) is larger than the padded input "
                                  "3x3 (input [1, 1, 3, 3]"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::AvgPool2d(4).forward(randn({1, 1, 3, 3})),
                         Contains("avg_pool2d: kernel 4x4 is larger than the padded input 3x3"),
                         Error);
  }
  SUBCASE("other bad arguments") {
    CHECK_THROWS_WITH_AS(nn::ConvTranspose2d(2, 2, 3, 2, 1, 2),
                         Contains("output_padding 2 must be smaller than the stride 2"), Error);
    CHECK_THROWS_WITH_AS(nn::Embedding(10, 4).forward(from_vector({3, 10})),
                         Contains("Embedding(10, 4): embedding: index 10 is out of range"), Error);
    CHECK_THROWS_WITH_AS(F::max_pool2d(randn({1, 1, 6, 6}), 2, 2, 2),
                         Contains("padding 2x2 must be between 0 and half the kernel 2x2"), Error);
    CHECK_THROWS_WITH_AS(nn::SinusoidalEmbedding(7), Contains("dim must be even"), Error);
    CHECK_THROWS_WITH_AS(F::linear(randn({2, 3}), randn({4, 3}), randn({3})),
                         Contains("linear: bias [3]"), Error);
  }
}
