// conv.cpp — 2-D convolution on NCHW tensors as im2col + GEMM.
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
//   backward input   dcol [K, P]       = W_g^T @ dy_g,   dx = col2im(dcol)           (3)
//   backward weight  dW_g [C_out/G, K] = sum over images of dy_g @ col^T             (4)
//                    dbias[co]         = sum over images and pixels of dy[co]        (5)
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
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/cpu/conv_kernels.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/error.h"

namespace drift {

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

int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

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

// How many threads ("lanes") share `units` units of work: all of them when there is at least
// one unit per thread, else 1 (the units then run one after another and the kernels inside,
// GEMM and im2col, may use the threads themselves).
int lanes_for(int64_t units) {
  const int threads = num_threads();
  return (threads > 1 && units >= threads) ? threads : 1;
}

// A growable 64-byte aligned buffer per thread and purpose, kept for the thread's lifetime
// (OpenMP keeps its workers alive), so steady-state calls allocate nothing.
enum ScratchSlot { kColumnSlot, kPackedWeightSlot, kGradientSlot, kPlaneSlot, kSlotCount };
float* thread_scratch(ScratchSlot slot, int64_t floats) {
  struct Buffer {
    float* data = nullptr;
    int64_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[kSlotCount];
  Buffer& b = buffers[slot];
  if (floats > b.size) {
    std::free(b.data);
    b.data = nullptr;
    b.size = 0;
    const size_t bytes = static_cast<size_t>(floats) * sizeof(float);
    void* ptr = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    DRIFT_CHECK(ptr != nullptr, "conv2d: out of memory allocating " << bytes << " bytes of scratch");
    b.data = static_cast<float*>(ptr);
    b.size = floats;
  }
  return b.data;
}

// Runs body(unit, lane, scratch) for unit = 0..units-1 on `lanes` threads, each with its own
// `scratch_floats` floats of scratch memory (the lane's column buffer).
template <class Body>
void for_each_unit(int64_t units, int lanes, int64_t scratch_floats, Body&& body) {
#pragma omp parallel num_threads(lanes) if (lanes > 1)
  {
#ifdef _OPENMP
    const int lane = omp_get_thread_num();
#else
    const int lane = 0;
#endif
    float* mine = thread_scratch(kColumnSlot, std::max<int64_t>(scratch_floats, 1));
#pragma omp for schedule(static)
    for (int64_t unit = 0; unit < units; ++unit) body(unit, lane, mine);
  }
}

int64_t scratch_size(const ConvPlan& p, const Conv2dGeometry& g) {
  return p.direct ? 0 : p.K * p.rows_per_tile * g.out_w;
}

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

// Equation (3): dcol = W_g^T @ dy_g for a band, then col2im adds it into gx. Bands of one
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
      // dW_g += dy_band [C_out/G, width] @ col^T [width, K]
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


// ================================================================================================
// The direct path: "same" convolutions (stride 1, output as large as the input) without im2col.
//
// im2col writes every input value KH*KW times into the column matrix, and the GEMM then copies
// the column matrix once more into its packed panels; for the small channel counts of our
// models (16-128 channels, 3x3 kernels) that copying costs about as much as the arithmetic.
// With stride 1 and an output of the input's size it can all be skipped, because of how a
// row of the column matrix looks. Number the pixels of a plane q = oh * W + ow. Row (c, kh, kw)
// of the column matrix (1) holds, at column q,
//
//     x[c][oh + kh - ph][ow + kw - pw] = x_c[q + tap_offset],  tap_offset = (kh-ph) W + (kw-pw)  (6)
//
// when that pixel is inside the image, and 0 in the padding. So it is the plane of channel c
// itself, shifted by a constant, with some entries zeroed: consecutive q read consecutive
// memory. The GEMM kernel (conv_kernels.h, same_conv_tile) therefore reads its B operand
// straight from x with masked vector loads; the mask of each (vector of positions, tap) says
// which pixels are inside the image (left/right columns and top/bottom rows of a tap fall
// into the padding) and is computed once per call. No copy of x is made; the output is
// written in place, tile by tile. The weights are packed tap by tap into the GEMM's A panels
// (a few KB).
//
//   forward          y = W * x (+ bias as the tiles' start value)
//   backward input   dx = a same convolution of dy with W flipped in kh, kw and transposed in
//                    (c_out, c_in): the adjoint of a stride-1 convolution is a stride-1
//                    convolution with the rotated kernel, and with padding (K-1)/2 its output
//                    is again H x W
//   backward weight  dW[co][c][t] = sum over images and q of dy[co][q] * x_c[q + tap_offset[t]]
//                    (conv_kernels.h, weight_grad_tile: vector partial sums, added at the end)
// ================================================================================================

// The direct path takes stride-1 convolutions whose output is as large as the input (padding
// (K-1)/2, odd kernels), 1x1 ones included (a single tap whose masks are all "inside").
bool direct_applies(const Conv2dGeometry& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.out_h == g.in_h && g.out_w == g.in_w;
}

// A same convolution from `in_channels` planes to `out_channels` planes of H x W.
//
// Small planes are batched. A 7x7 plane is 49 positions: 3 vectors of 16 and a fourth with
// one position, so a quarter of the arithmetic would be wasted, and the tiles' fixed costs
// (the weight gradient's final sums) would be spread over few positions. So `images` images
// are laid side by side into one "virtual plane" per channel: [C][images * HW] (copied into
// a per-thread buffer; the masks of (6) keep every tap inside its own image). 16 images of
// 7x7 make 784 positions, exactly 49 vectors. Planes that already fill whole vectors and are
// large (28x28) are used in place, without copies.
struct DirectPlan {
  int64_t batch = 1, in_channels = 1, out_channels = 1, groups = 1;
  int64_t H = 1, W = 1, HW = 1, kernel_h = 1, kernel_w = 1, pad_h = 0, pad_w = 0;
  int64_t taps = 1, in_per_group = 1, out_per_group = 1, K = 1;  // K = in_per_group * taps
  int64_t images = 1;   // images per virtual plane (1: the tensor's own planes, no copies)
  int64_t plane = 1;    // positions per (virtual) plane: images * HW
  int64_t vectors = 1;  // vectors of kLanes positions per plane (the last one may be partial)
  std::vector<int64_t> tap_offsets;               // (6), tap t = kh * KW + kw
  const conv_kernels::MaskBits* masks = nullptr;  // [vectors][taps], see tap_masks
};

// Positions a virtual plane aims at: a weight-gradient tile's dy rows (8 x 768 floats,
// 24 KB) stay in L1 while every tile of the plane reads them.
constexpr int64_t kPlanePositions = 768;

// masks[v * taps + t], bit l: position q = v * kLanes + l exists (q < plane) and its tap-t
// pixel is inside its own image. Kept per thread for the last few geometries (they repeat
// every step).
const conv_kernels::MaskBits* tap_masks(const DirectPlan& p) {
  using conv_kernels::kLanes;
  using Key = std::array<int64_t, 7>;
  thread_local std::map<Key, std::vector<conv_kernels::MaskBits>> cache;
  const Key key{p.H, p.W, p.kernel_h, p.kernel_w, p.pad_h, p.pad_w, p.images};
  auto found = cache.find(key);
  if (found != cache.end()) return found->second.data();
  if (cache.size() >= 16) cache.clear();  // bounded: a model has a handful of plane sizes
  std::vector<conv_kernels::MaskBits> masks(static_cast<size_t>(p.vectors * p.taps), 0);
  for (int64_t q = 0; q < p.plane; ++q) {
    const int64_t oh = (q % p.HW) / p.W, ow = q % p.W;
    for (int64_t kh = 0; kh < p.kernel_h; ++kh)
      for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
        const int64_t ih = oh + kh - p.pad_h, iw = ow + kw - p.pad_w;
        if (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W)
          masks[static_cast<size_t>((q / kLanes) * p.taps + kh * p.kernel_w + kw)] |=
              static_cast<conv_kernels::MaskBits>(1u << (q % kLanes));
      }
  }
  return cache.emplace(key, std::move(masks)).first->second.data();
}

DirectPlan make_direct_plan(int64_t batch, int64_t in_channels, int64_t out_channels,
                            int64_t groups, const Conv2dGeometry& g) {
  using conv_kernels::kLanes;
  DirectPlan p;
  p.batch = batch;
  p.in_channels = in_channels;
  p.out_channels = out_channels;
  p.groups = groups;
  p.H = g.in_h;
  p.W = g.in_w;
  p.HW = p.H * p.W;
  p.kernel_h = g.kernel_h;
  p.kernel_w = g.kernel_w;
  p.pad_h = g.pad_h;  // = (KH - 1) / 2, the same for the adjoint
  p.pad_w = g.pad_w;
  p.taps = p.kernel_h * p.kernel_w;
  p.in_per_group = in_channels / groups;
  p.out_per_group = out_channels / groups;
  p.K = p.in_per_group * p.taps;
  const bool fills_vectors = p.HW % kLanes == 0 && p.HW >= kPlanePositions / 2;
  p.images = fills_vectors ? 1 : std::max<int64_t>(1, std::min(batch, (kPlanePositions + p.HW / 2) / p.HW));
  p.plane = p.images * p.HW;
  p.vectors = (p.plane + kLanes - 1) / kLanes;
  for (int64_t kh = 0; kh < p.kernel_h; ++kh)
    for (int64_t kw = 0; kw < p.kernel_w; ++kw)
      p.tap_offsets.push_back((kh - p.pad_h) * p.W + (kw - p.pad_w));
  p.masks = tap_masks(p);
  return p;
}

// The weights of every group as GEMM A panels, tap by tap: for group g, panel i holds rows
// [i kMR, i kMR + kMR) as steps (t, c) of kMR values (zeros past the last row), in the order
// same_conv_tile walks them. weight(g, row, c, t) gives the entry.
template <class Weight>
const float* pack_weights(const DirectPlan& p, Weight&& weight) {
  using conv_kernels::kMR;
  const int64_t panels = (p.out_per_group + kMR - 1) / kMR;
  const int64_t group_floats = panels * kMR * p.K;
  float* packed = thread_scratch(kPackedWeightSlot, p.groups * group_floats);
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t panel = 0; panel < panels; ++panel) {
      float* dst = packed + g * group_floats + panel * kMR * p.K;
      for (int64_t t = 0; t < p.taps; ++t)
        for (int64_t c = 0; c < p.in_per_group; ++c, dst += kMR)
          for (int64_t r = 0; r < kMR; ++r) {
            const int64_t row = panel * kMR + r;
            dst[r] = row < p.out_per_group ? weight(g, row, c, t) : 0.0f;
          }
    }
  return packed;
}

