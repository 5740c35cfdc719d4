// matmul.cpp — matrix products. C = A B with A [M, K], B [K, N]:
//   dA = dC B^T     dB = A^T dC
// Both run on the same gemm kernel as the forward pass, telling it to read an operand
// transposed instead of materialising the transpose.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {

namespace {

// How the two operands of a (possibly batched) product line up.
struct MatmulPlan {
  int64_t batch = 1, M = 0, K = 0, N = 0;
  bool a_batched = false, b_batched = false;  // false: one matrix shared by every batch item
  Shape out_shape;
};

MatmulPlan plan_matmul(const Tensor& a, const Tensor& b) {
  DRIFT_CHECK(a.defined() && b.defined(), "matmul: an operand is undefined");
  check_same_device(a, b, "matmul");
  DRIFT_CHECK(a.ndim() >= 2 && b.ndim() >= 2,
              "matmul: operands must be at least 2-D, got " << describe(a) << " and "
                                                             << describe(b));
  MatmulPlan p;
  p.M = a.shape()[a.ndim() - 2];
  p.K = a.shape()[a.ndim() - 1];
  p.N = b.shape()[b.ndim() - 1];
  DRIFT_CHECK(b.shape()[b.ndim() - 2] == p.K,
              "matmul: inner sizes differ: " << describe(a) << " @ " << describe(b));
  p.a_batched = a.ndim() > 2;
  p.b_batched = b.ndim() > 2;
  const Tensor& batched = p.a_batched ? a : b;
  if (p.a_batched && p.b_batched) {
    DRIFT_CHECK(a.ndim() == b.ndim(), "matmul: batch dims differ: " << describe(a) << " @ "
                                                                      << describe(b));
    for (int64_t d = 0; d < a.ndim() - 2; ++d)
      DRIFT_CHECK(a.shape()[d] == b.shape()[d],
                  "matmul: batch dims differ: " << describe(a) << " @ " << describe(b));
  }
  for (int64_t d = 0; d < batched.ndim() - 2; ++d) {
    p.batch *= batched.shape()[d];
    p.out_shape.push_back(batched.shape()[d]);
  }
  p.out_shape.push_back(p.M);
  p.out_shape.push_back(p.N);
  return p;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  MatmulPlan p = plan_matmul(a, b);
  Tensor out = Tensor::empty(p.out_shape, a.device());
  Backend& be = backend(a.device());
  const int64_t M = p.M, K = p.K, N = p.N;
  if (out.numel() > 0) {
    if (p.a_batched && !p.b_batched) {
      // [B, M, K] @ [K, N] is one [B*M, K] @ [K, N] product: a bigger, faster GEMM.
      be.gemm(false, false, p.batch * M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f,
              out.data(), N);
    } else {
      be.gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, out.data(), N,
              p.batch, p.a_batched ? M * K : 0, p.b_batched ? K * N : 0, M * N);
    }
  }
  return record("matmul", out, {a, b}, [a, b, p](const Tensor& gy) {
    Backend& be = backend(gy.device());
    const int64_t M = p.M, K = p.K, N = p.N;
    Tensor ga, gb;
    if (a.requires_grad()) {
      // ga = gy B^T, per batch item (B shared: stride 0).
      ga = Tensor::empty(a.shape(), a.device());
      if (p.a_batched && !p.b_batched) {
        be.gemm(false, true, p.batch * M, K, N, 1.0f, gy.data(), N, b.data(), N, 0.0f,
                ga.data(), K);
      } else if (p.a_batched || !p.b_batched) {
        be.gemm(false, true, M, K, N, 1.0f, gy.data(), N, b.data(), N, 0.0f, ga.data(), K,
                p.batch, M * N, p.b_batched ? K * N : 0, M * K);
      } else {
        // A shared by every batch item: its gradient sums the items' contributions,
        // accumulated with beta = 1 (sum over b of gy_b B_b^T).
        ga.fill_(0.0f);
        for (int64_t i = 0; i < p.batch; ++i)
          be.gemm(false, true, M, K, N, 1.0f, gy.data() + i * M * N, N, b.data() + i * K * N, N,
                  1.0f, ga.data(), K);
      }
    }
    if (b.requires_grad()) {
      // gb = A^T gy.
      gb = Tensor::empty(b.shape(), b.device());
      if (p.a_batched && !p.b_batched) {
        // B shared: sum over the batch = one product over the stacked [B*M] rows.
        be.gemm(true, false, K, N, p.batch * M, 1.0f, a.data(), K, gy.data(), N, 0.0f,
                gb.data(), N);
      } else {
        be.gemm(true, false, K, N, M, 1.0f, a.data(), K, gy.data(), N, 0.0f, gb.data(), N,
                p.batch, p.a_batched ? M * K : 0, M * N, K * N);
      }
    }
    return std::vector<Tensor>{ga, gb};
  });
}

}  // namespace drift
