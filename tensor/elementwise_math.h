// elementwise_math.h — the math of every elementwise op, written once for both devices.
//
// Each unary op is a small struct with its forward formula y = f(x) and, right beside it,
// the derivative dy/dx used by backward (gx = gy * dy/dx). Both CPU (cpu/elementwise.cpp)
// and CUDA (cuda/elementwise.cu) kernels call these same functions, so an op's equation
// exists in exactly one place. `p0`, `p1` are the op's scalar arguments (see UnaryOp).
#pragma once

#include <cmath>

#include "tensor/backend.h"
#include "tensor/philox.h"  // DRIFT_HOST_DEVICE

namespace drift {
namespace elementwise {

#define DRIFT_UNARY(Name, forward_expr, derivative_expr)                                   \
  struct Name {                                                                           \
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

DRIFT_HOST_DEVICE float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

//           name       y = f(x)                                dy/dx
DRIFT_UNARY(Neg,        -x,                                     -1.0f)
DRIFT_UNARY(Exp,        expf(x),                                y)
DRIFT_UNARY(Log,        logf(x),                                1.0f / x)
DRIFT_UNARY(Sqrt,       sqrtf(x),                               0.5f / y)
// d|x|/dx = sign(x), and 0 at x = 0 (PyTorch's choice).
DRIFT_UNARY(Abs,        fabsf(x),                               (x > 0.0f) - (x < 0.0f))
DRIFT_UNARY(Sin,        sinf(x),                                cosf(x))
DRIFT_UNARY(Cos,        cosf(x),                                -sinf(x))
DRIFT_UNARY(Relu,       x > 0.0f ? x : 0.0f,                    x > 0.0f ? 1.0f : 0.0f)
// silu(x) = x s(x), s = sigmoid:  silu'(x) = s(x) (1 + x (1 - s(x))).
DRIFT_UNARY(Silu,       x * sigmoid(x),
                        sigmoid(x) * (1.0f + x * (1.0f - sigmoid(x))))
// gelu(x) = x Phi(x), Phi(x) = (1 + erf(x/sqrt 2))/2:  gelu'(x) = Phi(x) + x phi(x),
// phi(x) = exp(-x^2/2)/sqrt(2 pi) the standard normal density.
DRIFT_UNARY(Gelu,       0.5f * x * (1.0f + erff(x * 0.70710678118654752f)),
                        0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
                            x * 0.39894228040143268f * expf(-0.5f * x * x))
DRIFT_UNARY(Sigmoid,    sigmoid(x),                             y * (1.0f - y))
DRIFT_UNARY(Tanh,       tanhf(x),                               1.0f - y * y)
// d(x^p)/dx = p x^(p-1).
DRIFT_UNARY(Pow,        powf(x, p0),                            p0 * powf(x, p0 - 1.0f))
// Gradient passes where the value was not clipped (x inside [p0, p1], PyTorch's choice).
DRIFT_UNARY(Clamp,      fminf(fmaxf(x, p0), p1),                (x >= p0 && x <= p1) ? 1.0f : 0.0f)
DRIFT_UNARY(AddScalar,  x + p0,                                 1.0f)
DRIFT_UNARY(MulScalar,  x * p0,                                 p0)
// Huber with threshold delta = p0: quadratic near 0, linear beyond, continuous slope.
DRIFT_UNARY(Huber,      fabsf(x) < p0 ? 0.5f * x * x : p0 * (fabsf(x) - 0.5f * p0),
                        fabsf(x) < p0 ? x : (x > 0.0f ? p0 : -p0))
// A step of height p1 at p0; flat on both sides, so its derivative is 0 (it is only ever
// applied to random draws, never to values that need a gradient).
DRIFT_UNARY(Step,       x >= p0 ? p1 : 0.0f,                    0.0f)

#undef DRIFT_UNARY

// Calls f(Op{}) with the struct of `op`: turns the run-time enum into a compile-time type
// so each op gets its own tight (vectorisable) loop.
template <class F>
void visit_unary(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::Neg: return f(Neg{});
    case UnaryOp::Exp: return f(Exp{});
    case UnaryOp::Log: return f(Log{});
    case UnaryOp::Sqrt: return f(Sqrt{});
    case UnaryOp::Abs: return f(Abs{});
    case UnaryOp::Sin: return f(Sin{});
    case UnaryOp::Cos: return f(Cos{});
    case UnaryOp::Relu: return f(Relu{});
    case UnaryOp::Silu: return f(Silu{});
    case UnaryOp::Gelu: return f(Gelu{});
    case UnaryOp::Sigmoid: return f(Sigmoid{});
    case UnaryOp::Tanh: return f(Tanh{});
    case UnaryOp::Pow: return f(Pow{});
    case UnaryOp::Clamp: return f(Clamp{});
    case UnaryOp::AddScalar: return f(AddScalar{});
    case UnaryOp::MulScalar: return f(MulScalar{});
    case UnaryOp::Huber: return f(Huber{});
    case UnaryOp::Step: return f(Step{});
  }
}

// The binary ops: out = f(a, b).
struct Add { DRIFT_HOST_DEVICE static float apply(float a, float b) { return a + b; } };
struct Sub { DRIFT_HOST_DEVICE static float apply(float a, float b) { return a - b; } };
struct Mul { DRIFT_HOST_DEVICE static float apply(float a, float b) { return a * b; } };
struct Div { DRIFT_HOST_DEVICE static float apply(float a, float b) { return a / b; } };

template <class F>
void visit_binary(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add: return f(Add{});
    case BinaryOp::Sub: return f(Sub{});
    case BinaryOp::Mul: return f(Mul{});
    case BinaryOp::Div: return f(Div{});
  }
}

}  // namespace elementwise
}  // namespace drift
