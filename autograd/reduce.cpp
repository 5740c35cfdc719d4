// reduce.cpp — sum, mean, max and softmax along dimensions, with their backward formulas.
#include <algorithm>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {

namespace {

// Sorted, de-duplicated, non-negative dims; all dims when `dims` is empty.
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim,
                                    const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(normalize_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Shape keepdim_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out = shape;
  for (int64_t d : dims) out[d] = 1;
  return out;
}

Shape squeezed_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out;
  for (int64_t d = 0; d < shape.ndim(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) out.push_back(shape[d]);
  return out;
}

// Sums the given dims away (keeping them as size 1): one [outer, n, inner] pass per run of
// adjacent dims (summing dims 2 and 3 of [N, C, H, W] is one pass over rows of H * W values,
// as a bias gradient needs, not two).
Tensor sum_keepdim_raw(const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor current = x;
  Shape shape = x.shape();
  for (size_t end = dims.size(); end > 0;) {
    size_t begin = end - 1;  // the run dims[begin..end) of consecutive dims
    while (begin > 0 && dims[begin - 1] + 1 == dims[begin]) --begin;
    const int64_t first = dims[begin], last = dims[end - 1];
    int64_t n = 1;
    for (int64_t d = first; d <= last; ++d) n *= shape[d];
    if (n != 1) {
      DimView v{1, n, 1};
      for (int64_t d = 0; d < first; ++d) v.outer *= shape[d];
      for (int64_t d = last + 1; d < shape.ndim(); ++d) v.inner *= shape[d];
      for (int64_t d = first; d <= last; ++d) shape[d] = 1;
      Tensor next = Tensor::empty(shape, x.device());
      backend(x.device()).sum_dim(current.data(), next.data(), v);
      current = next;
    }
    end = begin;
  }
  if (current.same(x)) current = x.clone();  // always a fresh tensor
  return current.view_as_shape(shape);
}

}  // namespace

// out = sum of x over dims:   gx_i = gy   for every element that went into the sum
// (the gradient, kept as size-1 dims, times ones of x's shape: a broadcast).
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  DRIFT_CHECK(x.defined(), "sum: the input is undefined");
  std::vector<int64_t> dims = normalize_dims(dims_in, x.ndim(), "sum");
  Shape kept = keepdim_shape(x.shape(), dims);
  Tensor out = sum_keepdim_raw(x, dims);
  if (!keepdim) out = out.view_as_shape(squeezed_shape(x.shape(), dims));
  return record("sum", out, {x},
                [x_shape = x.shape(), kept, device = x.device()](const Tensor& gy) {
                  return std::vector<Tensor>{gy.view_as_shape(kept) * ones(x_shape, device)};
                });
}

Tensor sum(const Tensor& x) {
  return sum(x, {}, false);
}

// mean = sum / n, with n the number of elements averaged:  gx_i = gy / n
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  DRIFT_CHECK(x.defined(), "mean: the input is undefined");
  std::vector<int64_t> dims = normalize_dims(dims_in, x.ndim(), "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= x.shape()[d];
  DRIFT_CHECK(count > 0, "mean: no elements to average in " << describe(x));
  return sum(x, dims, keepdim) * (1.0f / static_cast<float>(count));
}

Tensor mean(const Tensor& x) {
  return mean(x, {}, false);
}

// out = max of x along dim:  the gradient flows only to the (first) position of the maximum,
// recorded in the forward pass as argmax:  gx = scatter gy into the argmax positions.
Tensor max(const Tensor& x, int64_t dim_in, bool keepdim) {
  DRIFT_CHECK(x.defined(), "max: the input is undefined");
  int64_t dim = normalize_dim(dim_in, x.ndim(), "max");
  DRIFT_CHECK(x.shape()[dim] > 0, "max: dimension " << dim << " of " << describe(x) << " is empty");
  Shape kept = keepdim_shape(x.shape(), {dim});
  DimView v = dim_view(x.shape(), dim);
  Tensor values = Tensor::empty(kept, x.device());
  Tensor argmax_index = Tensor::empty(kept, x.device());
  backend(x.device()).max_dim(x.data(), values.data(), argmax_index.data(), v);
  if (!keepdim) values = values.view_as_shape(squeezed_shape(x.shape(), {dim}));
  return record(
      "max", values, {x},
      [x_shape = x.shape(), kept, argmax_index, v, device = x.device()](const Tensor& gy) {
        Tensor gx = zeros(x_shape, device);
        backend(device).scatter_add(gy.data(), argmax_index.data(), 1, gx.data(), v);
        return std::vector<Tensor>{gx};
      });
}

