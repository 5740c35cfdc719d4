// test_ops_gradcheck.cpp — every differentiable op's backward against central finite
// differences (autograd/gradcheck.h), on inputs away from kinks.
#include <doctest/doctest.h>

#include "autograd/node.h"
#include "tests/helpers.h"

using namespace drift;

namespace {

Tensor input(const Shape& shape, uint64_t seed, float scale = 1.0f) {
  Generator g(seed);
  return (randn(shape, Device::cpu(), &g) * scale).detach().set_requires_grad(true);
}

Tensor positive_input(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return (rand(shape, Device::cpu(), &g) * 2.0f + 0.5f).detach().set_requires_grad(true);
}

// Values with |x| >= 0.2 so a finite-difference step never crosses a kink at 0.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  std::vector<float> v = input(shape, seed).to_vector();
  for (float& x : v)
    if (std::fabs(x) < 0.2f) x += x < 0 ? -0.2f : 0.2f;
  return from_vector(v, shape).set_requires_grad(true);
}

using Fn = GradcheckFn;

}  // namespace

TEST_CASE("gradcheck: broadcasting arithmetic") {
  CHECK_GRADCHECK(Fn([](auto& x) { return x[0] + x[1]; }), (std::vector<Tensor>{input({2, 3, 4}, 1), input({3, 1}, 2)}));
  CHECK_GRADCHECK(Fn([](auto& x) { return x[0] - x[1]; }), (std::vector<Tensor>{input({4, 1}, 3), input({1, 5}, 4)}));
  CHECK_GRADCHECK(Fn([](auto& x) { return x[0] * x[1]; }), (std::vector<Tensor>{input({2, 3, 4}, 5), input({4}, 6)}));
  CHECK_GRADCHECK(Fn([](auto& x) { return x[0] / x[1]; }), (std::vector<Tensor>{input({3, 4}, 7), positive_input({3, 1}, 8)}));
  CHECK_GRADCHECK(Fn([](auto& x) { return 2.0f / x[0] - 3.0f * x[0] + 1.0f - x[0] / 4.0f; }),
                  (std::vector<Tensor>{positive_input({5}, 9)}));
}

TEST_CASE("gradcheck: elementwise functions") {
  std::vector<Tensor> any = {input({4, 5}, 11)};
  std::vector<Tensor> pos = {positive_input({4, 5}, 12)};
  std::vector<Tensor> kinked = {away_from_zero({4, 5}, 13)};
  CHECK_GRADCHECK(Fn([](auto& x) { return neg(x[0]); }), any);
  CHECK_GRADCHECK(Fn([](auto& x) { return exp(x[0]); }), any);
  CHECK_GRADCHECK(Fn([](auto& x) { return log(x[0]); }), pos);
  CHECK_GRADCHECK(Fn([](auto& x) { return sqrt(x[0]); }), pos);
  CHECK_GRADCHECK(Fn([](auto& x) { return abs(x[0]); }), kinked);
  CHECK_GRADCHECK(Fn([](auto& x) { return sin(x[0]); }), any);
  CHECK_GRADCHECK(Fn([](auto& x) { return cos(x[0]); }), any);
  CHECK_GRADCHECK(Fn([](auto& x) { return pow(x[0], 2.5f); }), pos);
  CHECK_GRADCHECK(Fn([](auto& x) { return pow(x[0], 3.0f); }), any);
  CHECK_GRADCHECK(Fn([](auto& x) { return square(x[0]); }), any);
  CHECK_GRADCHECK(Fn([](auto& x) { return relu(x[0]); }), kinked);
  CHECK_GRADCHECK(Fn([](auto& x) { return silu(x[0]); }), any);
  CHECK_GRADCHECK(Fn([](auto& x) { return gelu(x[0]); }), any);
  CHECK_GRADCHECK(Fn([](auto& x) { return sigmoid(x[0]); }), any);
  CHECK_GRADCHECK(Fn([](auto& x) { return tanh(x[0]); }), any);
  // clamp: bounds chosen away from the sampled values' neighbourhoods.
  std::vector<float> v = {-2.0f, -1.1f, -0.3f, 0.1f, 0.45f, 0.9f, 1.6f, 3.0f};
  CHECK_GRADCHECK(Fn([](auto& x) { return clamp(x[0], -1.0f, 1.0f); }),
                  (std::vector<Tensor>{from_vector(v).set_requires_grad(true)}));
}

TEST_CASE("gradcheck: reductions and softmax") {
  std::vector<Tensor> x = {input({3, 4, 5}, 21)};
  CHECK_GRADCHECK(Fn([](auto& t) { return sum(t[0]); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return sum(t[0], {0, 2}); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return sum(t[0], {1}, true); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return mean(t[0]); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return mean(t[0], {-1}, true); }), x);
  // max: distinct values spaced further apart than the finite-difference step.
  std::vector<float> spaced(60);
  for (size_t i = 0; i < spaced.size(); ++i) spaced[i] = static_cast<float>((i * 37) % 60) * 0.1f;
  std::vector<Tensor> distinct = {from_vector(spaced, {3, 4, 5}).set_requires_grad(true)};
  CHECK_GRADCHECK(Fn([](auto& t) { return max(t[0]); }), distinct);
  CHECK_GRADCHECK(Fn([](auto& t) { return max(t[0], 1); }), distinct);
  CHECK_GRADCHECK(Fn([](auto& t) { return max(t[0], 2, true); }), distinct);
  CHECK_GRADCHECK(Fn([](auto& t) { return softmax(t[0], -1); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return softmax(t[0], 1); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return log_softmax(t[0], -1); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return log_softmax(t[0], 0); }), x);
}

