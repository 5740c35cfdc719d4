// conv_direct.cpp — the direct path: "same" convolutions (output = input size / stride)
// without im2col — forward, input gradient, weight gradient, their plans, and the per-thread
// cache of tap masks. The innermost loops are in conv_kernels.h; conv.cpp decides when this
// path runs (conv_im2col.cpp takes the rest); conv_common.h holds what the two share.
//
// im2col writes every input value KH*KW times into the column matrix, and the GEMM then copies
// the column matrix once more into its packed panels; for the small channel counts of our
// models (16-128 channels, 3x3 kernels) that copying costs about as much as the arithmetic.
// With stride 1 and an output of the input's size it can all be skipped, because of how a
// row of the column matrix looks. Number the pixels of a plane q = oh * W + ow. Row (c, kh, kw)
// of the column matrix ((1) in conv_im2col.cpp) holds, at column q,
//
//     x[c][oh + kh - ph][ow + kw - pw] = x_c[q + tap_offset],  tap_offset = (kh-ph) W + (kw-pw)  (6)
//
// when that pixel is inside the image, and 0 in the padding. So it is the plane of channel c
// itself, shifted by a constant, with some entries zeroed: consecutive q read consecutive
// memory. The GEMM kernel (conv_kernels.h, same_conv_tile) therefore reads its B operand
// straight from x with masked vector loads; the mask of each (vector of positions, tap) says
// which pixels are inside the image (left/right columns and top/bottom rows of a tap fall
// into the padding) and is computed once per geometry. No copy of x is made; the output is
// written in place, tile by tile. The weights are packed tap by tap into the GEMM's A panels
// (a few KB).
//
// Stride s > 1 (the U-Net's 3x3 stride-2 downsampling) becomes the same thing after splitting
// the input into s*s phase planes, x_ab[c][i][j] = x[c][s i + a][s j + b], each as large as
// the output: a tap with kh - ph = s dh + a reads phase (a, b) at offset (dh, dw), so (6)
// holds on the phase planes (copied, once per call, into a per-thread buffer).
//
//   forward          y = W * x (+ bias as the tiles' start value)
//   backward input   the adjoint. Input pixel (s i + a, s j + b) receives from the taps with
//                    kh - ph = s dh + a, kw - pw = s dw + b, from gy at (i - dh, j - dw): for
//                    each phase (a, b) a stride-1 same convolution of gy with those taps
//                    (their weights transposed in (c_out, c_in)); for stride 1 one phase with
//                    all the taps, i.e. the convolution with the rotated kernel
//   backward weight  dW[co][c][t] = sum over images and q of gy[co][q] * x_c[q + tap_offset[t]]
//                    (conv_kernels.h, weight_grad_tile: vector partial sums, added at the end)
//
// Small planes are batched. A 7x7 plane is 49 positions: 3 vectors of 16 and a fourth with
// one position, so a quarter of the arithmetic would be wasted, and the tiles' fixed costs
// (the weight gradient's final sums) would be spread over few positions. So `images` images
// are laid side by side into one "virtual plane" per channel: [C][images * OH * OW] (copied
// into the per-thread buffer; the masks keep every tap inside its own image). 16 images of
// 7x7 make 784 positions, exactly 49 vectors. Planes that already fill whole vectors and are
// large (28x28) are used in place.
#include <algorithm>
#include <array>
#include <map>
#include <vector>


#include "tensor/cpu/conv_common.h"
#include "tensor/cpu/conv_kernels.h"
#include "tensor/cpu/cpu_backend.h"

