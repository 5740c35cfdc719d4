// loss.cpp — loss functions, each with its derivative written out.
//
// The pointwise losses share one pattern. With d = input - target and an elementwise
// penalty f (d^2, |d|, Huber), the loss is  L = reduce(f(d))  and
//   dL/d input = gf * f'(d),   dL/d target = -gf * f'(d),
// where gf is the gradient arriving at each f(d_i): gy / n for a mean, gy for a sum, or the
// incoming elementwise gradient gy itself for Reduction::None (gy: the gradient arriving at L).
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {

namespace {

float reduction_scale(Reduction reduction, int64_t n) {
  return reduction == Reduction::Mean ? 1.0f / static_cast<float>(n) : 1.0f;
}

// Sum of all elements, times `scale`, as a 0-D tensor.
Tensor scaled_total(const Tensor& x, float scale) {
  Tensor total = Tensor::empty(Shape{}, x.device());
  Backend& be = backend(x.device());
  be.sum_dim(x.data(), total.data(), DimView{1, x.numel(), 1});
  if (scale != 1.0f) be.unary(UnaryOp::MulScalar, total.data(), total.data(), 1, scale, 0.0f);
  return total;
}

Tensor pointwise_loss(const char* name, UnaryOp penalty, float p0, const Tensor& input,
                      const Tensor& target, Reduction reduction) {
  check_same_shape(input, target, name);
  check_same_device(input, target, name);
  DRIFT_CHECK(input.numel() > 0 || reduction == Reduction::None,
              name << ": empty input " << describe(input));
  Backend& be = backend(input.device());
  const int64_t n = input.numel();
  Tensor diff = Tensor::empty(input.shape(), input.device());
  Tensor elementwise = Tensor::empty(input.shape(), input.device());
  if (n > 0) {
    be.binary(BinaryOp::Sub, input.data(), target.data(), diff.data(),
              make_broadcast_plan(input.shape(), target.shape(), name));
    be.unary(penalty, diff.data(), elementwise.data(), n, p0, 0.0f);
  }
  Tensor out = reduction == Reduction::None
                   ? elementwise
                   : scaled_total(elementwise, reduction_scale(reduction, n));
  return record(name, out, {input, target}, [=](const Tensor& gy) {
    // gf: the gradient reaching each f(d_i).
    Tensor gf = reduction == Reduction::None
                    ? gy
                    : ones(diff.shape(), diff.device()) * (gy * reduction_scale(reduction, n));
    Tensor grad_diff = Tensor::empty(diff.shape(), diff.device());
    if (n > 0)
      backend(diff.device())
          .unary_backward(penalty, diff.data(), diff.data(), gf.data(), grad_diff.data(), n, p0,
                          0.0f);
    return std::vector<Tensor>{input.requires_grad() ? grad_diff : Tensor(),
                               target.requires_grad() ? neg(grad_diff) : Tensor()};
  });
}

}  // namespace

// Mean squared error: f(d) = d^2, f'(d) = 2d.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return pointwise_loss("mse_loss", UnaryOp::Square, 0.0f, input, target, reduction);
}

// Mean absolute error: f(d) = |d|, f'(d) = sign(d).
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return pointwise_loss("l1_loss", UnaryOp::Abs, 0.0f, input, target, reduction);
}

// Huber: f(d) = d^2/2 for |d| < delta, delta(|d| - delta/2) beyond; f'(d) = d or delta*sign(d).
Tensor huber_loss(const Tensor& input, const Tensor& target, float delta, Reduction reduction) {
  DRIFT_CHECK(delta > 0.0f, "huber_loss: delta must be positive, got " << delta);
  return pointwise_loss("huber_loss", UnaryOp::Huber, delta, input, target, reduction);
}

// Cross-entropy of logits z [N, C] against class indices y [N]:
//   L_n = -log softmax(z_n)[y_n]
//   dL_n/dz_n = softmax(z_n) - onehot(y_n)
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  DRIFT_CHECK(logits.defined() && logits.ndim() == 2,
              "cross_entropy: logits must be [N, C], got " << describe(logits));
  DRIFT_CHECK(target.defined() && target.ndim() == 1 && target.numel() == logits.shape()[0],
              "cross_entropy: target must be [N] class indices for logits " << describe(logits)
                                                                           << ", got "
                                                                           << describe(target));
  check_index_tensor(target, logits, 1, "cross_entropy");
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  DRIFT_CHECK(N > 0, "cross_entropy: empty batch");
  Backend& be = backend(logits.device());
  Tensor log_probs = Tensor::empty(logits.shape(), logits.device());
  be.softmax(logits.data(), log_probs.data(), DimView{N, C, 1}, /*log=*/true);
  // picked[n] = log_probs[n, y_n], one gather along the class dimension.
  Tensor picked = Tensor::empty(Shape{N}, logits.device());
  be.gather(log_probs.data(), target.data(), 1, picked.data(), DimView{N, C, 1});
  be.unary(UnaryOp::Neg, picked.data(), picked.data(), N, 0.0f, 0.0f);
  Tensor out = reduction == Reduction::None
                   ? picked
                   : scaled_total(picked, reduction_scale(reduction, N));
  return record("cross_entropy", out, {logits}, [=](const Tensor& gy) {
    Backend& be = backend(log_probs.device());
    Tensor grad = Tensor::empty(log_probs.shape(), log_probs.device());
    be.unary(UnaryOp::Exp, log_probs.data(), grad.data(), N * C, 0.0f, 0.0f);  // softmax
    Tensor minus_one = full(Shape{N}, -1.0f, grad.device());
    be.scatter_add(minus_one.data(), target.data(), 1, grad.data(), DimView{N, C, 1});
    // Scale row n by the gradient reaching L_n: gy/N (mean), gy (sum) or gy[n] (none).
    Tensor row_scale = reduction == Reduction::None
                           ? reshape(gy, Shape{N, 1})
                           : reshape(gy * reduction_scale(reduction, N), Shape{1, 1});
    return std::vector<Tensor>{grad * row_scale};
  });
}

}  // namespace drift
