// test_elementwise_kernels.cpp — the vectorisable exp (tensor/elementwise_math.h) against
// double-precision exp, every unary kernel and its derivative against a reference formula
// (a table keyed by tensor/elementwise_ops.h's list), and the fused GroupNorm + SiLU kernels
// against the two separate ops.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <limits>
#include <map>
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

// ---- every unary kernel against a reference formula ---------------------------------------
//
// One table keyed by the list of tensor/elementwise_ops.h: each op gives one or more input
// ranges (valid for the op: log and sqrt positive, ...), its scalar arguments, and reference
// formulas for y = f(x) and dy/dx, in double (or, where the point is to compare with libm's
// float functions, the same float formula with libm's expf / erff). The test walks
// kAllUnaryOps, so an op without an entry fails, naming the op and this file.

namespace {

// Allowed error: |kernel - reference| <= rtol |reference| + atol.
struct Tolerance {
  double rtol = 0.0, atol = 0.0;
};
constexpr Tolerance kExact{};  // no rounding at all (sign flips, comparisons, selections)
// n float roundings of the value: a float ulp is at most 2^-23 of the value.
constexpr Tolerance ulps(double n) { return Tolerance{n / 8388608.0, 0.0}; }

using Reference = double (*)(double x, double p0, double p1);

struct KernelCase {
  const char* range;  // for the report
  float lo, hi;       // x sweeps [lo, hi) in n steps
  float p0, p1;
  Reference forward, derivative;
  Tolerance y, g;
};

float sigf(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// clang-format off  (a table: one row per range of an op)
const std::map<UnaryOp, std::vector<KernelCase>>& kernel_references() {
  using X = double;  // the reference formulas' argument type
  // The libm-float references of SiLU, sigmoid, GELU and exp: only the exp differs from the
  // kernel's (exp_vectorizable vs expf), so they agree to a few float roundings. 2e-6 is
  // relative (~16 ulp) for the values; the derivatives get an absolute floor of 1e-6 as well,
  // as their formulas cancel near their roots and y(1 - y) loses the digits of 1 - y, so one
  // ulp of exp shows up magnified.
  constexpr Tolerance kLibmY{2e-6, 1e-30}, kLibmG{2e-6, 1e-6};
  static const std::map<UnaryOp, std::vector<KernelCase>> table = {
      {UnaryOp::Neg, {{"[-30, 30)", -30, 30, 0, 0,
         [](X x, X, X) { return -x; }, [](X, X, X) { return -1.0; }, kExact, kExact}}},
      {UnaryOp::Exp, {
        {"[-30, 30) vs expf", -30, 30, 0, 0,
         [](X x, X, X) -> X { return std::exp(static_cast<float>(x)); },
         [](X x, X, X) -> X { return std::exp(static_cast<float>(x)); }, kLibmY, kLibmG},
        // exp_vectorizable is within 2 ulp of the exact e^x (the test above); the derivative
        // is y itself. (Below -87.3 the results are subnormal, where ulps are not relative.)
        {"[-87, 88) vs double exp", -87, 88, 0, 0,
         [](X x, X, X) { return std::exp(x); }, [](X x, X, X) { return std::exp(x); },
         ulps(2), ulps(2)}}},
      // logf within an ulp; 1/x one rounding.
      {UnaryOp::Log, {{"[1e-3, 100)", 1e-3f, 100, 0, 0,
         [](X x, X, X) { return std::log(x); }, [](X x, X, X) { return 1.0 / x; },
         ulps(1), ulps(1)}}},
      // sqrtf is exact rounding; 0.5 / y adds a second rounding to y's.
      {UnaryOp::Sqrt, {{"[1e-4, 100)", 1e-4f, 100, 0, 0,
         [](X x, X, X) { return std::sqrt(x); }, [](X x, X, X) { return 0.5 / std::sqrt(x); },
         ulps(1), ulps(2)}}},
      {UnaryOp::Abs, {{"[-30, 30)", -30, 30, 0, 0,
         [](X x, X, X) { return std::fabs(x); },
         [](X x, X, X) -> X { return (x > 0) - (x < 0); }, kExact, kExact}}},
      // sinf / cosf within an ulp, at the same float x (so no error from x near the roots).
      {UnaryOp::Sin, {{"[-30, 30)", -30, 30, 0, 0,
         [](X x, X, X) { return std::sin(x); }, [](X x, X, X) { return std::cos(x); },
         ulps(1), ulps(1)}}},
      {UnaryOp::Cos, {{"[-30, 30)", -30, 30, 0, 0,
         [](X x, X, X) { return std::cos(x); }, [](X x, X, X) { return -std::sin(x); },
         ulps(1), ulps(1)}}},
      {UnaryOp::Relu, {{"[-30, 30)", -30, 30, 0, 0,
         [](X x, X, X) { return x > 0 ? x : 0.0; }, [](X x, X, X) { return x > 0 ? 1.0 : 0.0; },
         kExact, kExact}}},
      {UnaryOp::Silu, {{"[-30, 30) vs expf", -30, 30, 0, 0,
         [](X x, X, X) -> X { const float v = static_cast<float>(x); return v * sigf(v); },
         [](X x, X, X) -> X {
           const float v = static_cast<float>(x);
           return sigf(v) * (1.0f + v * (1.0f - sigf(v)));
         }, kLibmY, kLibmG}}},
      {UnaryOp::Gelu, {{"[-30, 30) vs erff, expf", -30, 30, 0, 0,
         [](X x, X, X) -> X {
           const float v = static_cast<float>(x);
           return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
         },
         [](X x, X, X) -> X {
           const float v = static_cast<float>(x);
           return 0.5f * (1.0f + std::erf(v * 0.70710678118654752f)) +
                  v * 0.39894228040143268f * std::exp(-0.5f * v * v);
         }, kLibmY, kLibmG}}},
      {UnaryOp::Sigmoid, {{"[-30, 30) vs expf", -30, 30, 0, 0,
         [](X x, X, X) -> X { return sigf(static_cast<float>(x)); },
         [](X x, X, X) -> X {
           const float s = sigf(static_cast<float>(x));
           return s * (1.0f - s);
         }, kLibmY, kLibmG}}},
      // The derivative 1 - y^2 is computed from the float y: where |y| is near 1 it keeps
      // only the absolute error of y^2 (~2 ulp of 1, 2.4e-7), not a relative one.
      {UnaryOp::Tanh, {{"[-10, 10)", -10, 10, 0, 0,
         [](X x, X, X) { return std::tanh(x); },
         [](X x, X, X) { return 1.0 - std::tanh(x) * std::tanh(x); },
         ulps(2), Tolerance{4.0 / 8388608.0, 2.4e-7}}}},
      // powf within an ulp; the derivative p0 powf(x, p0 - 1) rounds twice more.
      {UnaryOp::Pow, {
        {"x^2.5 on [0.01, 10)", 0.01f, 10, 2.5f, 0,
         [](X x, X p, X) { return std::pow(x, p); },
         [](X x, X p, X) { return p * std::pow(x, p - 1); }, ulps(1), ulps(2)},
        {"x^3 on [-5, 5)", -5, 5, 3.0f, 0,
         [](X x, X p, X) { return std::pow(x, p); },
         [](X x, X p, X) { return p * std::pow(x, p - 1); }, ulps(1), ulps(2)},
        {"x^-1 on [0.1, 10)", 0.1f, 10, -1.0f, 0,
         [](X x, X p, X) { return std::pow(x, p); },
         [](X x, X p, X) { return p * std::pow(x, p - 1); }, ulps(1), ulps(2)}}},
      // x * x is one rounding of the exact product; 2x is exact.
      // (ulps(0.5) is exactly the bound of a correctly rounded result: half an ulp, and an
      // ulp is at most 2^-23 of the value. Square and MulScalar reach it.)
      {UnaryOp::Square, {{"[-30, 30)", -30, 30, 0, 0,
         [](X x, X, X) { return x * x; }, [](X x, X, X) { return 2 * x; }, ulps(0.5), kExact}}},
      {UnaryOp::Clamp, {{"[-2, 2), bounds -0.5, 0.7", -2, 2, -0.5f, 0.7f,
         [](X x, X lo, X hi) { return std::min(std::max(x, lo), hi); },
         [](X x, X lo, X hi) { return x >= lo && x <= hi ? 1.0 : 0.0; }, kExact, kExact}}},
      // One rounding of the exact sum (an ulp of the result, with the double rounding
      // through the double reference).
      {UnaryOp::AddScalar, {{"[-5, 5) + 2.5", -5, 5, 2.5f, 0,
         [](X x, X p, X) { return x + p; }, [](X, X, X) { return 1.0; }, ulps(1), kExact}}},
      {UnaryOp::MulScalar, {{"[-30, 30) * -1.5", -30, 30, -1.5f, 0,
         [](X x, X p, X) { return x * p; }, [](X, X p, X) { return p; }, ulps(0.5), kExact}}},
      // Both sides of delta: 0.5 x^2 (one rounding) and delta (|x| - delta / 2) (one
      // rounding of the subtraction, delta a power of two); the derivative is x or +-delta.
      {UnaryOp::Huber, {
        {"[-5, 5), delta 1", -5, 5, 1.0f, 0,
         [](X x, X d, X) { return std::fabs(x) < d ? 0.5 * x * x : d * (std::fabs(x) - 0.5 * d); },
         [](X x, X d, X) { return std::fabs(x) < d ? x : (x > 0 ? d : -d); }, ulps(1), kExact},
        {"[-5, 5), delta 0.5", -5, 5, 0.5f, 0,
         [](X x, X d, X) { return std::fabs(x) < d ? 0.5 * x * x : d * (std::fabs(x) - 0.5 * d); },
         [](X x, X d, X) { return std::fabs(x) < d ? x : (x > 0 ? d : -d); }, ulps(1), kExact}}},
      // dropout's mask: a step of height 1 / (1 - 0.3) at 0.3 on uniform draws; flat, so
      // its derivative is 0 everywhere.
      {UnaryOp::Step, {{"[0, 1), step at 0.3", 0, 1, 0.3f, 1.0f / 0.7f,
         [](X x, X at, X height) { return x >= at ? height : 0.0; },
         [](X, X, X) { return 0.0; }, kExact, kExact}}},
  };
  return table;
}
// clang-format on

// |error| / (rtol |reference| + atol); 0 when equal, infinite when no error is allowed.
double error_ratio(double actual, double reference, const Tolerance& t) {
  const double diff = std::fabs(actual - reference);
  if (diff == 0.0) return 0.0;
  const double allowed = t.rtol * std::fabs(reference) + t.atol;
  return allowed > 0.0 ? diff / allowed : std::numeric_limits<double>::infinity();
}

}  // namespace

TEST_CASE("every unary kernel and its derivative match a reference formula") {
  // Through the CPU kernels (vectorised loops, 2 threads, an odd length), as autograd calls
  // them: backward is given the forward's y (the ops whose derivative reads the output).
  const int64_t n = 200003;
  set_num_threads(2);
  std::vector<float> x(static_cast<size_t>(n)), y(x.size()), ones(x.size(), 1.0f), g(x.size());
  for (UnaryOp op : kAllUnaryOps) {
    const std::string name = unary_op_name(op);
    auto it = kernel_references().find(op);
    if (it == kernel_references().end() || it->second.empty()) {
      FAIL_CHECK("add a kernel reference entry for " << name
                                                     << " in tests/test_elementwise_kernels.cpp");
      continue;
    }
    for (const KernelCase& c : it->second) {
      INFO("op " << name << " on " << std::string(c.range));
      for (int64_t i = 0; i < n; ++i)
        x[static_cast<size_t>(i)] = c.lo + (c.hi - c.lo) * static_cast<float>(i) / n;
      cpu_backend().unary(op, x.data(), y.data(), n, c.p0, c.p1);
      cpu_backend().unary_backward(op, x.data(), y.data(), ones.data(), g.data(), n, c.p0, c.p1);
      double worst_y = 0.0, worst_g = 0.0;
      float worst_y_x = 0.0f, worst_g_x = 0.0f;
      for (size_t i = 0; i < x.size(); ++i) {
        const double ry = error_ratio(y[i], c.forward(x[i], c.p0, c.p1), c.y);
        const double rg = error_ratio(g[i], c.derivative(x[i], c.p0, c.p1), c.g);
        if (!(ry <= worst_y)) worst_y = ry, worst_y_x = x[i];
        if (!(rg <= worst_g)) worst_g = rg, worst_g_x = x[i];
      }
      INFO("worst value at x = " << worst_y_x << " (" << worst_y << " of the tolerance), worst "
                                 << "derivative at x = " << worst_g_x << " (" << worst_g << ")");
      CHECK(worst_y <= 1.0);
      CHECK(worst_g <= 1.0);
    }
  }
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
