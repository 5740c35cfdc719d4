// conv_im2col.cpp — 2-D convolution as im2col + GEMM, the general algorithm (any kernel,
// stride, padding, groups): forward, input gradient, weight gradient, and the tiling and
// column buffers they share. conv.cpp decides when it runs (conv_direct.cpp takes the "same"
// convolutions); conv_common.h holds what the two share; conv_reference.cpp is the definition.
//
//
// A convolution is a matrix product in disguise. Take one image and one group of channels
// and unroll every receptive field into a column of a matrix `col` [K, P]:
//
//   col[(c*KH + kh)*KW + kw][oh*OW + ow] = x[c][oh*sh - ph + kh][ow*sw - pw + kw]    (1)
//
// (0 where the index falls into the padding), with K = C_in/G * KH * KW rows (one per weight
// of a filter) and P = OH * OW columns (one per output pixel). The weight of group g, seen as
// a matrix W_g [C_out/G, K] (its natural row-major layout), then gives all three passes as
// GEMMs through the backend (so a faster cpu_backend().gemm makes convolution faster too):
//
//   forward          y_g  [C_out/G, P] = W_g @ col  (+ bias[co] on row co)           (2)
//   backward input   dcol [K, P]       = W_g^T @ gy_g,   dx = col2im(dcol)           (3)
//   backward weight  dW_g [C_out/G, K] = sum over images of gy_g @ col^T             (4)
//                    dbias[co]         = sum over images and pixels of gy[co]        (5)
//
// col2im is the adjoint (transpose) of (1): every entry of dcol is added back onto the input
// pixel it was read from; pixels shared by overlapping windows receive several contributions.
//
// Tiling. Unrolling a whole 512x512 image with K = 144 would take 150 MB, so the output rows
// are cut into bands ("tiles") of `rows_per_tile` rows and the column matrix is built for one
// band at a time: a [K, rows*OW] buffer sized to stay in the L2 cache (kColumnBudget). A band
// is also the unit of parallel work: the (image, band) pairs are shared among the OpenMP
// threads, each with its own column buffer, and the GEMMs inside run single-threaded (so
// the backend's gemm must be reentrant: several threads call it at once). When there are
// fewer units than threads (a tiny batch of tiny images), the units run one after another
// and the GEMM and im2col use the threads themselves.
//
// A 1x1 convolution with stride 1 and no padding needs no unrolling at all: (1) reduces to
// col = x, so the GEMMs read the input (and write dx) directly.
#include <algorithm>
#include <cstring>
#include <vector>


#include "tensor/cpu/conv_common.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/error.h"

namespace drift::cpu::conv {

namespace {


// Floats in one column buffer (512 KB): big enough for efficient GEMMs, small enough to stay
// in cache. The one knob of the tiling; a performance pass may tune it.
constexpr int64_t kColumnBudget = int64_t(1) << 17;

// Sizes derived once from the geometry and shared by the three kernels.
struct ConvPlan {
  int64_t in_per_group = 0, out_per_group = 0;  // C_in/G, C_out/G
  int64_t K = 0;              // rows of the column matrix: C_in/G * KH * KW
  int64_t P = 0;              // output pixels per image: OH * OW
  int64_t in_plane = 0;       // H * W
  int64_t rows_per_tile = 0;  // output rows unrolled at once
  int64_t tiles = 0;          // bands per image: ceil(OH / rows_per_tile)
  bool direct = false;        // 1x1 kernel, stride 1, no padding: col is x itself

