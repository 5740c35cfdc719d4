// pool.cpp — max and average pooling and nearest-neighbour upsampling on NCHW tensors.
//
// Every kernel works plane by plane (one (n, c) image channel at a time, `planes` = N*C), and
// planes are independent, so they are shared among the threads.
//
// Output pixel (oh, ow) of a pooling looks at the window of input rows
//   ih in [oh*sh - ph, oh*sh - ph + KH)  and columns  iw in [ow*sw - pw, ow*sw - pw + KW),
// clipped to the image. (Padding only shifts the windows; padded positions hold -inf for max
// pooling and count as zeros for average pooling, as in PyTorch.)
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/cpu/cpu_backend.h"

namespace drift {

namespace {
constexpr int64_t kParallelThreshold = 1 << 15;
}

// y = the largest value of each window; argmax = its flat position ih*W + iw in the input
// plane (as a float), which backward uses to route the gradient. Ties keep the first maximum
// in row-major order; a NaN wins (propagates), like PyTorch.
void CpuBackend::max_pool2d_forward(const float* x, float* y, float* argmax,
                                    const Pool2dGeometry& g) {
  const int64_t planes = g.batch * g.channels;
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for if (planes * out_plane * g.kernel_h * g.kernel_w > kParallelThreshold)
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x + p * in_plane;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t h0 = oh * g.stride_h - g.pad_h;
      const int64_t h_begin = std::max<int64_t>(h0, 0), h_end = std::min(h0 + g.kernel_h, g.in_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t w0 = ow * g.stride_w - g.pad_w;
        const int64_t w_begin = std::max<int64_t>(w0, 0), w_end = std::min(w0 + g.kernel_w, g.in_w);
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_index = h_begin * g.in_w + w_begin;
        for (int64_t ih = h_begin; ih < h_end; ++ih)
          for (int64_t iw = w_begin; iw < w_end; ++iw) {
            const float value = xp[ih * g.in_w + iw];
            if (value > best || std::isnan(value)) {
              best = value;
              best_index = ih * g.in_w + iw;
            }
          }
        y[p * out_plane + oh * g.out_w + ow] = best;
        argmax[p * out_plane + oh * g.out_w + ow] = static_cast<float>(best_index);
      }
    }
  }
}

// The max is a selection: its gradient goes entirely to the selected input pixel,
//   gx[argmax] += gy   (windows may overlap, so a pixel can collect several gradients).
void CpuBackend::max_pool2d_backward(const float* gy, const float* argmax, float* gx,
                                     const Pool2dGeometry& g) {
  const int64_t planes = g.batch * g.channels;
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for if (planes * (in_plane + out_plane) > kParallelThreshold)
  for (int64_t p = 0; p < planes; ++p) {
    float* gxp = gx + p * in_plane;
    std::fill(gxp, gxp + in_plane, 0.0f);
    for (int64_t o = 0; o < out_plane; ++o)
      gxp[static_cast<int64_t>(argmax[p * out_plane + o])] += gy[p * out_plane + o];
  }
}

namespace {

// The divisor of average pooling for window (h0, w0) (its top-left corner, possibly in the
// padding): PyTorch's count_include_pad=True counts the padded positions but not what falls
// beyond the padding, i.e. the window clipped to [-pad, size + pad).
int64_t window_count(const Pool2dGeometry& g, int64_t h0, int64_t w0) {
  const int64_t h_end = std::min(h0 + g.kernel_h, g.in_h + g.pad_h);
  const int64_t w_end = std::min(w0 + g.kernel_w, g.in_w + g.pad_w);
  return (h_end - h0) * (w_end - w0);
}

}  // namespace