// Positions per unit of work along a large plane: a 512x512 plane is cut into parts so that
// threads can share one image.
constexpr int64_t kPositionsPerPart = 1536;

// One unit of work: a virtual plane (`count` images from `first`), or a part of one.
struct PlaneUnit {
  int64_t first = 0, count = 1;  // images
  int64_t q_begin = 0, q_end = 0;  // positions of the (virtual) plane, q_begin % kLanes == 0
};

// The units of a plan: the batch in virtual planes, large planes in parts of about
// kPositionsPerPart positions (multiples of `granule` positions).
std::vector<PlaneUnit> plane_units(const DirectPlan& p, int64_t granule) {
  std::vector<PlaneUnit> units;
  const int64_t part = std::max(granule, kPositionsPerPart / granule * granule);
  for (int64_t first = 0; first < p.batch; first += p.images) {
    const int64_t count = std::min(p.images, p.batch - first);
    for (int64_t q = 0; q < count * p.HW; q += part)
      units.push_back({first, count, q, std::min(count * p.HW, q + part)});
  }
  return units;
}

// Lays `count` images of `channels` planes side by side: dst[c][i * HW + q] = src[i][c][q],
// then zeros up to `plane` positions (a last, smaller group of images).
void gather_plane(const float* src, int64_t channels, int64_t HW, int64_t count, int64_t plane,
                  float* dst) {
  for (int64_t c = 0; c < channels; ++c) {
    float* row = dst + c * plane;
    for (int64_t i = 0; i < count; ++i)
      conv_kernels::copy_floats(row + i * HW, src + (i * channels + c) * HW, HW);
    std::fill(row + count * HW, row + plane, 0.0f);
  }
}

