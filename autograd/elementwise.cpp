// elementwise.cpp — arithmetic with broadcasting and the elementwise functions, each with its
// backward formula beside the forward.
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {

// ---- binary arithmetic ---------------------------------------------------------------------

namespace {

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_op_name(op);
  check_same_device(a, b, name);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  BroadcastPlan plan = make_broadcast_plan(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, a.device());
  if (out.numel() > 0) backend(a.device()).binary(op, a.data(), b.data(), out.data(), plan);
  return out;
}

}  // namespace

// out = a + b:   ga = gy,   gb = gy   (each summed back to its operand's shape: broadcasting
// used one element of a smaller operand many times, so its gradient is the sum of all uses).
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, a, b);
  return record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& gy) {
    return std::vector<Tensor>{sum_to(gy, sa), sum_to(gy, sb)};
  });
}

// out = a - b:   ga = gy,   gb = -gy
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, a, b);
  return record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& gy) {
    return std::vector<Tensor>{sum_to(gy, sa), sum_to(neg(gy), sb)};
  });
}

// out = a * b:   ga = gy * b,   gb = gy * a
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, a, b);
  return record("mul", out, {a, b}, [a, b](const Tensor& gy) {
    return std::vector<Tensor>{a.requires_grad() ? sum_to(gy * b, a.shape()) : Tensor(),
                               b.requires_grad() ? sum_to(gy * a, b.shape()) : Tensor()};
  });
}

// out = a / b:   ga = gy / b,   gb = -gy a / b^2 = -gy * out / b
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, a, b);
  return record("div", out, {a, b}, [a, b, out = out.detach()](const Tensor& gy) {
    return std::vector<Tensor>{a.requires_grad() ? sum_to(gy / b, a.shape()) : Tensor(),
                               b.requires_grad() ? sum_to(neg(gy * out / b), b.shape()) : Tensor()};
  });
}

// ---- unary functions -----------------------------------------------------------------------
//
// All unary functions share one shape: the kernel computes y = f(x), and backward asks the
// kernel for gx = gy * f'(x). The formulas for f and f' sit side by side in
// tensor/elementwise_math.h (one place for the CPU and the GPU).

namespace {

// Backward keeps y only for the ops whose derivative is cheapest from the output (exp: y;
// sigmoid: y(1-y); tanh: 1-y^2; sqrt: 1/(2y): the "Output" rows of tensor/elementwise_ops.h);
// for the rest it needs only x.
Tensor unary_op(UnaryOp op, const Tensor& x, float p0 = 0.0f, float p1 = 0.0f) {
  DRIFT_CHECK(x.defined(), unary_op_name(op) << ": the input is undefined");
  Tensor y = Tensor::empty(x.shape(), x.device());
  if (y.numel() > 0) backend(x.device()).unary(op, x.data(), y.data(), x.numel(), p0, p1);
  if (!any_requires_grad({&x})) return y;
  Tensor saved_y = derivative_uses_output(op) ? y.detach() : Tensor();
  return record(unary_op_name(op), y, {x}, [op, x, saved_y, p0, p1](const Tensor& gy) {
    Tensor gx = Tensor::empty(x.shape(), x.device());
    const float* y_data = saved_y.defined() ? saved_y.data() : x.data();  // unused if x
    if (gx.numel() > 0)
      backend(x.device())
          .unary_backward(op, x.data(), y_data, gy.data(), gx.data(), x.numel(), p0, p1);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace

Tensor neg(const Tensor& x) { return unary_op(UnaryOp::Neg, x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::Sqrt, x); }
Tensor abs(const Tensor& x) { return unary_op(UnaryOp::Abs, x); }
Tensor sin(const Tensor& x) { return unary_op(UnaryOp::Sin, x); }
Tensor cos(const Tensor& x) { return unary_op(UnaryOp::Cos, x); }
Tensor pow(const Tensor& x, float exponent) { return unary_op(UnaryOp::Pow, x, exponent); }
Tensor square(const Tensor& x) { return unary_op(UnaryOp::Square, x); }
Tensor clamp(const Tensor& x, float min, float max) {
  DRIFT_CHECK(min <= max, "clamp: min " << min << " is larger than max " << max);
  return unary_op(UnaryOp::Clamp, x, min, max);
}
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::Relu, x); }
Tensor silu(const Tensor& x) { return unary_op(UnaryOp::Silu, x); }
Tensor gelu(const Tensor& x) { return unary_op(UnaryOp::Gelu, x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::Sigmoid, x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::Tanh, x); }

// Scalar variants: x + s and x * s are unary ops (no broadcasting, no scalar tensor).
Tensor add(const Tensor& a, float b) { return unary_op(UnaryOp::AddScalar, a, b); }
Tensor mul(const Tensor& a, float b) { return unary_op(UnaryOp::MulScalar, a, b); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, float b) { return add(a, b); }
Tensor operator-(const Tensor& a, float b) { return add(a, -b); }
Tensor operator*(const Tensor& a, float b) { return mul(a, b); }
Tensor operator/(const Tensor& a, float b) { return mul(a, 1.0f / b); }
Tensor operator+(float a, const Tensor& b) { return add(b, a); }
Tensor operator-(float a, const Tensor& b) { return add(neg(b), a); }
Tensor operator*(float a, const Tensor& b) { return mul(b, a); }
Tensor operator/(float a, const Tensor& b) { return mul(pow(b, -1.0f), a); }
Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace drift