// y = (sum of the window's pixels) / window_count   (padding counts as zeros).
void CpuBackend::avg_pool2d_forward(const float* x, float* y, const Pool2dGeometry& g) {
  const int64_t planes = g.batch * g.channels;
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for if (planes * out_plane * g.kernel_h * g.kernel_w > kParallelThreshold)
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x + p * in_plane;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t h0 = oh * g.stride_h - g.pad_h;
      const int64_t h_begin = std::max<int64_t>(h0, 0), h_end = std::min(h0 + g.kernel_h, g.in_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t w0 = ow * g.stride_w - g.pad_w;
        const int64_t w_begin = std::max<int64_t>(w0, 0), w_end = std::min(w0 + g.kernel_w, g.in_w);
        float total = 0.0f;
        for (int64_t ih = h_begin; ih < h_end; ++ih)
          for (int64_t iw = w_begin; iw < w_end; ++iw) total += xp[ih * g.in_w + iw];
        y[p * out_plane + oh * g.out_w + ow] =
            total / static_cast<float>(window_count(g, h0, w0));
      }
    }
  }
}

// Each input pixel of a window received 1/window_count of its output:
//   gx[window] += gy / window_count.
void CpuBackend::avg_pool2d_backward(const float* gy, float* gx, const Pool2dGeometry& g) {
  const int64_t planes = g.batch * g.channels;
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for if (planes * out_plane * g.kernel_h * g.kernel_w > kParallelThreshold)
  for (int64_t p = 0; p < planes; ++p) {
    float* gxp = gx + p * in_plane;
    std::fill(gxp, gxp + in_plane, 0.0f);
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t h0 = oh * g.stride_h - g.pad_h;
      const int64_t h_begin = std::max<int64_t>(h0, 0), h_end = std::min(h0 + g.kernel_h, g.in_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t w0 = ow * g.stride_w - g.pad_w;
        const int64_t w_begin = std::max<int64_t>(w0, 0), w_end = std::min(w0 + g.kernel_w, g.in_w);
        const float share =
            gy[p * out_plane + oh * g.out_w + ow] / static_cast<float>(window_count(g, h0, w0));
        for (int64_t ih = h_begin; ih < h_end; ++ih)
          for (int64_t iw = w_begin; iw < w_end; ++iw) gxp[ih * g.in_w + iw] += share;
      }
    }
  }
}

// Nearest-neighbour upsampling by an integer factor s: every input pixel becomes an s x s
// block,  y[p][i][j] = x[p][i / s][j / s]  for the [planes, H*s, W*s] output. Each input row
// is widened once (j / s as a loop over the s copies, no division per element) and the
// widened row copied to the other s - 1 output rows.
void CpuBackend::upsample_nearest_forward(const float* x, float* y, int64_t planes, int64_t H,
                                          int64_t W, int64_t scale) {
  const int64_t out_w = W * scale;
#pragma omp parallel for if (planes * H * W * scale * scale > kParallelThreshold)
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < H; ++i) {
      const float* src = x + (p * H + i) * W;
      float* first = y + (p * H + i) * scale * out_w;
      if (scale == 2) {
#pragma omp simd
        for (int64_t j = 0; j < W; ++j) first[2 * j] = first[2 * j + 1] = src[j];
      } else {
        for (int64_t j = 0; j < W; ++j)
          for (int64_t b = 0; b < scale; ++b) first[j * scale + b] = src[j];
      }
      for (int64_t a = 1; a < scale; ++a) std::copy(first, first + out_w, first + a * out_w);
    }
  }
}

// Each input pixel was copied into s x s outputs, so its gradient is the sum of their
// gradients:  gx[p][i][j] = sum over a, b < s of gy[p][i*s + a][j*s + b].
void CpuBackend::upsample_nearest_backward(const float* gy, float* gx, int64_t planes, int64_t H,
                                           int64_t W, int64_t scale) {
  const int64_t out_w = W * scale;
#pragma omp parallel for if (planes * H * W * scale * scale > kParallelThreshold)
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < H; ++i) {
      float* dst = gx + (p * H + i) * W;
      const float* rows = gy + (p * H + i) * scale * out_w;  // the s output rows of input row i
      if (scale == 2) {
        const float* top = rows;
        const float* bottom = rows + out_w;
#pragma omp simd
        for (int64_t j = 0; j < W; ++j)
          dst[j] = (top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1]);
      } else {
        for (int64_t j = 0; j < W; ++j) {
          float total = 0.0f;
          for (int64_t a = 0; a < scale; ++a)
            for (int64_t b = 0; b < scale; ++b) total += rows[a * out_w + j * scale + b];
          dst[j] = total;
        }
      }
    }
  }
}

}  // namespace drift