  int64_t tile_begin(int64_t tile) const { return tile * rows_per_tile; }
  int64_t tile_end(int64_t tile, int64_t out_h) const {
    return std::min(out_h, (tile + 1) * rows_per_tile);
  }
};

ConvPlan make_plan(const Conv2dGeometry& g) {
  ConvPlan p;
  p.in_per_group = g.in_channels / g.groups;
  p.out_per_group = g.out_channels / g.groups;
  p.K = p.in_per_group * g.kernel_h * g.kernel_w;
  p.P = g.out_h * g.out_w;
  p.in_plane = g.in_h * g.in_w;
  p.direct = g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
             g.pad_h == 0 && g.pad_w == 0;
  // Bands must be at least ceil(KH / sh) rows tall, so that the input rows read by band t and
  // by band t+2 never overlap: col2im can then add even bands in parallel, then odd bands.
  const int64_t min_rows = (g.kernel_h + g.stride_h - 1) / g.stride_h;
  const int64_t budget_rows = kColumnBudget / std::max<int64_t>(1, p.K * g.out_w);
  p.rows_per_tile = std::min(g.out_h, std::max(min_rows, budget_rows));
  p.tiles = (g.out_h + p.rows_per_tile - 1) / p.rows_per_tile;
  return p;
}

// The output columns ow whose input column iw = ow*sw - pw + kw lies inside [0, W):
// [first, last). Outside this range the column entry is padding.
void valid_columns(const Conv2dGeometry& g, int64_t kw, int64_t& first, int64_t& last) {
  first = std::max<int64_t>(0, ceil_div(g.pad_w - kw, g.stride_w));
  last = std::min<int64_t>(g.out_w, ceil_div(g.in_w + g.pad_w - kw, g.stride_w));
  if (last < first) last = first;
}

// Equation (1) for output rows [oh_begin, oh_end) of `channels` input planes starting at x:
// fills col [channels*KH*KW, (oh_end - oh_begin)*OW].
void im2col(const float* x, int64_t channels, const Conv2dGeometry& g, int64_t oh_begin,
            int64_t oh_end, float* col) {
  const int64_t width = (oh_end - oh_begin) * g.out_w;
  const int64_t rows = channels * g.kernel_h * g.kernel_w;
#pragma omp parallel for if (rows * width > (int64_t(1) << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t kw = r % g.kernel_w, kh = (r / g.kernel_w) % g.kernel_h;
    const int64_t c = r / (g.kernel_w * g.kernel_h);
    int64_t first, last;
    valid_columns(g, kw, first, last);
    float* dst_row = col + r * width;
    for (int64_t oh = oh_begin; oh < oh_end; ++oh) {
      float* dst = dst_row + (oh - oh_begin) * g.out_w;
      const int64_t ih = oh * g.stride_h - g.pad_h + kh;
      if (ih < 0 || ih >= g.in_h) {
        std::fill(dst, dst + g.out_w, 0.0f);
        continue;
      }
      const float* src = x + (c * g.in_h + ih) * g.in_w;  // input row ih of channel c
      const int64_t shift = kw - g.pad_w;                 // iw = ow*sw + shift
      std::fill(dst, dst + first, 0.0f);
      if (g.stride_w == 1) {
        std::memcpy(dst + first, src + first + shift,
                    static_cast<size_t>(last - first) * sizeof(float));
      } else {
        for (int64_t ow = first; ow < last; ++ow) dst[ow] = src[ow * g.stride_w + shift];
      }
      std::fill(dst + last, dst + g.out_w, 0.0f);
    }
  }
}

// The adjoint of im2col: gx[c][ih][iw] += col[row][column] for every entry of (1) that read
// an input pixel. gx is not zeroed here. Parallel over channels (each writes its own plane).
void col2im(const float* col, int64_t channels, const Conv2dGeometry& g, int64_t oh_begin,
            int64_t oh_end, float* gx) {
  const int64_t width = (oh_end - oh_begin) * g.out_w;
#pragma omp parallel for if (channels * g.kernel_h * g.kernel_w * width > (int64_t(1) << 16))
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        int64_t first, last;
        valid_columns(g, kw, first, last);
        const float* src_row = col + ((c * g.kernel_h + kh) * g.kernel_w + kw) * width;
        for (int64_t oh = oh_begin; oh < oh_end; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          const float* src = src_row + (oh - oh_begin) * g.out_w;
          float* dst = gx + (c * g.in_h + ih) * g.in_w;  // input row ih of channel c
          const int64_t shift = kw - g.pad_w;           // iw = ow*sw + shift
          for (int64_t ow = first; ow < last; ++ow) dst[ow * g.stride_w + shift] += src[ow];
        }
      }
    }
  }
}

