// test_layers_gradcheck.cpp — every nn functional op and layer against finite differences:
// the gradients of the input AND of the weights/biases (autograd/gradcheck.h for functions;
// tests/module_gradcheck.h for modules, whose parameters live inside the module).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "autograd/grad_mode.h"
#include "nn/functional.h"
#include "nn/layers.h"
#include "tests/helpers.h"
#include "tests/module_gradcheck.h"

using namespace drift;
namespace F = drift::nn::F;

namespace {

Tensor param(const Shape& shape, float scale = 1.0f) {
  return (randn(shape) * scale).set_requires_grad(true);
}

// Values -2.4, -2.3, ... spaced 0.1 apart in a random order: no two elements of a pooling
// window are closer than the finite-difference step, so the argmax never flips.
Tensor distinct_values(const Shape& shape, uint64_t seed) {
  std::vector<float> values(static_cast<size_t>(shape.numel()));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = 0.1f * static_cast<float>(i) - 0.05f * static_cast<float>(values.size());
  Generator gen(seed);
  std::vector<float> keys = rand({shape.numel()}, Device::cpu(), &gen).to_vector();
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  std::vector<float> shuffled(values.size());
  for (size_t i = 0; i < values.size(); ++i) shuffled[i] = values[order[i]];
  return from_vector(shuffled, shape).set_requires_grad(true);
}

Tensor call(nn::Module& m, const Tensor& x) {
  return m.forward(x);
}

}  // namespace

// ---- functional ops: input, weight and bias are all gradchecked ------------------------------

TEST_CASE("gradcheck: linear") {
  manual_seed(11);
  CHECK_GRADCHECK([](auto& in) { return F::linear(in[0], in[1], in[2]); },
                  (std::vector<Tensor>{param({2, 3, 4}), param({5, 4}), param({5})}));
  CHECK_GRADCHECK([](auto& in) { return F::linear(in[0], in[1]); },
                  (std::vector<Tensor>{param({3, 4}), param({2, 4})}));
}

TEST_CASE("gradcheck: conv2d variants") {
  manual_seed(12);
  struct Variant {
    const char* name;
    Shape x, w;
    nn::Size2 stride, padding;
    int64_t groups;
  };
  const Variant variants[] = {
      {"3x3 padding 1", {2, 2, 5, 4}, {3, 2, 3, 3}, 1, 1, 1},
      {"3x3 stride 2 padding 1, odd size", {1, 2, 7, 5}, {3, 2, 3, 3}, 2, 1, 1},
      {"4x4 stride 2 padding 1", {1, 2, 6, 6}, {2, 2, 4, 4}, 2, 1, 1},
      {"1x1", {2, 3, 3, 2}, {4, 3, 1, 1}, 1, 0, 1},
      {"groups 2", {1, 4, 4, 4}, {4, 2, 3, 3}, 1, 1, 2},
      {"depthwise", {1, 3, 4, 5}, {3, 1, 3, 3}, 1, 1, 3},
      {"depthwise x2 channel multiplier, stride 2", {1, 2, 5, 5}, {4, 1, 3, 3}, 2, 1, 2},
      {"asymmetric 3x2 kernel, stride (2, 1), padding (1, 0)",
       {1, 2, 5, 4},
       {2, 2, 3, 2},
       {2, 1},
       {1, 0},
       1},
  };
  for (const Variant& v : variants) {
    SUBCASE(v.name) {
      auto fn = [v](auto& in) {
        return F::conv2d(in[0], in[1], in[2], v.stride, v.padding, v.groups);
      };
      CHECK_GRADCHECK(fn, (std::vector<Tensor>{param(v.x), param(v.w, 0.5f), param({v.w[0]})}));
    }
  }
}

TEST_CASE("gradcheck: conv_transpose2d variants") {
  manual_seed(13);
  CHECK_GRADCHECK(
      [](auto& in) { return F::conv_transpose2d(in[0], in[1], in[2], 2, 1); },
      (std::vector<Tensor>{param({2, 3, 3, 2}), param({3, 2, 4, 4}, 0.5f), param({2})}));
  CHECK_GRADCHECK(
      [](auto& in) { return F::conv_transpose2d(in[0], in[1], in[2], 2, 1, 1); },
      (std::vector<Tensor>{param({1, 2, 3, 3}), param({2, 3, 3, 3}, 0.5f), param({3})}));
  CHECK_GRADCHECK([](auto& in) { return F::conv_transpose2d(in[0], in[1], Tensor(), 1, 1); },
                  (std::vector<Tensor>{param({1, 2, 4, 3}), param({2, 2, 3, 3}, 0.5f)}));
}

TEST_CASE("gradcheck: group_norm and layer_norm") {
  manual_seed(14);
  for (int64_t groups : {1, 2, 4}) {
    CAPTURE(groups);
    CHECK_GRADCHECK([groups](auto& in) { return F::group_norm(in[0], groups, in[1], in[2]); },
                    (std::vector<Tensor>{param({2, 4, 3, 2}), param({4}), param({4})}));
  }
  CHECK_GRADCHECK([](auto& in) { return F::group_norm(in[0], 2); },
                  (std::vector<Tensor>{param({2, 4, 3})}));
  CHECK_GRADCHECK([](auto& in) { return F::layer_norm(in[0], 5, in[1], in[2]); },
                  (std::vector<Tensor>{param({2, 3, 5}), param({5}), param({5})}));
}

