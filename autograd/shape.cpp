// shape.cpp — ops that rearrange or pick elements: reshape, permute, cat, slice, index_select,
// gather. Their backward passes route each gradient element back to where its value came
// from (the inverse permutation, the slot in the concatenation, a scatter-add of picks).
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {

// reshape shares storage (row-major order is unchanged); backward reshapes the gradient back.
Tensor reshape(const Tensor& x, const Shape& shape_in) {
  DRIFT_CHECK(x.defined(), "reshape: the input is undefined");
  Shape shape = shape_in;
  int64_t inferred = -1, known = 1;
  for (int64_t d = 0; d < shape.ndim(); ++d) {
    if (shape[d] == -1) {
      DRIFT_CHECK(inferred < 0, "reshape: more than one -1 in " << shape_in);
      inferred = d;
    } else {
      DRIFT_CHECK(shape[d] >= 0, "reshape: negative size in " << shape_in);
      known *= shape[d];
    }
  }
  if (inferred >= 0) {
    DRIFT_CHECK(known > 0 && x.numel() % known == 0,
                "reshape: cannot reshape " << describe(x) << " into " << shape_in);
    shape[inferred] = x.numel() / known;
  }
  DRIFT_CHECK(shape.numel() == x.numel(), "reshape: cannot reshape " << describe(x) << " ("
                                              << x.numel() << " elements) into " << shape_in);
  Tensor out = x.view_as_shape(shape);
  return record("reshape", out, {x}, [x_shape = x.shape()](const Tensor& gy) {
    return std::vector<Tensor>{gy.view_as_shape(x_shape)};
  });
}

Tensor flatten(const Tensor& x, int64_t start_dim) {
  DRIFT_CHECK(x.defined(), "flatten: the input is undefined");
  if (x.ndim() == 0) return reshape(x, Shape{1});
  int64_t start = normalize_dim(start_dim, x.ndim(), "flatten");
  Shape shape;
  int64_t merged = 1;
  for (int64_t d = 0; d < x.ndim(); ++d) {
    if (d < start) shape.push_back(x.shape()[d]);
    else merged *= x.shape()[d];
  }
  shape.push_back(merged);
  return reshape(x, shape);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  DRIFT_CHECK(x.defined(), "unsqueeze: the input is undefined");
  int64_t d = normalize_dim(dim, x.ndim() + 1, "unsqueeze");
  std::vector<int64_t> dims = x.shape().dims();
  dims.insert(dims.begin() + d, 1);
  return reshape(x, Shape(dims));
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  DRIFT_CHECK(x.defined(), "squeeze: the input is undefined");
  int64_t d = normalize_dim(dim, x.ndim(), "squeeze");
  DRIFT_CHECK(x.shape()[d] == 1, "squeeze: dimension " << dim << " of " << describe(x)
                                                       << " has size " << x.shape()[d]
                                                       << ", not 1");
  std::vector<int64_t> dims = x.shape().dims();
  dims.erase(dims.begin() + d);
  return reshape(x, Shape(dims));
}

// out dim i = x dim perm[i] (a copy, so the result is contiguous).
// backward: permute the gradient with the inverse permutation, inverse[perm[i]] = i.
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  DRIFT_CHECK(x.defined(), "permute: the input is undefined");
  DRIFT_CHECK(static_cast<int64_t>(dims.size()) == x.ndim(),
              "permute: " << dims.size() << " dims given for " << describe(x));
  std::vector<int64_t> perm(dims.size()), inverse(dims.size(), -1);
  Shape out_shape;
  for (size_t i = 0; i < dims.size(); ++i) {
    perm[i] = normalize_dim(dims[i], x.ndim(), "permute");
    DRIFT_CHECK(inverse[static_cast<size_t>(perm[i])] < 0,
                "permute: dimension " << perm[i] << " appears twice");
    inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
    out_shape.push_back(x.shape()[perm[i]]);
  }
  Tensor out = Tensor::empty(out_shape, x.device());
  if (out.numel() > 0) backend(x.device()).permute(x.data(), out.data(), x.shape(), perm);
  return record("permute", out, {x}, [inverse](const Tensor& gy) {
    return std::vector<Tensor>{permute(gy, inverse)};
  });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  DRIFT_CHECK(x.defined(), "transpose: the input is undefined");
  int64_t a = normalize_dim(dim0, x.ndim(), "transpose");
  int64_t b = normalize_dim(dim1, x.ndim(), "transpose");
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < x.ndim(); ++d) perm.push_back(d == a ? b : d == b ? a : d);
  return permute(x, perm);
}

