// conv_reference.cpp — 2-D convolution by its definition, the reference for conv.cpp.
//
// NCHW. x [N, C_in, H, W], w [C_out, C_in/G, KH, KW], y [N, C_out, OH, OW]; the channels
// are split into G groups (G = C_in: depthwise), output channel co sees only the input
// channels of its group. With stride (sh, sw) and zero padding (ph, pw):
//
//   y[n][co][oh][ow] = bias[co] + sum_{ci, kh, kw} w[co][ci][kh][kw] x[n][c][ih][iw]     (1)
//
//   c = group(co) * C_in/G + ci,   ih = oh sh - ph + kh,   iw = ow sw - pw + kw
//
// where a term whose (ih, iw) falls into the padding is 0. The gradients follow from (1)
// term by term: each term w * x sends gy * w to x and gy * x to w,
//
//   dx[n][c][ih][iw]     = sum over the terms that read x[n][c][ih][iw] of gy[n][co][oh][ow]
//   w[co][ci][kh][kw] dw[co][ci][kh][kw]   = sum_{n, oh, ow} gy[n][co][oh][ow] x[n][c][ih][iw]
//   dbias[co]            = sum_{n, oh, ow} gy[n][co][oh][ow]
//
// (The geometry has no dilation and no transposed convolution: the fast kernels have
// neither.) Sums in double, one loop nest for all three passes.
#include <vector>

#include "tensor/cpu/kernels.h"

namespace drift::cpu::reference {

namespace {

// Calls term(x index, w index, y index) for every term of (1) that lies inside the image.
template <class Term>
void for_each_term(const Conv2dGeometry& g, Term&& term) {
  const int64_t in_per_group = g.in_channels / g.groups;
  const int64_t out_per_group = g.out_channels / g.groups;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t co = 0; co < g.out_channels; ++co)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow)
          for (int64_t ci = 0; ci < in_per_group; ++ci)
            for (int64_t kh = 0; kh < g.kernel_h; ++kh)
              for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
                const int64_t ih = oh * g.stride_h - g.pad_h + kh;
                const int64_t iw = ow * g.stride_w - g.pad_w + kw;
                if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;  // padding
                const int64_t c = (co / out_per_group) * in_per_group + ci;
                term(((n * g.in_channels + c) * g.in_h + ih) * g.in_w + iw,
                     ((co * in_per_group + ci) * g.kernel_h + kh) * g.kernel_w + kw,
                     ((n * g.out_channels + co) * g.out_h + oh) * g.out_w + ow);
              }
}

int64_t y_size(const Conv2dGeometry& g) {
  return g.batch * g.out_channels * g.out_h * g.out_w;
}
int64_t x_size(const Conv2dGeometry& g) {
  return g.batch * g.in_channels * g.in_h * g.in_w;
}
int64_t w_size(const Conv2dGeometry& g) {
  return g.out_channels * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
}

void store(const std::vector<double>& sums, float* out) {
  for (size_t i = 0; i < sums.size(); ++i) out[i] = static_cast<float>(sums[i]);
}

}  // namespace

void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeometry& g) {
  std::vector<double> sum(static_cast<size_t>(y_size(g)), 0.0);
  const int64_t plane = g.out_h * g.out_w;
  if (bias)
    for (int64_t i = 0; i < y_size(g); ++i)
      sum[static_cast<size_t>(i)] = bias[(i / plane) % g.out_channels];
  for_each_term(g, [&](int64_t xi, int64_t wi, int64_t yi) {
    sum[static_cast<size_t>(yi)] += static_cast<double>(w[wi]) * x[xi];
  });
  store(sum, y);
}

void conv2d_backward_input(const float* gy, const float* w, float* gx, const Conv2dGeometry& g) {
  std::vector<double> sum(static_cast<size_t>(x_size(g)), 0.0);
  for_each_term(g, [&](int64_t xi, int64_t wi, int64_t yi) {
    sum[static_cast<size_t>(xi)] += static_cast<double>(gy[yi]) * w[wi];
  });
  store(sum, gx);
}

void conv2d_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                            const Conv2dGeometry& g) {
  std::vector<double> sum(static_cast<size_t>(w_size(g)), 0.0);
  for_each_term(g, [&](int64_t xi, int64_t wi, int64_t yi) {
    sum[static_cast<size_t>(wi)] += static_cast<double>(gy[yi]) * x[xi];
  });
  store(sum, gw);
  if (gbias) {
    std::vector<double> bias_sum(static_cast<size_t>(g.out_channels), 0.0);
    const int64_t plane = g.out_h * g.out_w;
    for (int64_t i = 0; i < y_size(g); ++i)
      bias_sum[static_cast<size_t>((i / plane) % g.out_channels)] += gy[i];
    store(bias_sum, gbias);
  }
}

}  // namespace drift::cpu::reference
