// dropout.cpp — inverted dropout (Srivastava et al. 2014, with the scaling moved to training
// time as PyTorch does).
#include "nn/functional.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {
namespace nn {
namespace functional {

// mask = 1/(1-p) where u >= p, else 0, for u ~ U[0, 1) drawn per element (so each element
// survives with probability 1 - p and E[mask] = 1);  out = x * mask.
// backward: gx = gy * mask — the same mask, kept by mul's backward (it captures its operands).
Tensor dropout(const Tensor& x, float p, bool training, Generator* generator) {
  DRIFT_CHECK(x.defined(), "dropout: the input is undefined");
  DRIFT_CHECK(p >= 0.0f && p <= 1.0f, "dropout: p must be in [0, 1], got " << p);
  if (!training || p == 0.0f) return x;
  const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;  // p = 1 drops everything
  Tensor uniform = rand(x.shape(), x.device(), generator);
  Tensor mask = Tensor::empty(x.shape(), x.device());
  if (x.numel() > 0)
    backend(x.device())
        .unary(UnaryOp::Step, uniform.data(), mask.data(), x.numel(), p, keep_scale);
  return mul(x, mask);  // mask has no grad: mul's backward gives gx = gy * mask only
}

}  // namespace functional
}  // namespace nn
}  // namespace drift