// Concatenation along dim: each input fills a slab of the output; backward cuts the
// gradient into the same slabs.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim_in) {
  DRIFT_CHECK(!tensors.empty(), "cat: no tensors given");
  const Tensor& first = tensors[0];
  DRIFT_CHECK(first.defined(), "cat: tensor 0 is undefined");
  int64_t dim = normalize_dim(dim_in, first.ndim(), "cat");
  Shape out_shape = first.shape();
  out_shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    DRIFT_CHECK(t.defined(), "cat: tensor " << i << " is undefined");
    check_same_device(first, t, "cat");
    bool compatible = t.ndim() == first.ndim();
    for (int64_t d = 0; compatible && d < t.ndim(); ++d)
      compatible = d == dim || t.shape()[d] == first.shape()[d];
    DRIFT_CHECK(compatible, "cat: tensor " << i << " " << describe(t) << " does not match "
                                           << describe(first) << " outside dimension " << dim);
    out_shape[dim] += t.shape()[dim];
  }
  Tensor out = Tensor::empty(out_shape, first.device());
  DimView v = dim_view(out_shape, dim);
  std::vector<int64_t> starts;
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    starts.push_back(start);
    int64_t len = t.shape()[dim];
    if (len > 0 && v.outer * v.inner > 0)
      backend(t.device()).copy_slab(t.data(), len, 0, out.data(), v.n, start, v.outer, len,
                                    v.inner);
    start += len;
  }
  return record("cat", out, tensors, [dim, starts, tensors](const Tensor& gy) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < tensors.size(); ++i) {
      int64_t len = tensors[i].shape()[dim];
      grads.push_back(tensors[i].requires_grad() ? slice(gy, dim, starts[i], starts[i] + len)
                                                 : Tensor());
    }
    return grads;
  });
}

// out = x[..., start:end, ...] along dim.  backward: zeros with the gradient placed in the slab.
Tensor slice(const Tensor& x, int64_t dim_in, int64_t start, int64_t end) {
  DRIFT_CHECK(x.defined(), "slice: the input is undefined");
  int64_t dim = normalize_dim(dim_in, x.ndim(), "slice");
  const int64_t n = x.shape()[dim];
  if (start < 0) start += n;
  if (end < 0) end += n;
  DRIFT_CHECK(0 <= start && start <= end && end <= n,
              "slice: range [" << start << ", " << end << ") is out of bounds for dimension "
                               << dim << " of " << describe(x));
  Shape out_shape = x.shape();
  out_shape[dim] = end - start;
  Tensor out = Tensor::empty(out_shape, x.device());
  DimView v = dim_view(x.shape(), dim);
  if (out.numel() > 0)
    backend(x.device()).copy_slab(x.data(), n, start, out.data(), end - start, 0, v.outer,
                                  end - start, v.inner);
  return record("slice", out, {x}, [x_shape = x.shape(), v, start, end](const Tensor& gy) {
    Tensor gx = zeros(x_shape, gy.device());
    if (gy.numel() > 0)
      backend(gy.device()).copy_slab(gy.data(), end - start, 0, gx.data(), v.n, start, v.outer,
                                    end - start, v.inner);
    return std::vector<Tensor>{gx};
  });
}

// out = x's slices at index[0], index[1], ... along dim.
// backward: add each gradient slice back at the row it was taken from (index_add).
Tensor index_select(const Tensor& x, int64_t dim_in, const Tensor& index) {
  DRIFT_CHECK(x.defined(), "index_select: the input is undefined");
  int64_t dim = normalize_dim(dim_in, x.ndim(), "index_select");
  DRIFT_CHECK(index.ndim() == 1, "index_select: index must be 1-D, got " << describe(index));
  check_index_tensor(index, x, dim, "index_select");
  const int64_t k = index.numel();
  Shape out_shape = x.shape();
  out_shape[dim] = k;
  DimView v = dim_view(x.shape(), dim);
  Tensor out = Tensor::empty(out_shape, x.device());
  if (out.numel() > 0)
    backend(x.device()).index_select(x.data(), index.data(), k, out.data(), v);
  return record("index_select", out, {x}, [x_shape = x.shape(), index, k, v](const Tensor& gy) {
    Tensor gx = zeros(x_shape, gy.device());
    if (gy.numel() > 0) backend(gy.device()).index_add(gy.data(), index.data(), k, gx.data(), v);
    return std::vector<Tensor>{gx};
  });
}

// out[o, j, i] = x[o, index[o, j, i], i] along dim (index has x's shape except along dim).
// backward: scatter-add the gradient to the gathered positions.
Tensor gather(const Tensor& x, int64_t dim_in, const Tensor& index) {
  DRIFT_CHECK(x.defined(), "gather: the input is undefined");
  int64_t dim = normalize_dim(dim_in, x.ndim(), "gather");
  DRIFT_CHECK(index.defined() && index.ndim() == x.ndim(),
              "gather: index " << describe(index) << " must have as many dims as " << describe(x));
  for (int64_t d = 0; d < x.ndim(); ++d)
    DRIFT_CHECK(d == dim || index.shape()[d] == x.shape()[d],
                "gather: index " << describe(index) << " and input " << describe(x)
                                 << " differ outside dimension " << dim);
  check_index_tensor(index, x, dim, "gather");
  DimView v = dim_view(x.shape(), dim);
  const int64_t k = index.shape()[dim];
  Tensor out = Tensor::empty(index.shape(), x.device());
  if (out.numel() > 0) backend(x.device()).gather(x.data(), index.data(), k, out.data(), v);
  return record("gather", out, {x}, [x_shape = x.shape(), index, k, v](const Tensor& gy) {
    Tensor gx = zeros(x_shape, gy.device());
    if (gy.numel() > 0) backend(gy.device()).scatter_add(gy.data(), index.data(), k, gx.data(), v);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace drift
