// elementwise_math.h — the math of every elementwise op, written once for both devices.
//
// Each unary op is a small struct with its forward formula y = f(x) and, right beside it,
// the derivative dy/dx used by backward (gx = gy * dy/dx). Both CPU (cpu/elementwise.cpp)
// and CUDA (cuda/elementwise.cu) kernels call these same functions, so an op's equation
// exists in exactly one place. `p0`, `p1` are the op's scalar arguments (see UnaryOp).
//
// Which ops exist is decided by the list in tensor/elementwise_ops.h (its top says how to add
// one). The table below gives each listed op its formulas; the dispatch (visit_unary) is
// generated from the list, so an op in the list without a row here does not compile, and
// neither does a row whose name is not in the list.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "tensor/backend.h"
#include "tensor/philox.h"  // DRIFT_HOST_DEVICE

namespace drift {
namespace elementwise {

#define DRIFT_UNARY(Name, forward_expr, derivative_expr)                                   \
  struct Name {                                                                           \
    static constexpr UnaryOp op = UnaryOp::Name; /* the row must be an op of the list */  \
    DRIFT_HOST_DEVICE static float forward(float x, float p0, float p1) {                 \
      (void)p0;                                                                           \
      (void)p1;                                                                           \
      return forward_expr;                                                                \
    }                                                                                     \
    DRIFT_HOST_DEVICE static float derivative(float x, float y, float p0, float p1) {     \
      (void)x;                                                                            \
      (void)y;                                                                            \
      (void)p0;                                                                           \
      (void)p1;                                                                           \
      return derivative_expr;                                                             \
    }                                                                                     \
  };

// e^x for float, written so that a CPU loop over it vectorises: no libm call (a call to
// expf is opaque to the vectoriser and sets errno), no branches, only multiply-adds, a
// rounding trick and integer bit operations. It is Cephes' expf (S. L. Moshier, "Methods and
// Programs for Mathematical Functions", 1989), in three steps:
//   1. range reduction: n = round(x / ln 2), r = x - n ln 2, so e^x = 2^n e^r, |r| <= ln2 / 2;
//      ln 2 is split (Cody & Waite) into C1 = 0.693359375, exact in 9 bits so n C1 is exact,
//      and C2 = ln 2 - C1 = -2.12194440e-4, so r keeps full precision;
//   2. e^r = 1 + r + r^2 P(r), P a degree-5 minimax polynomial (Cephes' coefficients);
//   3. scaling by 2^n, built in the exponent bits of a float. Done as 2^(n/2) 2^(n - n/2) so
//      that results in the subnormal range (x < -87.3) and up to FLT_MAX stay right.
// Accuracy: within 2 ulp of the exact e^x over the whole float range, subnormals included
// (tests/test_kernels checks it against double-precision exp on a dense sweep); +-inf and
// NaN behave as expf's. On the GPU, CUDA's own expf is already fast and is used instead.
DRIFT_HOST_DEVICE float exp_vectorizable(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  // Clamp so that n stays in [-150, 128] (below: the result rounds to 0; above: inf).
  // A NaN fails both comparisons, stays NaN here and is returned as such at the end.
  float clamped = x < -104.0f ? -104.0f : x;
  clamped = clamped > 89.0f ? 89.0f : clamped;
  // round(x log2 e) by adding and subtracting 1.5 * 2^23: the sum has no bits below 1.
  const float shifter = 12582912.0f;
  const float n = (clamped * 1.44269504088896341f + shifter) - shifter;
  const float r = (clamped - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // 2^n = 2^half * 2^(n - half): each factor is a normal float, exponent field e + 127.
  const int32_t n_int = static_cast<int32_t>(n);
  const int32_t half = n_int / 2;
  const uint32_t bits1 = static_cast<uint32_t>(half + 127) << 23;
  const uint32_t bits2 = static_cast<uint32_t>(n_int - half + 127) << 23;
  float scale1, scale2;
  std::memcpy(&scale1, &bits1, sizeof scale1);
  std::memcpy(&scale2, &bits2, sizeof scale2);
  const float result = p * scale1 * scale2;
  return x != x ? x : result;
#endif
}

DRIFT_HOST_DEVICE float sigmoid(float x) { return 1.0f / (1.0f + exp_vectorizable(-x)); }

// clang-format off  (a table: each function and its derivative on one row)
//           name       y = f(x)                                dy/dx
DRIFT_UNARY(Neg,        -x,                                     -1.0f)
DRIFT_UNARY(Exp,        exp_vectorizable(x),                    y)
DRIFT_UNARY(Log,        logf(x),                                1.0f / x)
DRIFT_UNARY(Sqrt,       sqrtf(x),                               0.5f / y)
// d|x|/dx = sign(x), and 0 at x = 0 (PyTorch's choice).
DRIFT_UNARY(Abs,        fabsf(x),                               (x > 0.0f) - (x < 0.0f))
DRIFT_UNARY(Sin,        sinf(x),                                cosf(x))
DRIFT_UNARY(Cos,        cosf(x),                                -sinf(x))
// As PyTorch: the derivative at 0 is 0, and a NaN passes through (`x > 0 ? x : 0` would
// hide it) with the gradient passed on as well (PyTorch masks the gradient where y <= 0).
DRIFT_UNARY(Relu,       x < 0.0f ? 0.0f : x,                    x <= 0.0f ? 0.0f : 1.0f)
// silu(x) = x s(x), s = sigmoid:  silu'(x) = s(x) (1 + x (1 - s(x))).
DRIFT_UNARY(Silu,       x * sigmoid(x),
                        sigmoid(x) * (1.0f + x * (1.0f - sigmoid(x))))
// gelu(x) = x Phi(x), Phi(x) = (1 + erf(x/sqrt 2))/2:  gelu'(x) = Phi(x) + x phi(x),
// phi(x) = exp(-x^2/2)/sqrt(2 pi) the standard normal density.
DRIFT_UNARY(Gelu,       0.5f * x * (1.0f + erff(x * 0.70710678118654752f)),
                        0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
                            x * 0.39894228040143268f * exp_vectorizable(-0.5f * x * x))
DRIFT_UNARY(Sigmoid,    sigmoid(x),                             y * (1.0f - y))
DRIFT_UNARY(Tanh,       tanhf(x),                               1.0f - y * y)
// d(x^p)/dx = p x^(p-1); exactly 0 for p = 0 (x^0 = 1 everywhere), also at x = 0 where
// 0 · 0^(-1) would be NaN — PyTorch's convention.
DRIFT_UNARY(Pow,        powf(x, p0),                            p0 == 0.0f ? 0.0f : p0 * powf(x, p0 - 1.0f))
DRIFT_UNARY(Square,     x * x,                                  2.0f * x)
// Gradient passes where the value was not clipped (x inside [p0, p1], bounds included,
// PyTorch's choice). A NaN stays NaN (fmaxf alone would turn it into p0) and gets gradient 0.
DRIFT_UNARY(Clamp,      x != x ? x : fminf(fmaxf(x, p0), p1),   (x >= p0 && x <= p1) ? 1.0f : 0.0f)
DRIFT_UNARY(AddScalar,  x + p0,                                 1.0f)
DRIFT_UNARY(MulScalar,  x * p0,                                 p0)
// Huber with threshold delta = p0: quadratic near 0, linear beyond, continuous slope.
DRIFT_UNARY(Huber,      fabsf(x) < p0 ? 0.5f * x * x : p0 * (fabsf(x) - 0.5f * p0),
                        fabsf(x) < p0 ? x : (x > 0.0f ? p0 : -p0))
// A step of height p1 at p0; flat on both sides, so its derivative is 0 (it is only ever
// applied to random draws, never to values that need a gradient).
DRIFT_UNARY(Step,       x >= p0 ? p1 : 0.0f,                    0.0f)
// clang-format on

#undef DRIFT_UNARY

// Calls f(Op{}) with the struct of `op`: turns the run-time enum into a compile-time type
// so each op gets its own tight (vectorisable) loop.
template <class F>
void visit_unary(UnaryOp op, F&& f) {
  switch (op) {
#define DRIFT_VISIT_CASE(Name, ...) \
  case UnaryOp::Name: return f(Name{});
    DRIFT_UNARY_OPS(DRIFT_VISIT_CASE)
#undef DRIFT_VISIT_CASE
  }
}

// The binary ops: out = f(a, b).
#define DRIFT_BINARY(Name, expr)                                                 \
  struct Name {                                                                 \
    static constexpr BinaryOp op = BinaryOp::Name; /* must be an op of the list */ \
    DRIFT_HOST_DEVICE static float apply(float a, float b) { return expr; }     \
  };

// clang-format off
//           name   out = f(a, b)
DRIFT_BINARY(Add,   a + b)
DRIFT_BINARY(Sub,   a - b)
DRIFT_BINARY(Mul,   a * b)
DRIFT_BINARY(Div,   a / b)
// clang-format on

#undef DRIFT_BINARY

template <class F>
void visit_binary(BinaryOp op, F&& f) {
  switch (op) {
#define DRIFT_VISIT_CASE(Name, ...) \
  case BinaryOp::Name: return f(Name{});
    DRIFT_BINARY_OPS(DRIFT_VISIT_CASE)
#undef DRIFT_VISIT_CASE
  }
}

}  // namespace elementwise
}  // namespace drift