// The column matrix of one band for the group of input channels starting at x_group:
// either x itself (direct 1x1 case) or the band unrolled into `scratch`. Sets `ld` to the
// row stride of the returned matrix. The only place that decides how columns are made.
const float* columns(const float* x_group, const ConvPlan& p, const Conv2dGeometry& g,
                     int64_t oh_begin, int64_t oh_end, float* scratch, int64_t& ld) {
  if (p.direct) {
    ld = p.P;
    return x_group + oh_begin * g.out_w;
  }
  ld = (oh_end - oh_begin) * g.out_w;
  im2col(x_group, p.in_per_group, g, oh_begin, oh_end, scratch);
  return scratch;
}

// Runs body(unit, lane, scratch) for unit = 0..units-1 on `lanes` threads, each with its own
// `scratch_floats` floats of scratch memory (the lane's column buffer).
template <class Body>
void for_each_unit(int64_t units, int lanes, int64_t scratch_floats, Body&& body) {
#pragma omp parallel num_threads(lanes) if (lanes > 1)
  {
    const int lane = current_lane();
    float* mine = thread_scratch(kColumnSlot, std::max<int64_t>(scratch_floats, 1));
#pragma omp for schedule(static)
    for (int64_t unit = 0; unit < units; ++unit) body(unit, lane, mine);
  }
}

int64_t scratch_size(const ConvPlan& p, const Conv2dGeometry& g) {
  return p.direct ? 0 : p.K * p.rows_per_tile * g.out_w;
}

}  // namespace

// Equation (2), one (image, band) unit at a time: y rows of the band start as the bias
// (or 0) and the GEMM adds W_g @ col onto them (beta = 1).
void im2col_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeometry& g) {
  Backend& be = cpu_backend();
  const ConvPlan p = make_plan(g);
  const int64_t units = g.batch * p.tiles;
  for_each_unit(units, lanes_for(units), scratch_size(p, g),
                [&](int64_t unit, int, float* col_buffer) {
    const int64_t n = unit / p.tiles, tile = unit % p.tiles;
    const int64_t oh_begin = p.tile_begin(tile), oh_end = p.tile_end(tile, g.out_h);
    const int64_t width = (oh_end - oh_begin) * g.out_w;
    for (int64_t group = 0; group < g.groups; ++group) {
      const float* x_group = x + (n * g.in_channels + group * p.in_per_group) * p.in_plane;
      float* y_group = y + (n * g.out_channels + group * p.out_per_group) * p.P +
                       oh_begin * g.out_w;
      for (int64_t co = 0; co < p.out_per_group; ++co) {
        float* row = y_group + co * p.P;
        std::fill(row, row + width, bias ? bias[group * p.out_per_group + co] : 0.0f);
      }
      int64_t ld;
      const float* col = columns(x_group, p, g, oh_begin, oh_end, col_buffer, ld);
      be.gemm(false, false, p.out_per_group, width, p.K, 1.0f, w + group * p.out_per_group * p.K,
           p.K, col, ld, 1.0f, y_group, p.P, 1, 0, 0, 0);
    }
  });
}

// Equation (3): dcol = W_g^T @ gy_g for a band, then col2im adds it into gx. Bands of one
// image overlap in the input rows they touch, so even bands run (in parallel) before odd
// bands; make_plan made bands tall enough that bands t and t+2 never overlap.
void im2col_backward_input(const float* gy, const float* w, float* gx, const Conv2dGeometry& g) {
  Backend& be = cpu_backend();
  const ConvPlan p = make_plan(g);
  if (!p.direct) be.fill(gx, g.batch * g.in_channels * p.in_plane, 0.0f);
  for (int64_t parity = 0; parity < 2; ++parity) {
    const int64_t bands = (p.tiles - parity + 1) / 2;  // tiles parity, parity+2, ...
    if (bands <= 0) continue;
    const int64_t units = g.batch * bands;
    for_each_unit(units, lanes_for(units), scratch_size(p, g),
                  [&](int64_t unit, int, float* dcol) {
      const int64_t n = unit / bands, tile = parity + 2 * (unit % bands);
      const int64_t oh_begin = p.tile_begin(tile), oh_end = p.tile_end(tile, g.out_h);
      const int64_t width = (oh_end - oh_begin) * g.out_w;
      for (int64_t group = 0; group < g.groups; ++group) {
        float* gx_group = gx + (n * g.in_channels + group * p.in_per_group) * p.in_plane;
        const float* gy_group = gy + (n * g.out_channels + group * p.out_per_group) * p.P +
                                oh_begin * g.out_w;
        const float* w_group = w + group * p.out_per_group * p.K;
        if (p.direct) {  // col = x, so dcol is dx itself: write it in place
          be.gemm(true, false, p.K, width, p.out_per_group, 1.0f, w_group, p.K, gy_group, p.P,
                  0.0f, gx_group + oh_begin * g.out_w, p.P, 1, 0, 0, 0);
        } else {
          be.gemm(true, false, p.K, width, p.out_per_group, 1.0f, w_group, p.K, gy_group, p.P,
                  0.0f, dcol, width, 1, 0, 0, 0);
          col2im(dcol, p.in_per_group, g, oh_begin, oh_end, gx_group);
        }
      }
    });
  }
}