namespace drift::cpu::conv {

// The direct path takes convolutions whose output is the input size divided by the stride
// (rounded up): 3x3 padding 1 at any stride, 1x1, 5x5 padding 2, 4x4 stride 2 padding 1 on
// even sizes, ...
bool direct_applies(const Conv2dGeometry& g) {
  return g.stride_h == g.stride_w && g.out_h == ceil_div(g.in_h, g.stride_h) &&
         g.out_w == ceil_div(g.in_w, g.stride_w);
}

namespace {

// Positions a virtual plane aims at: a weight-gradient tile's gy rows (8 x 768 floats,
// 24 KB) stay in L1 while every tile of the plane reads them.
constexpr int64_t kPlanePositions = 768;

// A same convolution computed by the direct kernels: `in_channels` input planes of
// in_h x in_w, read at stride s through `taps`, to `out_channels` planes of out_h x out_w.
// Tap t reads, for output (i, j), the input pixel (s i + taps[t].row, s j + taps[t].col).
struct DirectPlan {
  struct Tap {
    int64_t row, col;
  };
  int64_t batch = 1, in_channels = 1, out_channels = 1, groups = 1;
  int64_t in_h = 1, in_w = 1, out_h = 1, out_w = 1, stride = 1;
  std::vector<Tap> taps;
  int64_t in_per_group = 1, out_per_group = 1, K = 1;  // K = in_per_group * taps
  int64_t images = 1;     // images per virtual plane (1: no batching)
  int64_t out_image = 1;  // out_h * out_w
  int64_t plane = 1;      // positions per (virtual) plane: images * out_image
  int64_t vectors = 1;    // vectors of kLanes positions per plane (the last one may be partial)
  bool gathered = false;  // the input is copied (phase planes, virtual planes) before use
  std::vector<int64_t> tap_offsets;  // where tap t reads, from position q of channel 0: (6)
  // [vectors][taps + 1]: bit l of column t says that position v * kLanes + l exists and its
  // tap-t pixel is inside its image; column `taps` says only that the position exists.
  const conv_kernels::MaskBits* masks = nullptr;
  int64_t mask_stride() const { return static_cast<int64_t>(taps.size()) + 1; }
  int64_t tap_count() const { return static_cast<int64_t>(taps.size()); }
};

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The masks of a plan, kept per thread for the last few geometries (they repeat every step).
const conv_kernels::MaskBits* tap_masks(const DirectPlan& p) {
  using conv_kernels::kLanes;
  std::vector<int64_t> key{p.in_h, p.in_w, p.out_h, p.out_w, p.stride, p.images};
  for (const DirectPlan::Tap& t : p.taps) {
    key.push_back(t.row);
    key.push_back(t.col);
  }
  thread_local std::map<std::vector<int64_t>, std::vector<conv_kernels::MaskBits>> cache;
  auto found = cache.find(key);
  if (found != cache.end()) return found->second.data();
  if (cache.size() >= 32) cache.clear();  // bounded: a model has a handful of geometries
  const int64_t columns = p.mask_stride();
  std::vector<conv_kernels::MaskBits> masks(static_cast<size_t>(p.vectors * columns), 0);
  for (int64_t q = 0; q < p.plane; ++q) {
    const int64_t i = (q % p.out_image) / p.out_w, j = q % p.out_w;
    const auto bit = static_cast<conv_kernels::MaskBits>(1u << (q % kLanes));
    conv_kernels::MaskBits* row = masks.data() + (q / kLanes) * columns;
    for (int64_t t = 0; t < p.tap_count(); ++t) {
      const int64_t ih = p.stride * i + p.taps[static_cast<size_t>(t)].row;
      const int64_t iw = p.stride * j + p.taps[static_cast<size_t>(t)].col;
      if (ih >= 0 && ih < p.in_h && iw >= 0 && iw < p.in_w) row[t] |= bit;
    }
    row[p.tap_count()] |= bit;
  }
  return cache.emplace(std::move(key), std::move(masks)).first->second.data();
}

DirectPlan make_direct_plan(int64_t batch, int64_t in_channels, int64_t out_channels,
                            int64_t groups, int64_t in_h, int64_t in_w, int64_t out_h,
                            int64_t out_w, int64_t stride, std::vector<DirectPlan::Tap> taps) {
  using conv_kernels::kLanes;
  DirectPlan p;
  p.batch = batch;
  p.in_channels = in_channels;
  p.out_channels = out_channels;
  p.groups = groups;
  p.in_h = in_h;
  p.in_w = in_w;
  p.out_h = out_h;
  p.out_w = out_w;
  p.stride = stride;
  p.taps = std::move(taps);
  p.in_per_group = in_channels / groups;
  p.out_per_group = out_channels / groups;
  p.K = p.in_per_group * p.tap_count();
  p.out_image = out_h * out_w;
  const bool fills_vectors = p.out_image % kLanes == 0 && p.out_image >= kPlanePositions / 2;
  p.images = fills_vectors
                 ? 1
                 : std::max<int64_t>(1, std::min(batch, (kPlanePositions + p.out_image / 2) / p.out_image));
  p.plane = p.images * p.out_image;
  p.vectors = (p.plane + kLanes - 1) / kLanes;
  p.gathered = stride > 1 || p.images > 1;
  for (const DirectPlan::Tap& t : p.taps) {
    if (!p.gathered) {  // stride 1, the tensor's own planes (in_w == out_w)
      p.tap_offsets.push_back(t.row * out_w + t.col);
    } else {  // phase (a, b) block of the buffer, offset (dh, dw) on the phase plane
      const int64_t dh = floor_div(t.row, stride), dw = floor_div(t.col, stride);
      const int64_t phase = (t.row - dh * stride) * stride + (t.col - dw * stride);
      p.tap_offsets.push_back(phase * in_channels * p.plane + dh * out_w + dw);
    }
  }
  p.masks = tap_masks(p);
  return p;
}

// The taps of a forward convolution, (kh - ph, kw - pw) in (kh, kw) order.
std::vector<DirectPlan::Tap> forward_taps(const Conv2dGeometry& g) {
  std::vector<DirectPlan::Tap> taps;
  for (int64_t kh = 0; kh < g.kernel_h; ++kh)
    for (int64_t kw = 0; kw < g.kernel_w; ++kw) taps.push_back({kh - g.pad_h, kw - g.pad_w});
  return taps;
}

DirectPlan forward_plan(const Conv2dGeometry& g) {
  return make_direct_plan(g.batch, g.in_channels, g.out_channels, g.groups, g.in_h, g.in_w,
                          g.out_h, g.out_w, g.stride_h, forward_taps(g));
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
      for (int64_t t = 0; t < p.tap_count(); ++t)
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
  int64_t first = 0, count = 1;    // images
  int64_t q_begin = 0, q_end = 0;  // positions of the (virtual) plane, q_begin % kLanes == 0
};

// The units of a plan: the batch in virtual planes, large planes in parts of about
// kPositionsPerPart positions (multiples of `granule` positions).
std::vector<PlaneUnit> plane_units(const DirectPlan& p, int64_t granule) {
  std::vector<PlaneUnit> units;
  const int64_t part = std::max(granule, kPositionsPerPart / granule * granule);
  for (int64_t first = 0; first < p.batch; first += p.images) {
    const int64_t count = std::min(p.images, p.batch - first);
    for (int64_t q = 0; q < count * p.out_image; q += part)
      units.push_back({first, count, q, std::min(count * p.out_image, q + part)});
  }
  return units;
}

// Lays `count` images of a plan's input (`channels` planes of in_h x in_w each) into the
// buffer layout: phase (a, b) block, channel c, image i at
//   dst[((a s + b) channels + c) plane + i out_image + r out_w + k] = src[i][c][s r + a][s k + b]
// (0 outside the image and for the images past `count`). Stride 1: the planes side by side.
void gather_input(const float* src, int64_t channels, const DirectPlan& p, int64_t count,
                  float* dst) {
  const int64_t s = p.stride, in_image = p.in_h * p.in_w;
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < count; ++i) {
      const float* in = src + (i * channels + c) * in_image;
      // Row r of phase (a, b) of this image and channel.
      auto phase_row = [&](int64_t a, int64_t b, int64_t r) {
        return dst + ((a * s + b) * channels + c) * p.plane + i * p.out_image + r * p.out_w;
      };
      if (s == 1) {  // in_h x in_w == out_h x out_w
        conv_kernels::copy_floats(phase_row(0, 0, 0), in, in_image);
        continue;
      }
      for (int64_t a = 0; a < s; ++a)
        for (int64_t r = 0; r < p.out_h; ++r) {
          const int64_t ih = s * r + a;
          if (ih >= p.in_h) {
            for (int64_t b = 0; b < s; ++b) std::fill(phase_row(a, b, r), phase_row(a, b, r) + p.out_w, 0.0f);
            continue;
          }
          const float* in_row = in + ih * p.in_w;
          if (s == 2) {  // both column phases at once
            const int64_t n_even = (p.in_w + 1) / 2, n_odd = p.in_w / 2;
            float* even = phase_row(a, 0, r);
            float* odd = phase_row(a, 1, r);
            conv_kernels::split_even_odd(in_row, n_even, n_odd, even, odd);
            std::fill(even + n_even, even + p.out_w, 0.0f);
            std::fill(odd + n_odd, odd + p.out_w, 0.0f);
            continue;
          }
          for (int64_t b = 0; b < s; ++b) {
            float* row = phase_row(a, b, r);
            const int64_t inside = std::min(p.out_w, ceil_div(p.in_w - b, s));
            for (int64_t k = 0; k < inside; ++k) row[k] = in_row[s * k + b];
            std::fill(row + inside, row + p.out_w, 0.0f);
          }
        }
    }
    for (int64_t phase = 0; phase < s * s; ++phase) {  // images past `count`: zeros
      float* out = dst + (phase * channels + c) * p.plane;
      std::fill(out + count * p.out_image, out + p.plane, 0.0f);
    }
  }
}

