// test_conventions.cpp — drift matches PyTorch exactly where implementations could choose:
// derivatives at kinks (relu, abs at 0), clamp at its bounds and at NaN, pow with exponent 0
// at x = 0, max over tied elements, clip_grad_norm_ with a NaN norm. Reference values from
// tests/fixtures/gen_conventions.py.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>

#include "autograd/ops.h"
#include "nn/optim.h"
#include "tests/helpers.h"

using namespace drift;

namespace {

const Tensor& expected(const std::string& name) {
  return test::fixture("conventions").at(name);
}

// The op's output and its input's gradient (for the fixture's upstream gradient), exactly.
void check_case(const std::string& name, const std::function<Tensor(const Tensor&)>& op) {
  INFO("case " << name);
  Tensor x = expected(name + ".in0").clone().set_requires_grad(true);
  Tensor y = op(x);
  CHECK_CLOSE(y, expected(name + ".out"), 0.0, 1e-6);
  sum(y * expected(name + ".grad_out")).backward();
  CHECK_CLOSE(x.grad(), expected(name + ".grad0"), 1e-7, 1e-6);
}

}  // namespace

TEST_CASE("conventions at kinks, bounds, ties and NaN match PyTorch") {
  check_case("relu", [](const Tensor& x) { return relu(x); });  // NaN passes, gradient too
  check_case("abs", [](const Tensor& x) { return abs(x); });    // d|x|/dx = 0 at 0
  check_case("clamp", [](const Tensor& x) { return clamp(x, -1.0f, 1.0f); });  // NaN stays
  check_case("pow0", [](const Tensor& x) { return pow(x, 0.0f); });  // gradient 0, not NaN
  check_case("pow2", [](const Tensor& x) { return pow(x, 2.0f); });
  check_case("max_ties", [](const Tensor& x) { return max(x); });  // split between the ties
  check_case("max_single", [](const Tensor& x) { return max(x); });
}

TEST_CASE("clip_grad_norm_ scales by max_norm / norm, and a NaN norm makes every gradient NaN") {
  for (const std::string name : {"clip.finite", "clip.nan"}) {
    INFO("case " << name);
    std::vector<Tensor> params;
    for (int i = 0; i < 2; ++i) {
      const Tensor& g = expected(name + ".grad" + std::to_string(i));
      Tensor p = zeros(g.shape()).set_requires_grad(true);
      sum(p * g).backward();  // p.grad = g
      params.push_back(p);
    }
    const float norm = nn::clip_grad_norm_(params, 1.0);
    const float want = expected(name + ".norm").to_vector()[0];
    if (std::isnan(want))
      CHECK(std::isnan(norm));
    else
      CHECK(norm == doctest::Approx(want).epsilon(1e-6));
    for (int i = 0; i < 2; ++i)
      CHECK_CLOSE(params[size_t(i)].grad(), expected(name + ".clipped" + std::to_string(i)), 1e-7,
                  1e-5);
  }
}

TEST_CASE("a NaN on either side of a comparison is a mismatch") {
  const Tensor nan = from_vector({1.0f, NAN}), one = from_vector({1.0f, 1.0f});
  CHECK_FALSE(test::compare(one, nan, 1e-3, 1e-3).ok);
  CHECK_FALSE(test::compare(nan, one, 1e-3, 1e-3).ok);
  CHECK(test::compare(nan, nan, 1e-3, 1e-3).ok);
  // the NaN is found even after a finite element that is already off
  CHECK(test::compare(from_vector({2.0f, 1.0f}), from_vector({1.0f, NAN}), 0.0, 0.1)
            .report.find("element 1") != std::string::npos);
}

TEST_CASE("argmax returns the first of tied maxima, as PyTorch") {
  const Tensor& x = expected("argmax.in");
  CHECK_CLOSE(argmax(x, 1), expected("argmax.dim1"), 0.0, 0.0);
  CHECK_CLOSE(argmax(x, 0), expected("argmax.dim0"), 0.0, 0.0);
  CHECK_CLOSE(argmax(reshape(x, {x.numel()}), 0, true), expected("argmax.all"), 0.0, 0.0);
  CHECK_FALSE(argmax(x, 1).requires_grad());
}