// The inverse: dst[i][c][q] = src[c][i * HW + q] for the `count` images.
void scatter_plane(const float* src, int64_t channels, int64_t HW, int64_t count, int64_t plane,
                   float* dst) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < count; ++i)
      conv_kernels::copy_floats(dst + (i * channels + c) * HW, src + c * plane + i * HW, HW);
}

// Runs body(unit, lane) for unit = 0..units-1, shared among the threads.
template <class Body>
void run_units(int64_t units, Body&& body) {
  const int lanes = lanes_for(units);
#pragma omp parallel num_threads(lanes) if (lanes > 1)
  {
#ifdef _OPENMP
    const int lane = omp_get_thread_num();
#else
    const int lane = 0;
#endif
#pragma omp for schedule(static)
    for (int64_t unit = 0; unit < units; ++unit) body(unit, lane);
  }
}

// out = same conv of `input` with the packed weights (+ bias): the forward pass and the
// backward-input pass. One unit = a virtual plane or a part of a large plane; for each strip
// of kNR positions, every (group, panel of kMR output channels) tile, written into `output`
// (into a buffer first for a virtual plane of several images, copied out at the end).
void direct_conv(const float* input, const float* packed_weights, const float* bias,
                 float* output, const DirectPlan& p) {
  using conv_kernels::kLanes;
  using conv_kernels::kMR;
  // Few output channels: wide tiles (more positions per tile, the same register budget).
  const bool wide = p.out_per_group <= conv_kernels::kWideRows;
  const int64_t strip = (wide ? conv_kernels::kWideVectors : conv_kernels::kVectors) * kLanes;
  const int64_t panels = (p.out_per_group + kMR - 1) / kMR;
  const int64_t group_floats = panels * kMR * p.K;
  const std::vector<PlaneUnit> units = plane_units(p, strip);
  run_units(static_cast<int64_t>(units.size()), [&](int64_t index, int) {
    const PlaneUnit& u = units[static_cast<size_t>(index)];
    const float* x = input + u.first * p.in_channels * p.HW;
    float* y = output + u.first * p.out_channels * p.HW;
    int64_t plane = p.HW;  // channel stride of x and y
    if (p.images > 1) {    // a virtual plane: in and out of this thread's buffer
      float* buffer = thread_scratch(kPlaneSlot, (p.in_channels + p.out_channels) * p.plane);
      gather_plane(x, p.in_channels, p.HW, u.count, p.plane, buffer);
      x = buffer;
      y = buffer + p.in_channels * p.plane;
      plane = p.plane;
    }
    for (int64_t q0 = u.q_begin; q0 < u.q_end; q0 += strip) {
      const int width = static_cast<int>(std::min(strip, u.q_end - q0));
      const int vectors = static_cast<int>((width + kLanes - 1) / kLanes);
      const conv_kernels::MaskBits* masks = p.masks + (q0 / kLanes) * p.taps;
      for (int64_t g = 0; g < p.groups; ++g) {
        const float* x_group = x + g * p.in_per_group * plane + q0;
        for (int64_t panel = 0; panel < panels; ++panel) {
          const int64_t row0 = panel * kMR;
          const int rows = static_cast<int>(std::min<int64_t>(kMR, p.out_per_group - row0));
          const int64_t out_channel = g * p.out_per_group + row0;
          const conv_kernels::SameConvTile tile =
              wide ? conv_kernels::wide_conv_tile_for(rows, vectors)
                   : conv_kernels::same_conv_tile_for(rows, vectors);
          tile(p.in_per_group, static_cast<int>(p.taps),
               packed_weights + g * group_floats + row0 * p.K, x_group, plane,
               p.tap_offsets.data(), masks, bias ? bias + out_channel : nullptr,
               y + out_channel * plane + q0, plane, width);
        }
      }
    }
    if (p.images > 1)
      scatter_plane(y, p.out_channels, p.HW, u.count, p.plane,
                    output + u.first * p.out_channels * p.HW);
  });
}

