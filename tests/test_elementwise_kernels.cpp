// test_elementwise_kernels.cpp — the vectorisable exp (tensor/elementwise_math.h) against
// double-precision exp, the activations built on it against libm, and the fused GroupNorm +
// SiLU kernels against the two separate ops.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

// (elementwise_math.h first: philox.h, which it includes, calls the C math functions
// unqualified, which drift's Tensor overloads of log/sin/cos would otherwise hide.)
#include "tensor/elementwise_math.h"
// NOLINT: the include order above matters
#include "nn/functional.h"
#include "tensor/cpu/cpu_backend.h"
#include "tests/helpers.h"

using namespace drift;
namespace F = drift::nn::F;

namespace {

// Distance in units in the last place between two finite floats of the same sign (the
// difference of their bit patterns, which count up monotonically within a sign).
int64_t ulp_distance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  return std::llabs(static_cast<long long>(ia) - static_cast<long long>(ib));
}

}  // namespace

TEST_CASE("exp_vectorizable is within 2 ulp of exp over the whole float range") {
  // Every 97th float of [-104, 89] (about 22 million values: results that round to 0,
  // subnormals, 1, up to FLT_MAX), walked through their bit patterns: the negative ones from
  // -104 up to -0, then +0 up to 89. Reference: exp in double, rounded to float.
  int64_t worst = 0, checked = 0;
  float worst_x = 0.0f;
  auto check = [&](uint32_t bits) {
    float x;
    std::memcpy(&x, &bits, sizeof x);
    const float expected = static_cast<float>(std::exp(static_cast<double>(x)));
    const int64_t d = ulp_distance(elementwise::exp_vectorizable(x), expected);
    if (d > worst) {
      worst = d;
      worst_x = x;
    }
    ++checked;
  };
  auto bits_of = [](float x) {
    uint32_t b;
    std::memcpy(&b, &x, sizeof b);
    return b;
  };
  for (uint32_t b = bits_of(-104.0f); b > 0x80000000u + 97u; b -= 97u) check(b);  // towards -0
  for (uint32_t b = 0; b < bits_of(89.0f); b += 97u) check(b);                     // towards 89
  INFO("worst at x = " << worst_x << ": " << worst << " ulp, " << checked << " values");
  CHECK(checked > 20000000);
  CHECK(worst <= 2);
}

