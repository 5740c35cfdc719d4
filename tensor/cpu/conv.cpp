// conv.cpp — 2-D convolution on NCHW tensors: the dispatch. The CPU backend's three
// convolution kernels (cpu::fast::conv2d_*) each pick one of two algorithms per call:
// conv_im2col.cpp (im2col + GEMM) or conv_direct.cpp (the direct "same" convolution, inner
// loops in conv_kernels.h). conv_common.h holds what the two share; conv_reference.cpp is the
// plain definition both are tested against.
//
// Which one, and why:
//   im2col + GEMM: general — any kernel, stride, padding, groups.
//   the direct path: "same" convolutions (output = input / stride,
//     i.e. 3x3 padding 1, 1x1, 3x3 stride 2 ...), which is every convolution of the chapter
//     models; 2-4x faster for their small channel counts, because it copies nothing.
// So the direct path runs whenever it applies (direct_applies, conv_direct.cpp), im2col +
// GEMM otherwise; set_cpu_conv_algorithm(CpuConvAlgorithm::Im2col) forces the general one
// everywhere (tests and benchmarks compare the two).
#include "tensor/cpu/conv_common.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/kernels.h"

namespace drift {

namespace {

CpuConvAlgorithm& conv_algorithm() {
  static CpuConvAlgorithm algorithm = CpuConvAlgorithm::Auto;
  return algorithm;
}

bool use_direct(const Conv2dGeometry& g) {
  return conv_algorithm() == CpuConvAlgorithm::Auto && cpu::conv::direct_applies(g);
}

}  // namespace

void set_cpu_conv_algorithm(CpuConvAlgorithm algorithm) { conv_algorithm() = algorithm; }
CpuConvAlgorithm cpu_conv_algorithm() { return conv_algorithm(); }

void cpu::fast::conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                                const Conv2dGeometry& g) {
  if (!use_direct(g)) return cpu::conv::im2col_forward(x, w, bias, y, g);
  cpu::conv::direct_forward(x, w, bias, y, g);
}

void cpu::fast::conv2d_backward_input(const float* gy, const float* w, float* gx,
                                       const Conv2dGeometry& g) {
  if (!use_direct(g)) return cpu::conv::im2col_backward_input(gy, w, gx, g);
  cpu::conv::direct_backward_input(gy, w, gx, g);
}

void cpu::fast::conv2d_backward_weight(const float* x, const float* gy, float* gw,
                                        float* gbias, const Conv2dGeometry& g) {
  if (!use_direct(g)) return cpu::conv::im2col_backward_weight(x, gy, gw, gbias, g);
  cpu::conv::direct_backward_weight(x, gy, gw, gbias, g);
}

}  // namespace drift