// Equations (4) and (5) on the direct layout. One unit = a virtual plane or a part of a large
// plane; every (group, kGradRows output channels, kGradColumns weights) tile sums over the
// unit's positions. Each lane sums into its own partial dW and dbias; the partials are added
// in lane order at the end (deterministic for a given thread count).
void direct_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                            const Conv2dGeometry& g) {
  using conv_kernels::kGradColumns;
  using conv_kernels::kGradRows;
  using conv_kernels::kLanes;
  const DirectPlan p = make_direct_plan(g.batch, g.in_channels, g.out_channels, g.groups, g);
  const std::vector<PlaneUnit> units = plane_units(p, kLanes);
  const int lanes = lanes_for(static_cast<int64_t>(units.size()));
  const int64_t weight_size = g.out_channels * p.K;
  const int64_t center = p.pad_h * p.kernel_w + p.pad_w;  // the tap that reads q itself
  // Weight k = (c, t) of a filter (its index in the [C_out/G, C_in/G * KH * KW] matrix)
  // reads channel c of the group shifted by tap t's offset (6), through tap t's masks; the
  // channel stride is known per unit (the tensor's plane or the virtual plane).
  std::vector<int64_t> mask_columns(static_cast<size_t>(p.K));
  for (int64_t k = 0; k < p.K; ++k) mask_columns[static_cast<size_t>(k)] = k % p.taps;

  std::vector<float*> partial_w(static_cast<size_t>(lanes), nullptr);
  std::vector<std::vector<double>> partial_b(
      static_cast<size_t>(lanes), std::vector<double>(static_cast<size_t>(g.out_channels), 0.0));
#pragma omp parallel num_threads(lanes) if (lanes > 1)
  {
#ifdef _OPENMP
    const int lane = omp_get_thread_num();
#else
    const int lane = 0;
#endif
    float* dw = thread_scratch(kGradientSlot, weight_size);
    std::fill(dw, dw + weight_size, 0.0f);
    partial_w[static_cast<size_t>(lane)] = dw;
    std::vector<double>& db = partial_b[static_cast<size_t>(lane)];
    std::vector<int64_t> x_offsets(static_cast<size_t>(p.K));
    std::vector<int64_t> wide_offsets(static_cast<size_t>(conv_kernels::kGradWideColumns));
#pragma omp for schedule(static)
    for (int64_t index = 0; index < static_cast<int64_t>(units.size()); ++index) {
      const PlaneUnit& u = units[static_cast<size_t>(index)];
      const float* x_unit = x + u.first * g.in_channels * p.HW;
      const float* dy_unit = gy + u.first * g.out_channels * p.HW;
      int64_t plane = p.HW;
      if (p.images > 1) {
        float* buffer = thread_scratch(kPlaneSlot, (p.in_channels + p.out_channels) * p.plane);
        gather_plane(x_unit, g.in_channels, p.HW, u.count, p.plane, buffer);
        gather_plane(dy_unit, g.out_channels, p.HW, u.count, p.plane,
                     buffer + p.in_channels * p.plane);
        x_unit = buffer;
        dy_unit = buffer + p.in_channels * p.plane;
        plane = p.plane;
      }
      for (int64_t k = 0; k < p.K; ++k)
        x_offsets[static_cast<size_t>(k)] =
            (k / p.taps) * plane + p.tap_offsets[static_cast<size_t>(k % p.taps)] + u.q_begin;
      const int64_t steps = (u.q_end - u.q_begin + kLanes - 1) / kLanes;
      const conv_kernels::MaskBits* masks = p.masks + (u.q_begin / kLanes) * p.taps;
      if (gbias) {  // (5): float vector partials over <= 1536 positions, added in double
        for (int64_t co = 0; co < g.out_channels; ++co) {
          const float* row = dy_unit + co * plane + u.q_begin;
          float total = 0.0f;
#pragma omp simd reduction(+ : total)
          for (int64_t q = 0; q < u.q_end - u.q_begin; ++q) total += row[q];
          db[static_cast<size_t>(co)] += total;
        }
      }
      for (int64_t grp = 0; grp < p.groups; ++grp) {
        const float* x_group = x_unit + grp * p.in_per_group * plane;
        for (int64_t co0 = 0; co0 < p.out_per_group; co0 += kGradRows) {
          const int rows = static_cast<int>(std::min<int64_t>(kGradRows, p.out_per_group - co0));
          const int64_t co = grp * p.out_per_group + co0;
          if (rows <= conv_kernels::kWideRows) {
            // Few output channels: wide tiles, kGradWideColumns channels of one tap each.
            for (int64_t t = 0; t < p.taps; ++t)
              for (int64_t c0 = 0; c0 < p.in_per_group; c0 += conv_kernels::kGradWideColumns) {
                const int columns = static_cast<int>(
                    std::min<int64_t>(conv_kernels::kGradWideColumns, p.in_per_group - c0));
                const int64_t k0 = c0 * p.taps + t;  // weight (c0, t)
                for (int j = 0; j < columns; ++j)
                  wide_offsets[static_cast<size_t>(j)] = x_offsets[static_cast<size_t>(k0 + j * p.taps)];
                conv_kernels::wide_grad_tile_for(rows, columns)(
                    steps, plane, dy_unit + co * plane + u.q_begin, x_group, wide_offsets.data(),
                    mask_columns.data() + k0, masks, masks + center, p.taps, dw + co * p.K + k0,
                    p.K, p.taps);
              }
            continue;
          }
          for (int64_t k0 = 0; k0 < p.K; k0 += kGradColumns) {
            const int columns = static_cast<int>(std::min<int64_t>(kGradColumns, p.K - k0));
            conv_kernels::weight_grad_tile_for(rows, columns)(
                steps, plane, dy_unit + co * plane + u.q_begin, x_group,
                x_offsets.data() + k0, mask_columns.data() + k0, masks, masks + center,
                p.taps, dw + co * p.K + k0, p.K, 1);
          }
        }
      }
    }
  }
  std::copy(partial_w[0], partial_w[0] + weight_size, gw);
  for (int lane = 1; lane < lanes; ++lane)
    for (int64_t i = 0; i < weight_size; ++i) gw[i] += partial_w[static_cast<size_t>(lane)][i];
  if (gbias) {
    for (int64_t co = 0; co < g.out_channels; ++co) {
      double total = 0.0;
      for (int lane = 0; lane < lanes; ++lane)
        total += partial_b[static_cast<size_t>(lane)][static_cast<size_t>(co)];
      gbias[co] = static_cast<float>(total);
    }
  }
}

