// linear.cpp — the fully connected layer's function, y = x W^T + b, with its backward.
//
// With the leading dimensions of x flattened into `rows` (x [rows, in], y [rows, out]):
//   forward   y  = x W^T + b          [rows, in] @ [in, out]  (+ b on every row)
//   backward  gx = gy W               [rows, out] @ [out, in]
//             gw = gy^T x             [out, rows] @ [rows, in]
//             gb = sum over rows of gy
// All three products are one GEMM each; the transposes are read in place (gemm's trans flags).
#include "autograd/node.h"
#include "nn/functional.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {
namespace nn {
namespace functional {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  DRIFT_CHECK(x.defined() && weight.defined(), "linear: the input or the weight is undefined");
  DRIFT_CHECK(weight.ndim() == 2, "linear: weight must be [out, in], got " << describe(weight));
  DRIFT_CHECK(x.ndim() >= 1 && x.size(-1) == weight.size(1),
              "linear: input " << describe(x) << " has " << (x.ndim() ? x.size(-1) : 0)
                               << " features in its last dimension, but weight "
                               << describe(weight) << " expects " << weight.size(1));
  check_same_device(x, weight, "linear");
  const int64_t in = weight.size(1), out = weight.size(0);
  if (bias.defined()) {
    DRIFT_CHECK(bias.ndim() == 1 && bias.size(0) == out,
                "linear: bias " << describe(bias) << " does not match weight " << describe(weight)
                                << " (expected [" << out << "])");
    check_same_device(x, bias, "linear");
  }
  const int64_t rows = in > 0 ? x.numel() / in : 0;
  std::vector<int64_t> out_dims = x.shape().dims();
  out_dims.back() = out;
  Tensor y = Tensor::empty(Shape(out_dims), x.device());
  Backend& be = backend(x.device());
  if (y.numel() > 0) {
    // y = x W^T, then + b broadcast over the rows (in place: y is both operand and result).
    be.gemm(false, true, rows, out, in, 1.0f, x.data(), in, weight.data(), in, 0.0f, y.data(),
            out);
    if (bias.defined())
      be.binary(BinaryOp::Add, y.data(), bias.data(), y.data(),
                make_broadcast_plan(Shape{rows, out}, bias.shape(), "linear"));
  }
  return record("linear", y, {x, weight, bias},
                [x, weight, bias, rows, in, out](const Tensor& gy) {
    Backend& be = backend(gy.device());
    Tensor gx, gw, gb;
    if (x.requires_grad()) {  // gx [rows, in] = gy [rows, out] @ W [out, in]
      gx = zeros(x.shape(), x.device());
      if (rows > 0 && out > 0)
        be.gemm(false, false, rows, in, out, 1.0f, gy.data(), out, weight.data(), in, 0.0f,
                gx.data(), in);
    }
    if (weight.requires_grad()) {  // gw [out, in] = gy^T [out, rows] @ x [rows, in]
      gw = zeros(weight.shape(), weight.device());
      if (rows > 0)
        be.gemm(true, false, out, in, rows, 1.0f, gy.data(), out, x.data(), in, 0.0f,
                gw.data(), in);
    }
    if (bias.defined() && bias.requires_grad()) {  // gb [out] = sum over rows of gy
      gb = zeros(bias.shape(), bias.device());
      if (rows > 0) be.sum_dim(gy.data(), gb.data(), DimView{1, rows, out});
    }
    return std::vector<Tensor>{gx, gw, gb};
  });
}

}  // namespace functional
}  // namespace nn
}  // namespace drift