// dst[i][c][q] = src[c][i * out_image + q] for the `count` images of a virtual plane.
void scatter_plane(const float* src, int64_t channels, const DirectPlan& p, int64_t count,
                   float* dst) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < count; ++i)
      conv_kernels::copy_floats(dst + (i * channels + c) * p.out_image,
                                src + c * p.plane + i * p.out_image, p.out_image);
}

// Runs body(unit, lane) for unit = 0..units-1, shared among the threads.
template <class Body>
void run_units(int64_t units, Body&& body) {
  const int lanes = lanes_for(units);
#pragma omp parallel num_threads(lanes) if (lanes > 1)
  {
    const int lane = current_lane();
#pragma omp for schedule(static)
    for (int64_t unit = 0; unit < units; ++unit) body(unit, lane);
  }
}

// The direct convolution of `input` with the packed weights (+ bias), over the plan's
// positions. One unit = a virtual plane or a part of a large plane; for each strip of
// positions, every (group, panel of kMR output channels) tile. The tiles write straight into
// `output` ([N][C_out][out_image]) when it is given and the plan has one image per plane;
// otherwise into a buffer [C_out][plane], handed to store(unit, buffer) at the end of the unit.
template <class Store>
void direct_conv(const float* input, const float* packed_weights, const float* bias,
                 float* output, const DirectPlan& p, Store&& store) {
  using conv_kernels::kLanes;
  using conv_kernels::kMR;
  // Few output channels: wide tiles (more positions per tile, the same register budget).
  const bool wide = p.out_per_group <= conv_kernels::kWideRows;
  const int64_t strip = (wide ? conv_kernels::kWideVectors : conv_kernels::kVectors) * kLanes;
  const int64_t panels = (p.out_per_group + kMR - 1) / kMR;
  const int64_t group_floats = panels * kMR * p.K;
  const bool in_place = output != nullptr && p.images == 1;
  const std::vector<PlaneUnit> units = plane_units(p, strip);
  run_units(static_cast<int64_t>(units.size()), [&](int64_t index, int) {
    const PlaneUnit& u = units[static_cast<size_t>(index)];
    const float* x = input + u.first * p.in_channels * p.in_h * p.in_w;
    const int64_t in_floats = p.gathered ? p.stride * p.stride * p.in_channels * p.plane : 0;
    float* buffer = thread_scratch(kPlaneSlot, in_floats + (in_place ? 0 : p.out_channels * p.plane));
    if (p.gathered) {
      gather_input(x, p.in_channels, p, u.count, buffer);
      x = buffer;
    }
    float* y = in_place ? output + u.first * p.out_channels * p.out_image : buffer + in_floats;
    for (int64_t q0 = u.q_begin; q0 < u.q_end; q0 += strip) {
      const int width = static_cast<int>(std::min(strip, u.q_end - q0));
      const int vectors = static_cast<int>((width + kLanes - 1) / kLanes);
      const conv_kernels::MaskBits* masks = p.masks + (q0 / kLanes) * p.mask_stride();
      for (int64_t g = 0; g < p.groups; ++g) {
        const float* x_group = x + g * p.in_per_group * p.plane + q0;
        for (int64_t panel = 0; panel < panels; ++panel) {
          const int64_t row0 = panel * kMR;
          const int rows = static_cast<int>(std::min<int64_t>(kMR, p.out_per_group - row0));
          const int64_t out_channel = g * p.out_per_group + row0;
          const conv_kernels::SameConvTile tile =
              wide ? conv_kernels::wide_conv_tile_for(rows, vectors)
                   : conv_kernels::same_conv_tile_for(rows, vectors);
          tile(p.in_per_group, static_cast<int>(p.tap_count()),
               packed_weights + g * group_floats + row0 * p.K, x_group, p.plane,
               p.tap_offsets.data(), masks, p.mask_stride(), bias ? bias + out_channel : nullptr,
               y + out_channel * p.plane + q0, p.plane, width);
        }
      }
    }
    if (!in_place) store(u, y);
  });
}

}  // namespace

