// attention.cpp — the two attention mechanisms of the diffusion U-Nets, composed from
// differentiable ops (matmul, softmax, transpose), so their backward passes are those ops'
// backward passes chained by the engine.
#include <cmath>

#include "nn/functional.h"
#include "tensor/error.h"

namespace drift {
namespace nn {
namespace functional {

namespace {

void check_leading_dims(const char* op, const Tensor& a, const Tensor& b) {
  bool same = a.ndim() == b.ndim();
  for (int64_t d = 0; same && d < a.ndim() - 2; ++d) same = a.size(d) == b.size(d);
  DRIFT_CHECK(same, op << ": leading (batch, head) dimensions differ: " << describe(a) << " and "
                       << describe(b));
}

}  // namespace

// Scaled dot-product attention (Vaswani et al. 2017, eq. 1):
//   Attention(Q, K, V) = softmax(Q K^T * scale) V,   scale = 1/sqrt(d) by default,
// so each of the N queries returns an average of the M values, weighted by how well the
// query matches each key. The 1/sqrt(d) keeps the dot products' variance near 1 so the
// softmax does not saturate.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    float scale) {
  const char* op = "scaled_dot_product_attention";
  DRIFT_CHECK(q.defined() && k.defined() && v.defined(), op << ": an input is undefined");
  DRIFT_CHECK(q.ndim() >= 2 && k.ndim() == q.ndim() && v.ndim() == q.ndim(),
              op << ": q, k, v must have the same number (>= 2) of dims: " << describe(q) << ", "
                 << describe(k) << ", " << describe(v));
  check_leading_dims(op, q, k);
  check_leading_dims(op, q, v);
  DRIFT_CHECK(q.size(-1) == k.size(-1) && k.size(-2) == v.size(-2),
              op << ": expected q [..., N, d], k [..., M, d], v [..., M, dv], got " << describe(q)
                 << ", " << describe(k) << ", " << describe(v));
  if (scale == 0.0f) scale = 1.0f / std::sqrt(static_cast<float>(q.size(-1)));
  Tensor scores = matmul(q, transpose(k, -1, -2)) * scale;  // [..., N, M]
  Tensor weights = softmax(scores, -1);                     // each query's row sums to 1
  return matmul(weights, v);                                // [..., N, dv]
}

// Linear ("efficient") attention, as the annotated-diffusion LinearAttention computes it.
// Normalising q over its features and k over the positions lets the product be
// re-associated: (q^T k) v^T would be N x N, but k v^T is only d x e, so
//   context = softmax_N(k) v^T                       [..., d, e]
//   out     = context^T (softmax_d(q) * scale)       [..., e, N]
Tensor linear_attention(const Tensor& q, const Tensor& k, const Tensor& v, float scale) {
  const char* op = "linear_attention";
  DRIFT_CHECK(q.defined() && k.defined() && v.defined(), op << ": an input is undefined");
  DRIFT_CHECK(q.ndim() >= 2 && k.ndim() == q.ndim() && v.ndim() == q.ndim(),
              op << ": q, k, v must have the same number (>= 2) of dims: " << describe(q) << ", "
                 << describe(k) << ", " << describe(v));
  check_leading_dims(op, q, k);
  check_leading_dims(op, q, v);
  DRIFT_CHECK(q.size(-2) == k.size(-2) && q.size(-1) == k.size(-1) && k.size(-1) == v.size(-1),
              op << ": expected q [..., d, N], k [..., d, N], v [..., e, N], got " << describe(q)
                 << ", " << describe(k) << ", " << describe(v));
  Tensor q_weights = softmax(q, -2) * scale;                // over the d features
  Tensor k_weights = softmax(k, -1);                        // over the N positions
  Tensor context = matmul(k_weights, transpose(v, -1, -2));  // [..., d, e]
  return matmul(transpose(context, -1, -2), q_weights);     // [..., e, N]
}

}  // namespace functional
}  // namespace nn
}  // namespace drift
