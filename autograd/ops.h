// ops.h — the differentiable operations. Each is defined in autograd/<group>.cpp with its
// forward computation and its backward formula side by side:
//
//   elementwise.cpp  arithmetic with broadcasting, scalar variants, exp/log/..., activations
//   reduce.cpp       sum, mean, max, softmax, log_softmax
//   shape.cpp        reshape, transpose/permute, cat, slice, index_select, gather
//   matmul.cpp       matrix products (2-D and batched)
//   loss.cpp         mse, l1, huber, cross-entropy
//
// All ops check their inputs (shapes, devices) and throw drift::Error naming the op.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace drift {

// ---- elementwise arithmetic (NumPy broadcasting) ------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float b);
Tensor mul(const Tensor& a, float b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, float b);
Tensor operator-(const Tensor& a, float b);
Tensor operator*(const Tensor& a, float b);
Tensor operator/(const Tensor& a, float b);
Tensor operator+(float a, const Tensor& b);
Tensor operator-(float a, const Tensor& b);
Tensor operator*(float a, const Tensor& b);
Tensor operator/(float a, const Tensor& b);
Tensor operator-(const Tensor& a);

// ---- elementwise functions -------------------------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor pow(const Tensor& x, float exponent);
Tensor square(const Tensor& x);  // x^2
Tensor clamp(const Tensor& x, float min, float max);
Tensor relu(const Tensor& x);
Tensor silu(const Tensor& x);     // x * sigmoid(x), a.k.a. swish
Tensor gelu(const Tensor& x);     // exact (erf) GELU, PyTorch's default
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// ---- reductions ----------------------------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements -> scalar
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor max(const Tensor& x);  // largest element -> scalar
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);  // values along dim
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // indices (no gradient)
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Sums `grad` down to `shape` (the reverse of broadcasting): what every broadcasting op's
// backward does with its gradient.
Tensor sum_to(const Tensor& grad, const Shape& shape);

// ---- shape and indexing ----------------------------------------------------------------
// New shape with the same elements; one dimension may be -1 (inferred). Shares storage.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0);  // dims start_dim.. merged into one
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);  // copies (contiguous result)
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
// Elements start..end-1 along dim (negative start/end count from the end).
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);
// x's slices along dim at the given indices (a 1-D tensor of whole numbers).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out[..., j, ...] = x[..., index[..., j, ...], ...] along dim (torch.gather).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);

// ---- matrix products -------------------------------------------------------------------
// a [M, K] @ b [K, N], or batched: a [..., M, K] @ b [..., K, N] with equal leading dims, or
// a [..., M, K] @ b [K, N] (one matrix applied to every batch element).
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- losses --------------------------------------------------------------------------------
enum class Reduction { Mean, Sum, None };
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// Huber: 0.5 d^2 for |d| < delta, delta (|d| - delta/2) beyond; delta = 1 is smooth-L1.
Tensor huber_loss(const Tensor& input, const Tensor& target, float delta = 1.0f,
                  Reduction reduction = Reduction::Mean);
// logits [N, C], target [N] class indices (whole numbers in [0, C)): mean of -log softmax.
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     Reduction reduction = Reduction::Mean);

}  // namespace drift