TEST_CASE("gradcheck: shape and indexing ops") {
  std::vector<Tensor> x = {input({2, 3, 4}, 31)};
  CHECK_GRADCHECK(Fn([](auto& t) { return reshape(t[0], {4, -1}) * 2.0f; }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return flatten(unsqueeze(t[0], 0), 2); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return squeeze(unsqueeze(t[0], 1), 1); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return transpose(t[0], 0, 2); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return permute(t[0], {1, 2, 0}); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return cat({t[0], t[1], t[0]}, 1); }),
                  (std::vector<Tensor>{input({2, 1, 3}, 32), input({2, 4, 3}, 33)}));
  CHECK_GRADCHECK(Fn([](auto& t) { return slice(t[0], -2, 1, -1); }), x);
  Tensor index = from_vector({2, 0, 2, 1});
  CHECK_GRADCHECK(Fn([index](auto& t) { return index_select(t[0], 1, index); }), x);
  Tensor gather_index = from_vector({0, 2, 2, 1, 1, 0}, {2, 3});
  CHECK_GRADCHECK(Fn([gather_index](auto& t) { return gather(t[0], 1, gather_index); }),
                  (std::vector<Tensor>{input({2, 4}, 34)}));
}

TEST_CASE("gradcheck: matmul, 2-D and batched") {
  CHECK_GRADCHECK(Fn([](auto& t) { return matmul(t[0], t[1]); }),
                  (std::vector<Tensor>{input({3, 5}, 41), input({5, 4}, 42)}));
  CHECK_GRADCHECK(Fn([](auto& t) { return matmul(t[0], t[1]); }),
                  (std::vector<Tensor>{input({2, 3, 5}, 43), input({2, 5, 4}, 44)}));
  CHECK_GRADCHECK(Fn([](auto& t) { return matmul(t[0], t[1]); }),
                  (std::vector<Tensor>{input({2, 3, 5}, 45), input({5, 4}, 46)}));
  CHECK_GRADCHECK(Fn([](auto& t) { return matmul(t[0], t[1]); }),
                  (std::vector<Tensor>{input({3, 5}, 47), input({2, 5, 4}, 48)}));
}

TEST_CASE("gradcheck: losses") {
  std::vector<Tensor> pair = {input({4, 5}, 51), input({4, 5}, 52)};
  CHECK_GRADCHECK(Fn([](auto& t) { return mse_loss(t[0], t[1]); }), pair);
  CHECK_GRADCHECK(Fn([](auto& t) { return mse_loss(t[0], t[1], Reduction::Sum); }), pair);
  CHECK_GRADCHECK(Fn([](auto& t) { return mse_loss(t[0], t[1], Reduction::None); }), pair);
  // l1 / huber have kinks at d = 0 (and at |d| = delta): keep differences well away.
  Tensor base = input({4, 5}, 53);
  Tensor offset = away_from_zero({4, 5}, 54);
  std::vector<Tensor> apart = {(base + offset).detach().set_requires_grad(true),
                               base.detach().set_requires_grad(true)};
  CHECK_GRADCHECK(Fn([](auto& t) { return l1_loss(t[0], t[1]); }), apart);
  CHECK_GRADCHECK(Fn([](auto& t) { return huber_loss(t[0], t[1], 0.1f); }), apart);
  CHECK_GRADCHECK(Fn([](auto& t) { return huber_loss(t[0], t[1], 5.0f); }), apart);
  Tensor target = from_vector({1, 0, 3});
  CHECK_GRADCHECK(Fn([target](auto& t) { return cross_entropy(t[0], target); }),
                  (std::vector<Tensor>{input({3, 4}, 55, 2.0f)}));
  CHECK_GRADCHECK(Fn([target](auto& t) { return cross_entropy(t[0], target, Reduction::None); }),
                  (std::vector<Tensor>{input({3, 4}, 56, 2.0f)}));
}

TEST_CASE("gradcheck reports a wrong backward") {
  // A deliberately wrong derivative (d/dx x^3 claimed to be 2x^2) must be caught.
  Fn wrong = [](const std::vector<Tensor>& t) {
    Tensor x = t[0];
    Tensor y = pow(x.detach(), 3.0f);
    return record("wrong_cube", y, {x}, [x](const Tensor& gy) {
      return std::vector<Tensor>{gy * 2.0f * x.detach() * x.detach()};
    });
  };
  GradcheckResult r = gradcheck(wrong, {input({5}, 61)});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("FAILED") != std::string::npos);
  CHECK(r.message.find("input 0") != std::string::npos);
}