// The largest element. Its gradient is shared evenly between tied maxima, as PyTorch's max()
// does: with k ties each gets gy / k. (max(x, dim) gives it all to the index it returns.)
Tensor max(const Tensor& x) {
  DRIFT_CHECK(x.defined() && x.numel() > 0, "max: the input is empty or undefined");
  const Tensor flat = x.detach().view_as_shape(Shape{x.numel()});
  Tensor value = Tensor::empty(Shape{1}, x.device());
  Tensor index = Tensor::empty(Shape{1}, x.device());
  backend(x.device()).max_dim(flat.data(), value.data(), index.data(), dim_view(flat.shape(), 0));
  value = value.view_as_shape(Shape{});
  return record("max", value, {x}, [flat, value, x_shape = x.shape()](const Tensor& gy) {
    // mask = 1 where x >= max (that is, x == max), else 0: the Step op of dropout's masks
    Tensor mask = Tensor::empty(flat.shape(), flat.device());
    backend(flat.device())
        .unary(UnaryOp::Step, flat.data(), mask.data(), flat.numel(), value.item(), 1.0f);
    const float ties = sum(mask).item();
    return std::vector<Tensor>{reshape(mask * (gy / ties), x_shape)};
  });
}

Tensor argmax(const Tensor& x, int64_t dim_in, bool keepdim) {
  DRIFT_CHECK(x.defined(), "argmax: the input is undefined");
  int64_t dim = normalize_dim(dim_in, x.ndim(), "argmax");
  DRIFT_CHECK(x.shape()[dim] > 0,
              "argmax: dimension " << dim << " of " << describe(x) << " is empty");
  Shape kept = keepdim_shape(x.shape(), {dim});
  Tensor values = Tensor::empty(kept, x.device());
  Tensor index = Tensor::empty(kept, x.device());
  backend(x.device()).max_dim(x.data(), values.data(), index.data(), dim_view(x.shape(), dim));
  return keepdim ? index : index.view_as_shape(squeezed_shape(x.shape(), {dim}));
}

namespace {

// softmax and log_softmax share a kernel; backward needs only the output y:
//   softmax:      gx = y * (gy - sum(gy * y))
//   log_softmax:  gx = gy - softmax(x) * sum(gy) = gy - exp(y) * sum(gy)
Tensor softmax_op(const Tensor& x, int64_t dim_in, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  DRIFT_CHECK(x.defined(), name << ": the input is undefined");
  int64_t dim = normalize_dim(dim_in, x.ndim(), name);
  DimView v = dim_view(x.shape(), dim);
  Tensor y = Tensor::empty(x.shape(), x.device());
  if (y.numel() > 0) backend(x.device()).softmax(x.data(), y.data(), v, log);
  return record(name, y, {x}, [y_saved = y.detach(), v, log](const Tensor& gy) {
    Tensor gx = Tensor::empty(y_saved.shape(), y_saved.device());
    if (gx.numel() > 0)
      backend(gx.device()).softmax_backward(y_saved.data(), gy.data(), gx.data(), v, log);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  return softmax_op(x, dim, false);
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_op(x, dim, true);
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.ndim() - shape.ndim();
  DRIFT_CHECK(lead >= 0, "sum_to: cannot reduce " << describe(grad) << " to " << shape);
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < grad.ndim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] == 1 && grad.shape()[d] != 1) {
      dims.push_back(d);
    } else {
      DRIFT_CHECK(shape[d - lead] == grad.shape()[d],
                  "sum_to: cannot reduce " << describe(grad) << " to " << shape);
    }
  }
  return reshape(sum(grad, dims, true), shape);
}

}  // namespace drift