CpuConvAlgorithm& conv_algorithm() {
  static CpuConvAlgorithm algorithm = CpuConvAlgorithm::Auto;
  return algorithm;
}

bool use_direct(const Conv2dGeometry& g) {
  return conv_algorithm() == CpuConvAlgorithm::Auto && direct_applies(g);
}

}  // namespace

void set_cpu_conv_algorithm(CpuConvAlgorithm algorithm) { conv_algorithm() = algorithm; }
CpuConvAlgorithm cpu_conv_algorithm() { return conv_algorithm(); }

void CpuBackend::conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                                const Conv2dGeometry& g) {
  if (!use_direct(g)) return im2col_forward(x, w, bias, y, g);
  const DirectPlan p = make_direct_plan(g.batch, g.in_channels, g.out_channels, g.groups, g);
  // A = W_g [C_out/G, C_in/G, KH, KW] as it is stored.
  const float* packed = pack_weights(p, [&](int64_t grp, int64_t co, int64_t c, int64_t t) {
    return w[((grp * p.out_per_group + co) * p.in_per_group + c) * p.taps + t];
  });
  direct_conv(x, packed, bias, y, p);
}

// dx[c] = sum over co, kh, kw of W[co][c][kh][kw] dy[co][ih + ph - kh][iw + pw - kw]: with
// kh' = KH-1-kh this is a same convolution of dy (C_out planes -> C_in planes) with
// W'[c][co][kh'][kw'] = W[co][c][KH-1-kh'][KW-1-kw'] and the same padding (K-1)/2.
void CpuBackend::conv2d_backward_input(const float* gy, const float* w, float* gx,
                                       const Conv2dGeometry& g) {
  if (!use_direct(g)) return im2col_backward_input(gy, w, gx, g);
  const DirectPlan p = make_direct_plan(g.batch, g.out_channels, g.in_channels, g.groups, g);
  const int64_t in_per_group = g.in_channels / g.groups;  // rows of A: the adjoint's outputs
  const int64_t out_per_group = g.out_channels / g.groups;
  const float* packed = pack_weights(p, [&](int64_t grp, int64_t c, int64_t co, int64_t t) {
    const int64_t rotated = p.taps - 1 - t;  // (KH-1-kh') * KW + (KW-1-kw')
    return w[((grp * out_per_group + co) * in_per_group + c) * p.taps + rotated];
  });
  direct_conv(gy, packed, nullptr, gx, p);
}

void CpuBackend::conv2d_backward_weight(const float* x, const float* gy, float* gw,
                                        float* gbias, const Conv2dGeometry& g) {
  if (!use_direct(g)) return im2col_backward_weight(x, gy, gw, gbias, g);
  direct_backward_weight(x, gy, gw, gbias, g);
}

}  // namespace drift
