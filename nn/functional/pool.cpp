// pool.cpp — max_pool2d, avg_pool2d and upsample_nearest2d with their backward passes
// (the loops are in tensor/cpu/pool.cpp).
#include "autograd/node.h"
#include "nn/functional.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {
namespace nn {
namespace functional {

namespace {

// Checks and output size of a pooling of x [N, C, H, W]; stride 0 means the kernel size.
Pool2dGeometry pool_geometry(const char* op, const Tensor& x, Size2 kernel, Size2 stride,
                             Size2 padding) {
  DRIFT_CHECK(x.defined(), op << ": the input is undefined");
  DRIFT_CHECK(x.ndim() == 4, op << ": input must be 4-D [N, C, H, W], got " << describe(x));
  if (stride.h == 0 && stride.w == 0) stride = kernel;
  DRIFT_CHECK(kernel.h >= 1 && kernel.w >= 1 && stride.h >= 1 && stride.w >= 1,
              op << ": kernel " << kernel.h << "x" << kernel.w << " and stride " << stride.h << "x"
                 << stride.w << " must be at least 1");
  DRIFT_CHECK(padding.h >= 0 && padding.w >= 0 && 2 * padding.h <= kernel.h &&
                  2 * padding.w <= kernel.w,
              op << ": padding " << padding.h << "x" << padding.w
                 << " must be between 0 and half the kernel " << kernel.h << "x" << kernel.w);
  Pool2dGeometry g;
  g.batch = x.size(0);
  g.channels = x.size(1);
  g.in_h = x.size(2);
  g.in_w = x.size(3);
  g.kernel_h = kernel.h;
  g.kernel_w = kernel.w;
  g.stride_h = stride.h;
  g.stride_w = stride.w;
  g.pad_h = padding.h;
  g.pad_w = padding.w;
  const int64_t padded_h = g.in_h + 2 * g.pad_h, padded_w = g.in_w + 2 * g.pad_w;
  DRIFT_CHECK(kernel.h <= padded_h && kernel.w <= padded_w,
              op << ": kernel " << kernel.h << "x" << kernel.w << " is larger than the padded input "
                 << padded_h << "x" << padded_w << " (input " << describe(x) << ")");
  g.out_h = (padded_h - g.kernel_h) / g.stride_h + 1;  // floor: PyTorch's ceil_mode=False
  g.out_w = (padded_w - g.kernel_w) / g.stride_w + 1;
  return g;
}

Shape pooled_shape(const Pool2dGeometry& g) { return Shape{g.batch, g.channels, g.out_h, g.out_w}; }

}  // namespace

// y = max over each window; argmax remembers which input pixel won.
// backward: the winner gets the whole gradient, the others none: gx[argmax] += gy.
Tensor max_pool2d(const Tensor& x, Size2 kernel_size, Size2 stride, Size2 padding) {
  const Pool2dGeometry g = pool_geometry("max_pool2d", x, kernel_size, stride, padding);
  DRIFT_CHECK(g.in_h * g.in_w <= (int64_t(1) << 24),
              "max_pool2d: planes of " << g.in_h << "x" << g.in_w << " pixels are too large for "
                                       << "float32 argmax indices (input " << describe(x) << ")");
  Tensor y = Tensor::empty(pooled_shape(g), x.device());
  Tensor argmax = Tensor::empty(pooled_shape(g), x.device());
  if (y.numel() > 0)
    backend(x.device()).max_pool2d_forward(x.data(), y.data(), argmax.data(), g);
  return record("max_pool2d", y, {x}, [x_shape = x.shape(), argmax, g](const Tensor& gy) {
    Tensor gx = Tensor::empty(x_shape, gy.device());
    if (gx.numel() > 0)
      backend(gy.device()).max_pool2d_backward(gy.data(), argmax.data(), gx.data(), g);
    return std::vector<Tensor>{gx};
  });
}

// y = mean of each window (padding counted as zeros).
// backward: each window pixel gets an equal share, gx[window] += gy / window size.
Tensor avg_pool2d(const Tensor& x, Size2 kernel_size, Size2 stride, Size2 padding) {
  const Pool2dGeometry g = pool_geometry("avg_pool2d", x, kernel_size, stride, padding);
  Tensor y = Tensor::empty(pooled_shape(g), x.device());
  if (y.numel() > 0) backend(x.device()).avg_pool2d_forward(x.data(), y.data(), g);
  return record("avg_pool2d", y, {x}, [x_shape = x.shape(), g](const Tensor& gy) {
    Tensor gx = Tensor::empty(x_shape, gy.device());
    if (gx.numel() > 0) backend(gy.device()).avg_pool2d_backward(gy.data(), gx.data(), g);
    return std::vector<Tensor>{gx};
  });
}

// y[n, c, i, j] = x[n, c, i / s, j / s];  backward sums each s x s block of gy.
Tensor upsample_nearest2d(const Tensor& x, int64_t scale) {
  DRIFT_CHECK(x.defined(), "upsample_nearest2d: the input is undefined");
  DRIFT_CHECK(x.ndim() == 4,
              "upsample_nearest2d: input must be 4-D [N, C, H, W], got " << describe(x));
  DRIFT_CHECK(scale >= 1, "upsample_nearest2d: scale must be at least 1, got " << scale);
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = Tensor::empty(Shape{x.size(0), x.size(1), H * scale, W * scale}, x.device());
  if (y.numel() > 0)
    backend(x.device()).upsample_nearest_forward(x.data(), y.data(), planes, H, W, scale);
  return record("upsample_nearest2d", y, {x},
                [x_shape = x.shape(), planes, H, W, scale](const Tensor& gy) {
    Tensor gx = Tensor::empty(x_shape, gy.device());
    if (gx.numel() > 0)
      backend(gy.device()).upsample_nearest_backward(gy.data(), gx.data(), planes, H, W, scale);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace functional
}  // namespace nn
}  // namespace drift
