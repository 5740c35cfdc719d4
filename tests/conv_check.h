// conv_check.h — the fast CPU convolution kernels against the library's reference kernels
// (tensor/cpu/conv_reference.cpp, convolution by its definition), for test_layers.cpp (shapes
// with many tiles and threads) and test_conv.cpp (every path of the CPU kernels on awkward
// shapes).
#pragma once

#include <doctest/doctest.h>

#include <vector>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/kernels.h"
#include "tests/helpers.h"

namespace drift::test {

// x [N, C_in, H, W], w [C_out, C_in/groups, KH, KW]; stride and padding (h, w).
inline Conv2dGeometry geometry(Shape x, Shape w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                               int64_t pad_w, int64_t groups) {
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
inline void check_conv_kernels_against_definition(const Conv2dGeometry& g,
                                                  std::vector<CpuConvAlgorithm> algorithms = {
                                                      CpuConvAlgorithm::Auto,
                                                      CpuConvAlgorithm::Im2col}) {
  const Shape x_shape{g.batch, g.in_channels, g.in_h, g.in_w};
  const Shape w_shape{g.out_channels, g.in_channels / g.groups, g.kernel_h, g.kernel_w};
  Tensor x = randn(x_shape), w = randn(w_shape), b = randn({g.out_channels});
  Tensor gy = randn({g.batch, g.out_channels, g.out_h, g.out_w});
  // The oracle: the reference kernels (sums in double).
  Tensor y = full(gy.shape(), NAN), gx = full(x_shape, NAN), gw = full(w_shape, NAN),
         gb = full(b.shape(), NAN);
  cpu::reference::conv2d_forward(x.data(), w.data(), b.data(), y.data(), g);
  cpu::reference::conv2d_backward_input(gy.data(), w.data(), gx.data(), g);
  cpu::reference::conv2d_backward_weight(x.data(), gy.data(), gw.data(), gb.data(), g);

  Backend& be = cpu_backend();
  const cpu::ScopedKernels fast(
      cpu::Kernels::Fast);  // the kernels under test, whatever DRIFT_KERNELS says
  const CpuConvAlgorithm previous = cpu_conv_algorithm();
  for (CpuConvAlgorithm algorithm : algorithms) {
    CAPTURE((algorithm == CpuConvAlgorithm::Auto ? "auto" : "im2col"));
    set_cpu_conv_algorithm(algorithm);
    for (int threads : {1, 2}) {
      CAPTURE(threads);
      set_num_threads(threads);
      // Outputs start as NaN: a kernel that skips an element cannot go unnoticed.
      Tensor out = full(gy.shape(), NAN), grad_x = full(x_shape, NAN), grad_w = full(w_shape, NAN),
             grad_b = full(b.shape(), NAN);
      be.conv2d_forward(x.data(), w.data(), b.data(), out.data(), g);
      be.conv2d_backward_input(gy.data(), w.data(), grad_x.data(), g);
      be.conv2d_backward_weight(x.data(), gy.data(), grad_w.data(), grad_b.data(), g);
      CHECK_CLOSE(out, y, 1e-4, 1e-4);
      CHECK_CLOSE(grad_x, gx, 1e-4, 1e-4);
      CHECK_CLOSE(grad_w, gw, 1e-3, 1e-4);
      CHECK_CLOSE(grad_b, gb, 1e-3, 1e-4);
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