// The forward pass on the direct path: y = W * x (+ bias), the weights packed as they are.
void direct_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeometry& g) {
  const DirectPlan p = forward_plan(g);
  // A = W_g [C_out/G, C_in/G, KH, KW] as it is stored.
  const float* packed = pack_weights(p, [&](int64_t grp, int64_t co, int64_t c, int64_t t) {
    return w[((grp * p.out_per_group + co) * p.in_per_group + c) * p.tap_count() + t];
  });
  direct_conv(x, packed, bias, y, p, [&](const PlaneUnit& u, const float* result) {
    scatter_plane(result, p.out_channels, p, u.count, y + u.first * p.out_channels * p.out_image);
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
  const DirectPlan p = forward_plan(g);
  const std::vector<PlaneUnit> units = plane_units(p, kLanes);
  const int lanes = lanes_for(static_cast<int64_t>(units.size()));
  const int64_t weight_size = g.out_channels * p.K;
  const int64_t taps = p.tap_count();
  // Weight k = (c, t) of a filter (its index in the [C_out/G, C_in/G * KH * KW] matrix)
  // reads channel c of the group at tap t's offset (6), through tap t's masks.
  std::vector<int64_t> mask_columns(static_cast<size_t>(p.K));
  for (int64_t k = 0; k < p.K; ++k) mask_columns[static_cast<size_t>(k)] = k % taps;
  const int64_t in_image = g.in_h * g.in_w;

  std::vector<float*> partial_w(static_cast<size_t>(lanes), nullptr);
  std::vector<std::vector<double>> partial_b(
      static_cast<size_t>(lanes), std::vector<double>(static_cast<size_t>(g.out_channels), 0.0));
#pragma omp parallel num_threads(lanes) if (lanes > 1)
  {
    const int lane = current_lane();
    float* dw = thread_scratch(kGradientSlot, weight_size);
    std::fill(dw, dw + weight_size, 0.0f);
    partial_w[static_cast<size_t>(lane)] = dw;
    std::vector<double>& db = partial_b[static_cast<size_t>(lane)];
    std::vector<int64_t> x_offsets(static_cast<size_t>(p.K));
    std::vector<int64_t> wide_offsets(static_cast<size_t>(conv_kernels::kGradWideColumns));
#pragma omp for schedule(static)
    for (int64_t index = 0; index < static_cast<int64_t>(units.size()); ++index) {
      const PlaneUnit& u = units[static_cast<size_t>(index)];
      const float* x_unit = x + u.first * g.in_channels * in_image;
      const float* gy_unit = gy + u.first * g.out_channels * p.out_image;
      const int64_t x_floats = p.gathered ? p.stride * p.stride * p.in_channels * p.plane : 0;
      const int64_t gy_floats = p.images > 1 ? p.out_channels * p.plane : 0;
      float* buffer = thread_scratch(kPlaneSlot, x_floats + gy_floats);
      if (p.gathered) {
        gather_input(x_unit, g.in_channels, p, u.count, buffer);
        x_unit = buffer;
      }
      if (p.images > 1) {  // gy into a virtual plane too (its own grid: no phases)
        float* gy_plane = buffer + x_floats;
        for (int64_t co = 0; co < g.out_channels; ++co) {
          float* row = gy_plane + co * p.plane;
          for (int64_t i = 0; i < u.count; ++i)
            conv_kernels::copy_floats(row + i * p.out_image,
                                      gy_unit + (i * g.out_channels + co) * p.out_image,
                                      p.out_image);
          std::fill(row + u.count * p.out_image, row + p.plane, 0.0f);
        }
        gy_unit = gy_plane;
      }
      for (int64_t k = 0; k < p.K; ++k)
        x_offsets[static_cast<size_t>(k)] =
            (k / taps) * p.plane + p.tap_offsets[static_cast<size_t>(k % taps)] + u.q_begin;
      const int64_t steps = (u.q_end - u.q_begin + kLanes - 1) / kLanes;
      const conv_kernels::MaskBits* masks = p.masks + (u.q_begin / kLanes) * p.mask_stride();
      const conv_kernels::MaskBits* exists = masks + taps;
      if (gbias) {  // (5): float vector partials over <= 1536 positions, added in double
        for (int64_t co = 0; co < g.out_channels; ++co) {
          const float* row = gy_unit + co * p.plane + u.q_begin;
          float total = 0.0f;
#pragma omp simd reduction(+ : total)
          for (int64_t q = 0; q < u.q_end - u.q_begin; ++q) total += row[q];
          db[static_cast<size_t>(co)] += total;
        }
      }
      for (int64_t grp = 0; grp < p.groups; ++grp) {
        const float* x_group = x_unit + grp * p.in_per_group * p.plane;
        for (int64_t co0 = 0; co0 < p.out_per_group; co0 += kGradRows) {
          const int rows = static_cast<int>(std::min<int64_t>(kGradRows, p.out_per_group - co0));
          const int64_t co = grp * p.out_per_group + co0;
          const float* gy_rows = gy_unit + co * p.plane + u.q_begin;
          if (rows <= conv_kernels::kWideRows) {
            // Few output channels: wide tiles, kGradWideColumns channels of one tap each.
            for (int64_t t = 0; t < taps; ++t)
              for (int64_t c0 = 0; c0 < p.in_per_group; c0 += conv_kernels::kGradWideColumns) {
                const int columns = static_cast<int>(
                    std::min<int64_t>(conv_kernels::kGradWideColumns, p.in_per_group - c0));
                const int64_t k0 = c0 * taps + t;  // weight (c0, t)
                for (int j = 0; j < columns; ++j)
                  wide_offsets[static_cast<size_t>(j)] = x_offsets[static_cast<size_t>(k0 + j * taps)];
                conv_kernels::wide_grad_tile_for(rows, columns)(
                    steps, p.plane, gy_rows, x_group, wide_offsets.data(), mask_columns.data() + k0,
                    masks, exists, p.mask_stride(), dw + co * p.K + k0, p.K, taps);
              }
            continue;
          }
          for (int64_t k0 = 0; k0 < p.K; k0 += kGradColumns) {
            const int columns = static_cast<int>(std::min<int64_t>(kGradColumns, p.K - k0));
            conv_kernels::weight_grad_tile_for(rows, columns)(
                steps, p.plane, gy_rows, x_group, x_offsets.data() + k0,
                mask_columns.data() + k0, masks, exists, p.mask_stride(), dw + co * p.K + k0, p.K,
                1);
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

// The backward-input pass on the direct path (see the top of this file): for each phase
// (a, b) of the input, the stride-1 same convolution of gy with the taps that land on it.
void direct_backward_input(const float* gy, const float* w, float* gx, const Conv2dGeometry& g) {
  const int64_t s = g.stride_h, in_image = g.in_h * g.in_w;
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t in_per_group = g.in_channels / g.groups, out_per_group = g.out_channels / g.groups;
  bool all_phases_read = true;
  std::vector<std::vector<int64_t>> phase_taps(static_cast<size_t>(s * s));  // tap indices
  std::vector<std::vector<DirectPlan::Tap>> phase_reads(static_cast<size_t>(s * s));
  for (int64_t kh = 0; kh < g.kernel_h; ++kh)
    for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
      const int64_t dh = floor_div(kh - g.pad_h, s), dw = floor_div(kw - g.pad_w, s);
      const int64_t phase = (kh - g.pad_h - dh * s) * s + (kw - g.pad_w - dw * s);
      phase_taps[static_cast<size_t>(phase)].push_back(kh * g.kernel_w + kw);
      phase_reads[static_cast<size_t>(phase)].push_back({-dh, -dw});  // gy at (i - dh, j - dw)
    }
  for (const auto& t : phase_taps) all_phases_read = all_phases_read && !t.empty();
  if (!all_phases_read) cpu_backend().fill(gx, g.batch * g.in_channels * in_image, 0.0f);
  for (int64_t phase = 0; phase < s * s; ++phase) {
    const std::vector<int64_t>& tap_index = phase_taps[static_cast<size_t>(phase)];
    if (tap_index.empty()) continue;
    const int64_t a = phase / s, b = phase % s;
    // gy (C_out planes of out_h x out_w) -> this phase of dx (C_in planes on the same grid).
    const DirectPlan p = make_direct_plan(g.batch, g.out_channels, g.in_channels, g.groups,
                                          g.out_h, g.out_w, g.out_h, g.out_w, 1,
                                          phase_reads[static_cast<size_t>(phase)]);
    const float* packed = pack_weights(p, [&](int64_t grp, int64_t c, int64_t co, int64_t t) {
      return w[((grp * out_per_group + co) * in_per_group + c) * taps +
               tap_index[static_cast<size_t>(t)]];
    });
    // In place when the phase is the whole input (stride 1) and planes are not batched;
    // otherwise each unit's result goes to the input pixels of its phase.
    float* in_place = s == 1 ? gx : nullptr;
    direct_conv(gy, packed, nullptr, in_place, p, [&](const PlaneUnit& u, const float* result) {
      for (int64_t i = 0; i < u.count; ++i)
        for (int64_t c = 0; c < g.in_channels; ++c) {
          const float* src = result + c * p.plane + i * p.out_image;
          float* dst = gx + ((u.first + i) * g.in_channels + c) * in_image;
          if (s == 1) {
            conv_kernels::copy_floats(dst, src, in_image);
            continue;
          }
          const int64_t columns = ceil_div(g.in_w - b, s);  // input columns of phase b
          for (int64_t r = 0; r < g.out_h && s * r + a < g.in_h; ++r) {
            float* row = dst + (s * r + a) * g.in_w + b;
            if (s == 2) {
              conv_kernels::spread_to_even(src + r * g.out_w, columns, row);
            } else {
              for (int64_t k = 0; k < columns; ++k) row[s * k] = src[r * g.out_w + k];
            }
          }
        }
    });
  }
}

}  // namespace drift::cpu::conv