TEST_CASE("exp_vectorizable keeps exp's special values") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(elementwise::exp_vectorizable(0.0f) == 1.0f);
  CHECK(elementwise::exp_vectorizable(-0.0f) == 1.0f);
  CHECK(elementwise::exp_vectorizable(inf) == inf);
  CHECK(elementwise::exp_vectorizable(89.0f) == inf);       // beyond FLT_MAX
  CHECK(elementwise::exp_vectorizable(88.72f) < inf);       // just below it
  CHECK(elementwise::exp_vectorizable(-inf) == 0.0f);
  CHECK(elementwise::exp_vectorizable(-200.0f) == 0.0f);
  CHECK(elementwise::exp_vectorizable(-100.0f) > 0.0f);    // a subnormal, not 0
  CHECK(std::isnan(elementwise::exp_vectorizable(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("SiLU, sigmoid, GELU and exp kernels match their libm versions") {
  // Through the CPU kernels (vectorised loops, 2 threads, an odd length), forward and
  // derivative, against the same float formulas written with libm's expf / erff: only the
  // exp differs, so the results agree to a few float roundings.
  const int64_t n = 200003;
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = -30.0f + 60.0f * static_cast<float>(i) / n;
  set_num_threads(2);
  auto check_op = [&](UnaryOp op, auto forward, auto derivative) {
    CAPTURE(std::string(unary_op_name(op)));
    std::vector<float> y(x.size()), ones(x.size(), 1.0f), g(x.size());
    cpu_backend().unary(op, x.data(), y.data(), n, 0.0f, 0.0f);
    cpu_backend().unary_backward(op, x.data(), y.data(), ones.data(), g.data(), n, 0.0f, 0.0f);
    double worst_y = 0.0, worst_g = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const float xi = x[static_cast<size_t>(i)];
      const float fy = forward(xi), fg = derivative(xi);
      // |error| / (2e-6 |reference| + 1e-6): relative (~16 ulp) for the values, and an
      // absolute floor for the derivatives, whose formulas cancel near their roots and where
      // y(1 - y) loses the digits of 1 - y, so one ulp of exp shows up magnified.
      worst_y = std::max(worst_y, std::fabs(y[static_cast<size_t>(i)] - fy) / (2e-6 * std::fabs(fy) + 1e-30));
      worst_g = std::max(worst_g, std::fabs(g[static_cast<size_t>(i)] - fg) / (2e-6 * std::fabs(fg) + 1e-6));
    }
    CHECK(worst_y <= 1.0);
    CHECK(worst_g <= 1.0);
  };
  auto sig = [](float v) { return 1.0f / (1.0f + std::exp(-v)); };
  check_op(UnaryOp::Silu, [&](float v) { return v * sig(v); },
           [&](float v) { return sig(v) * (1.0f + v * (1.0f - sig(v))); });
  check_op(UnaryOp::Sigmoid, sig, [&](float v) { return sig(v) * (1.0f - sig(v)); });
  check_op(UnaryOp::Gelu, [](float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); },
           [](float v) {
             return 0.5f * (1.0f + std::erf(v * 0.70710678118654752f)) +
                    v * 0.39894228040143268f * std::exp(-0.5f * v * v);
           });
  check_op(UnaryOp::Exp, [](float v) { return std::exp(v); }, [](float v) { return std::exp(v); });
}

TEST_CASE("fused group_norm_silu equals silu(group_norm) in values and gradients") {
  manual_seed(41);
  struct Case {
    Shape shape;
    int64_t groups;
    bool affine;
  };
  for (const Case& c : {Case{{3, 6, 5, 7}, 3, true}, Case{{2, 16, 28, 28}, 8, true},
                        Case{{4, 4, 1, 1}, 2, true}, Case{{2, 5, 9}, 5, false},
                        Case{{1, 8, 3, 3}, 1, true}}) {
    CAPTURE(c.shape);
    CAPTURE(c.groups);
    const int64_t C = c.shape[1];
    Tensor x = (randn(c.shape) * 2.0f + 1.5f).set_requires_grad(true);
    Tensor gamma = c.affine ? randn({C}).set_requires_grad(true) : Tensor();
    Tensor beta = c.affine ? randn({C}).set_requires_grad(true) : Tensor();
    Tensor gy = randn(c.shape);
    auto x2 = x.detach().set_requires_grad(true);
    auto gamma2 = c.affine ? gamma.detach().set_requires_grad(true) : Tensor();
    auto beta2 = c.affine ? beta.detach().set_requires_grad(true) : Tensor();

    Tensor fused = F::group_norm_silu(x, c.groups, gamma, beta);
    Tensor reference = silu(F::group_norm(x2, c.groups, gamma2, beta2));
    CHECK_CLOSE(fused, reference, 1e-5, 1e-5);
    fused.backward(gy);
    reference.backward(gy);
    CHECK_CLOSE(x.grad(), x2.grad(), 1e-5, 1e-4);
    if (c.affine) {
      CHECK_CLOSE(gamma.grad(), gamma2.grad(), 1e-4, 1e-4);
      CHECK_CLOSE(beta.grad(), beta2.grad(), 1e-4, 1e-4);
    }
  }
}

TEST_CASE("gradcheck: group_norm_silu") {
  manual_seed(42);
  CHECK_GRADCHECK([](auto& in) { return F::group_norm_silu(in[0], 2, in[1], in[2]); },
                  (std::vector<Tensor>{randn({2, 4, 3, 3}).set_requires_grad(true),
                                       randn({4}).set_requires_grad(true),
                                       randn({4}).set_requires_grad(true)}));
  CHECK_GRADCHECK([](auto& in) { return F::group_norm_silu(in[0], 3); },
                  (std::vector<Tensor>{(randn({3, 6, 5}) + 2.0f).set_requires_grad(true)}));
}
