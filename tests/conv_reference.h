// conv_reference.h — 2-D convolution by its definition (in double), for the kernel tests of
// test_layers.cpp (shapes with many tiles and threads) and test_conv.cpp (every path of the
// CPU kernels on awkward shapes).
#pragma once

#include <doctest/doctest.h>

#include <vector>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"
#include "tests/helpers.h"

namespace drift::test {

// ---- convolution by its definition ------------------------------------------------------------
//   y[n, co, oh, ow] = b[co] + sum_{ci in co's group, kh, kw} w[co, ci, kh, kw] x[n, gci, ih, iw]
// with ih = oh*sh - ph + kh, iw = ow*sw - pw + kw; the gradients by differentiating that sum.
struct DirectConv {
  Conv2dGeometry g;
  template <class Visit>
  void for_each_term(Visit&& visit) const {  // visit(x index, w index, y index)
    const int64_t cin_g = g.in_channels / g.groups, cout_g = g.out_channels / g.groups;
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t co = 0; co < g.out_channels; ++co)
        for (int64_t oh = 0; oh < g.out_h; ++oh)
          for (int64_t ow = 0; ow < g.out_w; ++ow)
            for (int64_t ci = 0; ci < cin_g; ++ci)
              for (int64_t kh = 0; kh < g.kernel_h; ++kh)
                for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
                  const int64_t ih = oh * g.stride_h - g.pad_h + kh;
                  const int64_t iw = ow * g.stride_w - g.pad_w + kw;
                  if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
                  const int64_t c = (co / cout_g) * cin_g + ci;
                  visit(((n * g.in_channels + c) * g.in_h + ih) * g.in_w + iw,
                        ((co * cin_g + ci) * g.kernel_h + kh) * g.kernel_w + kw,
                        ((n * g.out_channels + co) * g.out_h + oh) * g.out_w + ow);
                }
  }
};

// x [N, C_in, H, W], w [C_out, C_in/groups, KH, KW]; stride and padding (h, w).
inline Conv2dGeometry geometry(Shape x, Shape w, int64_t stride_h, int64_t stride_w,
                               int64_t pad_h, int64_t pad_w, int64_t groups) {
  Conv2dGeometry g;
  g.batch = x[0];
  g.in_channels = x[1];
  g.in_h = x[2];
  g.in_w = x[3];
  g.out_channels = w[0];
  g.kernel_h = w[2];
  g.kernel_w = w[3];
  g.stride_h = stride_h;
  g.stride_w = stride_w;
  g.pad_h = pad_h;
  g.pad_w = pad_w;
  g.groups = groups;
  g.out_h = (g.in_h + 2 * pad_h - g.kernel_h) / stride_h + 1;
  g.out_w = (g.in_w + 2 * pad_w - g.kernel_w) / stride_w + 1;
  return g;
}

inline Conv2dGeometry geometry(Shape x, Shape w, int64_t stride, int64_t pad, int64_t groups) {
  return geometry(x, w, stride, stride, pad, pad, groups);
}

// The three CPU kernels (forward, backward input, backward weight + bias) against the
// definition, on 1 and 2 threads, with the convolution algorithm(s) given (by default both:
// the direct path where it applies, and im2col + GEMM).
inline void check_conv_kernels_against_definition(
    const Conv2dGeometry& g,
    std::vector<CpuConvAlgorithm> algorithms = {CpuConvAlgorithm::Auto, CpuConvAlgorithm::Im2col}) {
  const Shape x_shape{g.batch, g.in_channels, g.in_h, g.in_w};
  const Shape w_shape{g.out_channels, g.in_channels / g.groups, g.kernel_h, g.kernel_w};
  Tensor x = randn(x_shape), w = randn(w_shape), b = randn({g.out_channels});
  Tensor gy = randn({g.batch, g.out_channels, g.out_h, g.out_w});
  std::vector<float> xv = x.to_vector(), wv = w.to_vector(), bv = b.to_vector(),
                     gyv = gy.to_vector();
  // References in double.
  std::vector<double> y(static_cast<size_t>(gy.numel())), gx(xv.size()), gw(wv.size()),
      gb(bv.size());
  for (int64_t i = 0; i < gy.numel(); ++i)
    y[static_cast<size_t>(i)] = bv[static_cast<size_t>((i / (g.out_h * g.out_w)) % g.out_channels)];
  DirectConv{g}.for_each_term([&](int64_t xi, int64_t wi, int64_t yi) {
    y[static_cast<size_t>(yi)] += static_cast<double>(wv[static_cast<size_t>(wi)]) * xv[static_cast<size_t>(xi)];
    gx[static_cast<size_t>(xi)] += static_cast<double>(wv[static_cast<size_t>(wi)]) * gyv[static_cast<size_t>(yi)];
    gw[static_cast<size_t>(wi)] += static_cast<double>(xv[static_cast<size_t>(xi)]) * gyv[static_cast<size_t>(yi)];
  });
  for (int64_t i = 0; i < gy.numel(); ++i)
    gb[static_cast<size_t>((i / (g.out_h * g.out_w)) % g.out_channels)] += gyv[static_cast<size_t>(i)];
  auto as_tensor = [](const std::vector<double>& v, const Shape& s) {
    return from_vector(std::vector<float>(v.begin(), v.end()), s);
  };

  Backend& be = cpu_backend();
  const CpuConvAlgorithm previous = cpu_conv_algorithm();
  for (CpuConvAlgorithm algorithm : algorithms) {
    CAPTURE((algorithm == CpuConvAlgorithm::Auto ? "auto" : "im2col"));
    set_cpu_conv_algorithm(algorithm);
    for (int threads : {1, 2}) {
      CAPTURE(threads);
      set_num_threads(threads);
      // Outputs start as NaN: a kernel that skips an element cannot go unnoticed.
      Tensor out = full(gy.shape(), NAN), grad_x = full(x_shape, NAN),
             grad_w = full(w_shape, NAN), grad_b = full(b.shape(), NAN);
      be.conv2d_forward(x.data(), w.data(), b.data(), out.data(), g);
      be.conv2d_backward_input(gy.data(), w.data(), grad_x.data(), g);
      be.conv2d_backward_weight(x.data(), gy.data(), grad_w.data(), grad_b.data(), g);
      CHECK_CLOSE(out, as_tensor(y, gy.shape()), 1e-4, 1e-4);
      CHECK_CLOSE(grad_x, as_tensor(gx, x_shape), 1e-4, 1e-4);
      CHECK_CLOSE(grad_w, as_tensor(gw, w_shape), 1e-3, 1e-4);
      CHECK_CLOSE(grad_b, as_tensor(gb, b.shape()), 1e-3, 1e-4);
    }
  }
  set_cpu_conv_algorithm(previous);
  set_num_threads(2);
}

inline void check_conv_kernels_against_definition(Shape x_shape, Shape w_shape, int64_t stride,
                                                  int64_t pad, int64_t groups) {
  check_conv_kernels_against_definition(geometry(x_shape, w_shape, stride, pad, groups));
}

}  // namespace drift::test