// Equations (4) and (5). Each lane sums the contributions of its units into its own partial
// dW and dbias (lane 0 uses gw itself); the partials are added at the end, in lane order.
void im2col_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                            const Conv2dGeometry& g) {
  Backend& be = cpu_backend();
  const ConvPlan p = make_plan(g);
  const int64_t weight_size = g.out_channels * p.K;
  const int64_t units = g.batch * p.tiles;
  const int lanes = lanes_for(units);
  // Each lane's partial dW lives in its thread's scratch (lane 0 writes gw itself).
  std::vector<float*> partial_w(static_cast<size_t>(lanes), nullptr);
  std::vector<std::vector<double>> partial_b(
      static_cast<size_t>(lanes), std::vector<double>(static_cast<size_t>(g.out_channels), 0.0));
  be.fill(gw, weight_size, 0.0f);

  for_each_unit(units, lanes, scratch_size(p, g),
                [&](int64_t unit, int lane, float* col_buffer) {
    const int64_t n = unit / p.tiles, tile = unit % p.tiles;
    const int64_t oh_begin = p.tile_begin(tile), oh_end = p.tile_end(tile, g.out_h);
    const int64_t width = (oh_end - oh_begin) * g.out_w;
    float*& dw = partial_w[static_cast<size_t>(lane)];
    if (dw == nullptr) {  // the lane's first unit: its partial starts at zero
      dw = lane == 0 ? gw : thread_scratch(kGradientSlot, weight_size);
      if (lane != 0) std::fill(dw, dw + weight_size, 0.0f);
    }
    for (int64_t group = 0; group < g.groups; ++group) {
      const float* x_group = x + (n * g.in_channels + group * p.in_per_group) * p.in_plane;
      const float* gy_group = gy + (n * g.out_channels + group * p.out_per_group) * p.P +
                              oh_begin * g.out_w;
      int64_t ld;
      const float* col = columns(x_group, p, g, oh_begin, oh_end, col_buffer, ld);
      // dW_g += gy_band [C_out/G, width] @ col^T [width, K]
      be.gemm(false, true, p.out_per_group, p.K, width, 1.0f, gy_group, p.P, col, ld, 1.0f,
              dw + group * p.out_per_group * p.K, p.K, 1, 0, 0, 0);
      if (gbias) {
        std::vector<double>& db = partial_b[static_cast<size_t>(lane)];
        for (int64_t co = 0; co < p.out_per_group; ++co) {
          const float* row = gy_group + co * p.P;
          double total = 0.0;
          for (int64_t i = 0; i < width; ++i) total += row[i];
          db[static_cast<size_t>(group * p.out_per_group + co)] += total;
        }
      }
    }
  });
  for (int lane = 1; lane < lanes; ++lane) {
    const float* part = partial_w[static_cast<size_t>(lane)];
    if (part != nullptr)
      for (int64_t i = 0; i < weight_size; ++i) gw[i] += part[i];
  }
  if (gbias) {
    for (int64_t co = 0; co < g.out_channels; ++co) {
      double total = 0.0;
      for (int lane = 0; lane < lanes; ++lane)
        total += partial_b[static_cast<size_t>(lane)][static_cast<size_t>(co)];
      gbias[co] = static_cast<float>(total);
    }
  }
}

}  // namespace drift::cpu::conv
