// conv.cpp — conv2d and conv_transpose2d, forward and backward side by side.
//
// The arithmetic lives in the backend's three convolution kernels (tensor/cpu/conv.cpp):
//   conv2d_forward          y  = x * W  (+ b)
//   conv2d_backward_input   gx from gy        (the adjoint of the forward map x -> y)
//   conv2d_backward_weight  gw, gb from x, gy
// conv_transpose2d is built from the same three kernels with the roles of x and y swapped.
#include <sstream>

#include "autograd/node.h"
#include "nn/functional.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {
namespace nn {
namespace functional {

namespace {

std::string hw(int64_t h, int64_t w) {
  std::ostringstream os;
  os << h << "x" << w;
  return os.str();
}

void check_bias(const char* op, const Tensor& bias, int64_t channels, const Tensor& x) {
  if (!bias.defined()) return;
  DRIFT_CHECK(bias.ndim() == 1 && bias.size(0) == channels,
              op << ": bias " << describe(bias) << " must be [" << channels << "] (one per output "
                 << "channel)");
  check_same_device(x, bias, op);
}

void check_stride_padding(const char* op, Size2 stride, Size2 padding) {
  DRIFT_CHECK(stride.h >= 1 && stride.w >= 1,
              op << ": stride must be at least 1, got " << hw(stride.h, stride.w));
  DRIFT_CHECK(padding.h >= 0 && padding.w >= 0,
              op << ": padding must not be negative, got " << hw(padding.h, padding.w));
}

// The checks and the output size of conv2d(x, weight) (the geometry of backend.h).
Conv2dGeometry conv2d_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias,
                               Size2 stride, Size2 padding, int64_t groups) {
  const char* op = "conv2d";
  DRIFT_CHECK(x.defined() && weight.defined(), op << ": the input or the weight is undefined");
  DRIFT_CHECK(x.ndim() == 4, op << ": input must be 4-D [N, C, H, W], got " << describe(x));
  DRIFT_CHECK(weight.ndim() == 4, op << ": weight must be 4-D [C_out, C_in/groups, kH, kW], got "
                                     << describe(weight));
  check_same_device(x, weight, op);
  check_stride_padding(op, stride, padding);
  const int64_t in_channels = x.size(1), out_channels = weight.size(0);
  DRIFT_CHECK(groups >= 1 && in_channels % groups == 0 && out_channels % groups == 0,
              op << ": groups " << groups << " must divide both the input channels ("
                 << in_channels << ", input " << describe(x) << ") and the output channels ("
                 << out_channels << ", weight " << describe(weight) << ")");
  DRIFT_CHECK(weight.size(1) * groups == in_channels,
              op << ": input " << describe(x) << " has " << in_channels << " channels, but weight "
                 << describe(weight) << " with groups " << groups << " expects "
                 << weight.size(1) * groups);
  check_bias(op, bias, out_channels, x);
  Conv2dGeometry g;
  g.batch = x.size(0);
  g.in_channels = in_channels;
  g.out_channels = out_channels;
  g.in_h = x.size(2);
  g.in_w = x.size(3);
  g.kernel_h = weight.size(2);
  g.kernel_w = weight.size(3);
  g.stride_h = stride.h;
  g.stride_w = stride.w;
  g.pad_h = padding.h;
  g.pad_w = padding.w;
  g.groups = groups;
  const int64_t padded_h = g.in_h + 2 * g.pad_h, padded_w = g.in_w + 2 * g.pad_w;
  DRIFT_CHECK(g.kernel_h >= 1 && g.kernel_w >= 1 && g.kernel_h <= padded_h &&
                  g.kernel_w <= padded_w,
              op << ": kernel " << hw(g.kernel_h, g.kernel_w) << " (weight " << describe(weight)
                 << ") is larger than the padded input " << hw(padded_h, padded_w) << " (input "
                 << describe(x) << ", padding " << hw(g.pad_h, g.pad_w) << ")");
  g.out_h = (padded_h - g.kernel_h) / g.stride_h + 1;
  g.out_w = (padded_w - g.kernel_w) / g.stride_w + 1;
  return g;
}

// gb[c] = sum of gy over images and pixels: gy [N, C, H, W] summed over dims 0, 2, 3.
Tensor bias_gradient(const Tensor& gy) { return sum(gy, {0, 2, 3}); }

}  // namespace

// Cross-correlation, y[n, co, oh, ow] = b[co] + sum over ci (of co's group), kh, kw of
//   W[co, ci, kh, kw] * x[n, ci, oh*sh - ph + kh, ow*sw - pw + kw]   (0 in the padding).
// backward: gx = conv2d_backward_input(gy, W), gw and gb = conv2d_backward_weight(x, gy).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
              Size2 padding, int64_t groups) {
  const Conv2dGeometry g = conv2d_geometry(x, weight, bias, stride, padding, groups);
  Tensor y = Tensor::empty(Shape{g.batch, g.out_channels, g.out_h, g.out_w}, x.device());
  if (y.numel() > 0)
    backend(x.device())
        .conv2d_forward(x.data(), weight.data(), bias.defined() ? bias.data() : nullptr,
                        y.data(), g);
  return record("conv2d", y, {x, weight, bias}, [x, weight, bias, g](const Tensor& gy) {
    Backend& be = backend(gy.device());
    Tensor gx, gw, gb;
    if (x.requires_grad()) {
      gx = Tensor::empty(x.shape(), x.device());
      if (gx.numel() > 0) be.conv2d_backward_input(gy.data(), weight.data(), gx.data(), g);
    }
    const bool want_bias = bias.defined() && bias.requires_grad();
    if (weight.requires_grad() || want_bias) {
      gw = zeros(weight.shape(), weight.device());
      if (want_bias) gb = zeros(bias.shape(), bias.device());
      if (gy.numel() > 0)
        be.conv2d_backward_weight(x.data(), gy.data(), gw.data(),
                                  want_bias ? gb.data() : nullptr, g);
      if (!weight.requires_grad()) gw = Tensor();
    }
    return std::vector<Tensor>{gx, gw, gb};
  });
}

