// embedding.cpp — table lookups and position encodings: embedding and sinusoidal_embedding.
#include <cmath>

#include "autograd/node.h"
#include "nn/functional.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {
namespace nn {
namespace functional {

// out[j, :] = weight[index[j], :]   for every position j of index (flattened).
// backward: gw[index[j], :] += gy[j, :] — a row picked twice collects both gradients.
// The index itself gets no gradient (it is not a differentiable quantity).
Tensor embedding(const Tensor& index, const Tensor& weight) {
  DRIFT_CHECK(weight.defined() && weight.ndim() == 2,
              "embedding: weight must be [num_embeddings, dim], got " << describe(weight));
  check_index_tensor(index, weight, 0, "embedding");  // whole numbers in [0, num_embeddings)
  const int64_t k = index.numel(), dim = weight.size(1);
  const DimView rows{1, weight.size(0), dim};  // the table as [1, num_embeddings, dim]
  std::vector<int64_t> out_dims = index.shape().dims();
  out_dims.push_back(dim);
  Tensor out = Tensor::empty(Shape(out_dims), weight.device());
  if (out.numel() > 0)
    backend(weight.device()).index_select(weight.data(), index.data(), k, out.data(), rows);
  return record("embedding", out, {weight}, [index, k, rows, w_shape = weight.shape()](
                                                const Tensor& gy) {
    Tensor gw = zeros(w_shape, gy.device());
    if (gy.numel() > 0) backend(gy.device()).index_add(gy.data(), index.data(), k, gw.data(), rows);
    return std::vector<Tensor>{gw};
  });
}

// The sinusoidal encoding of "Attention Is All You Need" (Vaswani et al. 2017, section 3.5),
// as the annotated diffusion U-Net uses it for the time step:
//   half = dim / 2,   freq_i = exp(-ln(10000) * i / (half - 1)),  i = 0 .. half-1
//   out[b] = cat(sin(t_b * freq), cos(t_b * freq))
// Frequencies go geometrically from 1 down to 1/10000, so nearby steps differ in the fast
// features and distant steps in the slow ones. Built from differentiable ops (the gradient
// with respect to t is rarely needed, but it is correct).
Tensor sinusoidal_embedding(const Tensor& t, int64_t dim) {
  DRIFT_CHECK(t.defined() && t.ndim() == 1,
              "sinusoidal_embedding: time steps must be 1-D [B], got " << describe(t));
  DRIFT_CHECK(dim >= 4 && dim % 2 == 0,
              "sinusoidal_embedding: dim must be even and at least 4, got " << dim);
  const int64_t batch = t.size(0), half = dim / 2;
  const float step = static_cast<float>(std::log(10000.0) / static_cast<double>(half - 1));
  Tensor freqs = exp(arange(0.0, static_cast<double>(half), 1.0, t.device()) * -step);  // [half]
  Tensor angles = reshape(t, {batch, 1}) * reshape(freqs, {1, half});  // [B, half], outer product
  return cat({sin(angles), cos(angles)}, -1);
}

}  // namespace functional
}  // namespace nn
}  // namespace drift