TEST_CASE("gradcheck: pooling and upsampling") {
  CHECK_GRADCHECK([](auto& in) { return F::max_pool2d(in[0], 2); },
                  (std::vector<Tensor>{distinct_values({1, 2, 4, 5}, 1)}));
  CHECK_GRADCHECK([](auto& in) { return F::max_pool2d(in[0], 3, 2, 1); },
                  (std::vector<Tensor>{distinct_values({1, 2, 5, 5}, 2)}));
  CHECK_GRADCHECK([](auto& in) { return F::max_pool2d(in[0], 3, 1); },
                  (std::vector<Tensor>{distinct_values({1, 1, 5, 4}, 3)}));
  manual_seed(15);
  CHECK_GRADCHECK([](auto& in) { return F::avg_pool2d(in[0], 2); },
                  (std::vector<Tensor>{param({1, 2, 4, 5})}));
  CHECK_GRADCHECK([](auto& in) { return F::avg_pool2d(in[0], 3, 2, 1); },
                  (std::vector<Tensor>{param({1, 2, 5, 4})}));
  CHECK_GRADCHECK([](auto& in) { return F::upsample_nearest2d(in[0], 2); },
                  (std::vector<Tensor>{param({1, 2, 3, 2})}));
}

TEST_CASE("gradcheck: embedding, sinusoidal embedding, dropout") {
  manual_seed(16);
  Tensor index = from_vector({1, 3, 1, 0, 3, 3}, {2, 3});
  CHECK_GRADCHECK([index](auto& in) { return F::embedding(index, in[0]); },
                  (std::vector<Tensor>{param({5, 4})}));
  CHECK_GRADCHECK([](auto& in) { return F::sinusoidal_embedding(in[0], 8); },
                  (std::vector<Tensor>{from_vector({0.5f, 2.0f, 7.0f}).set_requires_grad(true)}));
  // The same generator state every call: the same mask for every finite difference.
  CHECK_GRADCHECK(
      [](auto& in) {
        Generator gen(5);
        return F::dropout(in[0], 0.3f, true, &gen);
      },
      (std::vector<Tensor>{param({4, 6})}));
}

TEST_CASE("gradcheck: attention") {
  manual_seed(17);
  CHECK_GRADCHECK([](auto& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2]); },
                  (std::vector<Tensor>{param({2, 3, 4}), param({2, 5, 4}), param({2, 5, 3})}));
  CHECK_GRADCHECK(
      [](auto& in) { return F::linear_attention(in[0], in[1], in[2], 0.7f); },
      (std::vector<Tensor>{param({1, 2, 3, 4}), param({1, 2, 3, 4}), param({1, 2, 2, 4})}));
}

// ---- layers: the input and every parameter -------------------------------------------------

TEST_CASE("module gradcheck: every layer with parameters, input and parameters") {
  manual_seed(18);
  SUBCASE("Linear") {
    nn::Linear m(4, 3);
    CHECK_MODULE_GRADCHECK(m, param({2, 4}), [&](const Tensor& x) { return call(m, x); });
  }
  SUBCASE("Conv2d depthwise, stride 2, no bias") {
    nn::Conv2d m(3, 3, 3, 2, 1, 3, false);
    CHECK_MODULE_GRADCHECK(m, param({1, 3, 5, 4}), [&](const Tensor& x) { return call(m, x); });
  }
  SUBCASE("Conv2d 7x7 padding 3") {
    nn::Conv2d m(1, 2, 7, 1, 3);
    CHECK_MODULE_GRADCHECK(m, param({1, 1, 4, 5}), [&](const Tensor& x) { return call(m, x); });
  }
  SUBCASE("ConvTranspose2d 4x4 stride 2") {
    nn::ConvTranspose2d m(2, 2, 4, 2, 1);
    CHECK_MODULE_GRADCHECK(m, param({1, 2, 3, 3}), [&](const Tensor& x) { return call(m, x); });
  }
  SUBCASE("GroupNorm") {
    nn::GroupNorm m(2, 4);
    CHECK_MODULE_GRADCHECK(m, param({2, 4, 2, 3}), [&](const Tensor& x) { return call(m, x); });
  }
  SUBCASE("LayerNorm") {
    nn::LayerNorm m(6);
    CHECK_MODULE_GRADCHECK(m, param({3, 6}), [&](const Tensor& x) { return call(m, x); });
  }
  SUBCASE("Embedding") {
    nn::Embedding m(6, 3);
    Tensor index = from_vector({5, 0, 5, 2}, {2, 2});
    CHECK_MODULE_GRADCHECK(m, index, [&](const Tensor& x) { return call(m, x); });
  }
  SUBCASE("SelfAttention2d, 2 heads") {
    nn::SelfAttention2d m(4, 2, 3);
    CHECK_MODULE_GRADCHECK(m, param({1, 4, 2, 3}), [&](const Tensor& x) { return call(m, x); });
  }
  SUBCASE("LinearAttention2d, 2 heads") {
    nn::LinearAttention2d m(4, 2, 3);
    CHECK_MODULE_GRADCHECK(m, param({2, 4, 2, 2}), [&](const Tensor& x) { return call(m, x); });
  }
  SUBCASE("Sequential: Conv2d -> GroupNorm -> SiLU -> Conv2d stride 2 -> Upsample -> GELU") {
    nn::Sequential m(std::make_shared<nn::Conv2d>(2, 4, 3, 1, 1),
                     std::make_shared<nn::GroupNorm>(2, 4), std::make_shared<nn::SiLU>(),
                     std::make_shared<nn::Conv2d>(4, 2, 4, 2, 1), std::make_shared<nn::Upsample>(),
                     std::make_shared<nn::GELU>());
    CHECK_MODULE_GRADCHECK(m, param({1, 2, 4, 4}), [&](const Tensor& x) { return call(m, x); });
  }
}