// A transposed convolution is the adjoint of a convolution. Take the conv2d that maps an
// image of our *output* size [N, C_out, OH, OW] to one of our *input* size [N, C_in, H, W]
// with the same kernel, stride and padding, and weight [C_in, C_out, kH, kW] (its
// [out, in, kH, kW] layout is exactly PyTorch's ConvTranspose2d weight [in, out, kH, kW]).
// conv_transpose2d is that conv's input-gradient map, so every pass is one of its kernels:
//
//   forward    y  = conv2d_backward_input(x, W) + b   (each input pixel, weighted by the
//                                                      kernel, scattered onto a stride-spaced grid)
//   backward   gx = conv2d_forward(gy, W)             (the adjoint of the adjoint: the conv)
//              gw = conv2d_backward_weight(gy, x)     (the conv's "input" is gy, its "output" x)
//              gb = sum of gy over N, OH, OW
//
// Sizes: that conv maps OH rows to floor((OH + 2p - kH) / s) + 1 = H rows, and because of
// the floor, s different OH give the same H: OH = (H - 1) s - 2p + kH + output_padding with
// output_padding in [0, s) picks one (e.g. 4x4 kernel, stride 2, padding 1: OH = 2H exactly;
// 3x3, stride 2, padding 1 needs output_padding 1 for OH = 2H).
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
                        Size2 padding, Size2 output_padding, int64_t groups) {
  const char* op = "conv_transpose2d";
  DRIFT_CHECK(x.defined() && weight.defined(), op << ": the input or the weight is undefined");
  DRIFT_CHECK(groups == 1, op << ": groups=" << groups << " is not supported (only groups=1), "
                              << "input " << describe(x) << ", weight " << describe(weight));
  DRIFT_CHECK(x.ndim() == 4, op << ": input must be 4-D [N, C, H, W], got " << describe(x));
  DRIFT_CHECK(weight.ndim() == 4,
              op << ": weight must be 4-D [C_in, C_out, kH, kW], got " << describe(weight));
  check_same_device(x, weight, op);
  check_stride_padding(op, stride, padding);
  DRIFT_CHECK(weight.size(0) == x.size(1),
              op << ": input " << describe(x) << " has " << x.size(1) << " channels, but weight "
                 << describe(weight) << " (layout [C_in, C_out, kH, kW]) expects "
                 << weight.size(0));
  DRIFT_CHECK(output_padding.h >= 0 && output_padding.w >= 0 &&
                  output_padding.h < stride.h && output_padding.w < stride.w,
              op << ": output_padding " << hw(output_padding.h, output_padding.w)
                 << " must be smaller than the stride " << hw(stride.h, stride.w));
  check_bias(op, bias, weight.size(1), x);

  // The geometry of the adjoint conv2d: its input is our output, its output our input.
  Conv2dGeometry g;
  g.batch = x.size(0);
  g.in_channels = weight.size(1);  // our C_out
  g.out_channels = x.size(1);      // our C_in
  g.kernel_h = weight.size(2);
  g.kernel_w = weight.size(3);
  g.stride_h = stride.h;
  g.stride_w = stride.w;
  g.pad_h = padding.h;
  g.pad_w = padding.w;
  g.out_h = x.size(2);
  g.out_w = x.size(3);
  g.in_h = (g.out_h - 1) * g.stride_h - 2 * g.pad_h + g.kernel_h + output_padding.h;
  g.in_w = (g.out_w - 1) * g.stride_w - 2 * g.pad_w + g.kernel_w + output_padding.w;
  DRIFT_CHECK(g.in_h >= 1 && g.in_w >= 1,
              op << ": the output size " << hw(g.in_h, g.in_w) << " is empty (input "
                 << describe(x) << ", weight " << describe(weight) << ", stride "
                 << hw(stride.h, stride.w) << ", padding " << hw(padding.h, padding.w) << ")");

  Tensor y = Tensor::empty(Shape{g.batch, g.in_channels, g.in_h, g.in_w}, x.device());
  Backend& be = backend(x.device());
  if (y.numel() > 0) {
    be.conv2d_backward_input(x.data(), weight.data(), y.data(), g);
    if (bias.defined())  // + b[c] on every pixel of channel c (in place)
      be.binary(BinaryOp::Add, y.data(), bias.data(), y.data(),
                make_broadcast_plan(Shape{g.batch, g.in_channels, g.in_h * g.in_w},
                                    Shape{g.in_channels, 1}, op));
  }
  return record(op, y, {x, weight, bias}, [x, weight, bias, g](const Tensor& gy) {
    Backend& be = backend(gy.device());
    Tensor gx, gw, gb;
    if (x.requires_grad()) {
      gx = Tensor::empty(x.shape(), x.device());
      if (gx.numel() > 0) be.conv2d_forward(gy.data(), weight.data(), nullptr, gx.data(), g);
    }
    if (weight.requires_grad()) {
      gw = zeros(weight.shape(), weight.device());
      if (gy.numel() > 0) be.conv2d_backward_weight(gy.data(), x.data(), gw.data(), nullptr, g);
    }
    if (bias.defined() && bias.requires_grad()) gb = bias_gradient(gy);
    return std::vector<Tensor>{gx, gw, gb};
  });
}

}  // namespace functional
}  // namespace nn
}  // namespace drift
