// conv_kernels.h — the innermost loops of the direct (im2col-free) convolution in
// conv_direct.cpp, which explains the method; here only what the loops compute.
//
// Setting: C planes of `plane` positions each (one image's H x W planes, or several small
// images side by side, see conv_direct.cpp); a "same" convolution (stride 1, output H x W).
// Output position q = oh * W + ow (+ i * H * W for image i of a plane). Tap t = (kh, kw) of
// the kernel reads, for output q, the input value at q + tap_offset[t] (tap_offset =
// (kh - ph) W + (kw - pw)) when that pixel lies inside the same image, and 0 otherwise.
// Which of the kLanes positions of a vector read inside their image is a bit mask,
// precomputed per (vector of positions, tap): masks[v * mask_stride + t], bit l for
// position q = v * kLanes + l (and 0 past the last position).
//
// 1. same_conv_tile: a kRows x (kUsedVectors * kLanes) tile of output channels x positions,
//
//        y[r][q] = init[r] + sum over taps t, channels c of A[t][c][r] * x[c][q + tap_offset[t]]
//
//    a GEMM micro-kernel (gemm_kernels.h) whose B operand is read straight from the image
//    through the masks instead of from a packed copy (an "implicit GEMM"). A is packed tap by
//    tap: for each (t, c), kMR values (one per row).
//
// 2. weight_grad_tile: the weight gradient of kRows output channels x kColumns weights (c, t),
//    a sum over the positions q of a plane,
//
//        out[r][(c, t)] += sum over q of gy[r][q] * x[c][q + tap_offset[t]]
//
//    Each accumulator is a vector of kLanes partial sums (one per position modulo kLanes),
//    added up across lanes only at the end, so the inner loop is kRows * kColumns independent
//    FMAs for kRows + kColumns vector loads.
//
// Both are written once against a small vector type (AVX-512, AVX2 or portable C++, chosen
// like gemm_kernels.h by the instruction set the compiler targets). Masked loads do not touch
// (and cannot fault on) the memory of masked-off lanes, so reads "above the first row" of the
// first channel are safe.
#pragma once

#include <cstdint>

#include "tensor/cpu/gemm_kernels.h"

namespace drift::conv_kernels {

using gemm_kernels::kLanes;
using gemm_kernels::kMR;
using gemm_kernels::kVectors;

using MaskBits = uint16_t;  // one bit per lane (kLanes <= 16)

#if defined(__AVX512F__)
using Vec = __m512;
using Mask = __mmask16;
inline Mask vmask(MaskBits bits) { return static_cast<Mask>(bits); }
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vset1(float x) { return _mm512_set1_ps(x); }
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline Vec vload(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
inline void vstore(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline void vstore(Mask m, float* p, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vsum(Vec v) {
  // Halves added until one lane is left: 512 -> 256 -> 128 -> 64 -> 32 bits.
  // (_mm512_reduce_add_ps does the same, but it and the unmasked shuffle / extract
  // intrinsics trip GCC 12's -Wuninitialized inside its own header; the masked forms with an
  // explicit source do not.)
  const __m512 swapped = _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, _MM_SHUFFLE(1, 0, 3, 2));
  const __m256 eight = _mm256_castpd_ps(_mm512_mask_extractf64x4_pd(
      _mm256_setzero_pd(), 0xFF, _mm512_castps_pd(_mm512_add_ps(v, swapped)), 0));
  const __m128 four = _mm_add_ps(_mm256_castps256_ps128(eight), _mm256_extractf128_ps(eight, 1));
  const __m128 two = _mm_add_ps(four, _mm_movehl_ps(four, four));
  return _mm_cvtss_f32(_mm_add_ss(two, _mm_movehdup_ps(two)));
}
// Weight-gradient tile: 8 rows x 3 weights = 24 accumulators + 3 x vectors + 1 gy vector.
inline constexpr int kGradRows = 8;
// Layers with few output channels (the toy model's 16 -> 3, the U-Net's 16 -> 1) get wide
// tiles instead, so that they still have enough independent accumulators: up to 4 rows x 6
// vectors (forward) and 4 rows x 6 weights (weight gradient).
inline constexpr int kWideRows = 4, kWideVectors = 6, kGradWideColumns = 6;
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
using Mask = __m256i;  // lanes with the sign bit set
inline Mask vmask(MaskBits bits) {
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i selected = _mm256_and_si256(_mm256_set1_epi32(bits), lane_bit);
  return _mm256_cmpeq_epi32(selected, lane_bit);
}
inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vset1(float x) { return _mm256_set1_ps(x); }
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline Vec vload(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }
inline void vstore(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline void vstore(Mask m, float* p, Vec v) { _mm256_maskstore_ps(p, m, v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vsum(Vec v) {
  const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 pairs = _mm_add_ps(half, _mm_movehl_ps(half, half));
  return _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)));
}
// 4 rows x 3 weights = 12 accumulators + 3 + 1 of the 16 ymm registers.
inline constexpr int kGradRows = 4;
inline constexpr int kWideRows = 2, kWideVectors = 4, kGradWideColumns = 4;
#else
struct Vec {
  float lane[kLanes];
};
using Mask = MaskBits;
inline Mask vmask(MaskBits bits) { return bits; }
inline Vec vzero() { return Vec{}; }
inline Vec vset1(float x) {
  Vec v;
  for (float& l : v.lane) l = x;
  return v;
}
inline Vec vload(const float* p) {
  Vec v;
  for (int i = 0; i < kLanes; ++i) v.lane[i] = p[i];
  return v;
}
inline Vec vload(Mask m, const float* p) {
  Vec v;
  for (int i = 0; i < kLanes; ++i) v.lane[i] = (m >> i) & 1 ? p[i] : 0.0f;
  return v;
}
inline void vstore(float* p, Vec v) {
  for (int i = 0; i < kLanes; ++i) p[i] = v.lane[i];
}
inline void vstore(Mask m, float* p, Vec v) {
  for (int i = 0; i < kLanes; ++i)
    if ((m >> i) & 1) p[i] = v.lane[i];
}
inline Vec vfma(Vec a, Vec b, Vec c) {
  for (int i = 0; i < kLanes; ++i) c.lane[i] += a.lane[i] * b.lane[i];
  return c;
}
inline float vsum(Vec v) {
  float total = 0.0f;
  for (float l : v.lane) total += l;
  return total;
}
inline constexpr int kGradRows = 4;
inline constexpr int kWideRows = 2, kWideVectors = 4, kGradWideColumns = 4;
#endif
inline constexpr int kGradColumns = 3;  // weights per tile row: a row of a 3x3 kernel

// Keeps a loaded vector in a register. Without it GCC folds the load into each of the FMAs
// that use the value (a memory operand per FMA), tripling the loads of the weight-gradient
// loop. The empty asm says "this value may have changed", so the compiler must keep it in a
// register and cannot re-load it.
#if defined(__GNUC__) && (defined(__AVX512F__) || defined(__AVX2__))
#define DRIFT_KEEP_IN_REGISTER(v) asm("" : "+v"(v))
#else
#define DRIFT_KEEP_IN_REGISTER(v) (void)(v)
#endif

// dst[0, n) = src[0, n) for the short runs the convolution copies (a 7x7 or 14x14 plane into a
// virtual plane): whole vectors, then one masked vector. Inline: a call to memcpy costs
// about as much as copying 49 floats.
inline void copy_floats(float* dst, const float* src, int64_t n);

// The mask of the first `n` lanes (0 <= n <= kLanes).
inline MaskBits first_lanes(int n) { return static_cast<MaskBits>((1u << n) - 1u); }

inline void copy_floats(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vstore(dst + i, vload(src + i));
  if (i < n) {
    const Mask rest = vmask(first_lanes(static_cast<int>(n - i)));
    vstore(rest, dst + i, vload(rest, src + i));
  }
}

// Stride 2 splits every input row into its even and odd columns (phase planes, conv_direct.cpp):
// even[k] = src[2k] for k < n_even, odd[k] = src[2k + 1] for k < n_odd (n_even is n_odd or
// n_odd + 1, the row length 2 n_odd or 2 n_odd + 1). The backward pass puts a phase back:
// dst[2k] = src[k] for k < n (dst pointing at the phase's first column).
#if defined(__AVX512F__)
inline void split_even_odd(const float* src, int64_t n_even, int64_t n_odd, float* even,
                           float* odd) {
  const __m512i even_lanes = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd_lanes = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  int64_t k = 0;
  for (; k + 16 <= n_odd; k += 16) {  // 32 source values -> 16 even + 16 odd
    const __m512 lo = _mm512_loadu_ps(src + 2 * k), hi = _mm512_loadu_ps(src + 2 * k + 16);
    _mm512_storeu_ps(even + k, _mm512_permutex2var_ps(lo, even_lanes, hi));
    _mm512_storeu_ps(odd + k, _mm512_permutex2var_ps(lo, odd_lanes, hi));
  }
  for (int64_t j = k; j < n_even; ++j) even[j] = src[2 * j];
  for (int64_t j = k; j < n_odd; ++j) odd[j] = src[2 * j + 1];
}
inline void spread_to_even(const float* src, int64_t n, float* dst) {
  // 8 values to lanes 0, 2, ..., 14 of a vector, stored through the mask of the even lanes.
  const __m512i spread = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    // (The masked forms with an explicit source: the plain ones trip GCC 12's
    // -Wmaybe-uninitialized inside its header.)
    const __m512 values = _mm512_mask_loadu_ps(_mm512_setzero_ps(), 0x00FF, src + k);
    _mm512_mask_storeu_ps(dst + 2 * k, 0x5555,
                          _mm512_mask_permutexvar_ps(values, 0xFFFF, spread, values));
  }
  for (; k < n; ++k) dst[2 * k] = src[k];
}
#else
inline void split_even_odd(const float* src, int64_t n_even, int64_t n_odd, float* even,
                           float* odd) {
  for (int64_t k = 0; k < n_even; ++k) even[k] = src[2 * k];
  for (int64_t k = 0; k < n_odd; ++k) odd[k] = src[2 * k + 1];
}
inline void spread_to_even(const float* src, int64_t n, float* dst) {
  for (int64_t k = 0; k < n; ++k) dst[2 * k] = src[k];
}
#endif

// Kernel 1. `x` and `y` point at position q0 of channel 0 of the plane; `masks` at the
// masks of the first vector of the tile (q0 / kLanes), tap t of vector v at
// masks[v * mask_stride + t]; `valid` (1..kUsedVectors * kLanes) positions of the tile are
// stored; init[r] is row r's start value (the bias) or null.
template <int kRows, int kUsedVectors>
void same_conv_tile(int64_t channels, int taps, const float* a_panel, const float* x,
                    int64_t channel_stride, const int64_t* tap_offsets, const MaskBits* masks,
                    int64_t mask_stride, const float* init, float* y, int64_t y_row_stride,
                    int valid) {
  Vec acc[kRows][kUsedVectors];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < kUsedVectors; ++v) acc[r][v] = init ? vset1(init[r]) : vzero();
  for (int t = 0; t < taps; ++t) {
    Mask mask[kUsedVectors];
#pragma GCC unroll 8
    for (int v = 0; v < kUsedVectors; ++v) mask[v] = vmask(masks[v * mask_stride + t]);
    const float* b = x + tap_offsets[t];
    const bool last_tap = t == taps - 1;
    for (int64_t c = 0; c < channels; ++c, b += channel_stride, a_panel += kMR) {
      // The last tap reads furthest ahead; the next strip will read the kNR floats after it,
      // which nothing has touched yet: ask for them now (one line per vector), so that the
      // next tile does not start with a cache miss on every channel.
      if (last_tap)
#pragma GCC unroll 8
        for (int v = 0; v < kUsedVectors; ++v)
          __builtin_prefetch(b + (kUsedVectors + v) * kLanes);
      Vec b_values[kUsedVectors];
#pragma GCC unroll 8
      for (int v = 0; v < kUsedVectors; ++v) b_values[v] = vload(mask[v], b + v * kLanes);
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        const Vec a_value = vset1(a_panel[r]);
#pragma GCC unroll 8
        for (int v = 0; v < kUsedVectors; ++v) acc[r][v] = vfma(a_value, b_values[v], acc[r][v]);
      }
    }
  }
  const Mask last = vmask(first_lanes(valid - (kUsedVectors - 1) * kLanes));
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < kUsedVectors - 1; ++v) vstore(y + r * y_row_stride + v * kLanes, acc[r][v]);
    vstore(last, y + r * y_row_stride + (kUsedVectors - 1) * kLanes, acc[r][kUsedVectors - 1]);
  }
}

using SameConvTile = void (*)(int64_t, int, const float*, const float*, int64_t, const int64_t*,
                              const MaskBits*, int64_t, const float*, float*, int64_t, int);

namespace detail {
template <int kMaxVectors, int kRows, int... kVectorsMinus1>
constexpr std::array<SameConvTile, kMaxVectors> conv_row(std::integer_sequence<int, kVectorsMinus1...>) {
  return {&same_conv_tile<kRows, kVectorsMinus1 + 1>...};
}
template <int kMaxVectors, int... kRowsMinus1>
constexpr std::array<std::array<SameConvTile, kMaxVectors>, sizeof...(kRowsMinus1)> conv_table(
    std::integer_sequence<int, kRowsMinus1...>) {
  return {conv_row<kMaxVectors, kRowsMinus1 + 1>(std::make_integer_sequence<int, kMaxVectors>())...};
}
}  // namespace detail

// The instance for `rows` <= kMR rows and `vectors` <= kVectors vectors.
inline SameConvTile same_conv_tile_for(int rows, int vectors) {
  static constexpr std::array<std::array<SameConvTile, kVectors>, kMR> table =
      detail::conv_table<kVectors>(std::make_integer_sequence<int, kMR>());
  return table[rows - 1][vectors - 1];
}

// The wide instances: `rows` <= kWideRows rows and `vectors` <= kWideVectors vectors.
inline SameConvTile wide_conv_tile_for(int rows, int vectors) {
  static constexpr std::array<std::array<SameConvTile, kWideVectors>, kWideRows> table =
      detail::conv_table<kWideVectors>(std::make_integer_sequence<int, kWideRows>());
  return table[rows - 1][vectors - 1];
}

// Kernel 2. gy row r at gy + r * plane; column j of the tile, a weight (c, t), reads
// x + x_offsets[j] (channel c shifted by tap t, at the first position) through the masks of
// tap mask_columns[j] (masks[s * mask_stride + tap] for step s); `valid_masks` are the
// positions that exist (for gy). `steps` vectors of positions. out[r * out_row_stride +
// j * out_column_stride] += the sum, for kRows <= kGradRows rows and kColumns <= kGradColumns weights (consecutive
// weights of a filter: for 3x3 kernels the three taps of a kernel row, whose loads hit the
// same cache lines).
// With kOneTap, every column is the same tap (of different channels): its mask is loaded
// once per step instead of once per column (the wide tiles, whose load ports are the limit).
template <int kRows, int kColumns, bool kOneTap = false>
void weight_grad_tile(int64_t steps, int64_t plane, const float* gy, const float* x,
                      const int64_t* x_offsets, const int64_t* mask_columns,
                      const MaskBits* masks, const MaskBits* valid_masks, int64_t mask_stride,
                      float* out, int64_t out_row_stride, int64_t out_column_stride) {
  Vec acc[kRows][kColumns];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < kColumns; ++j) acc[r][j] = vzero();
  const float* columns[kColumns];
#pragma GCC unroll 8
  for (int j = 0; j < kColumns; ++j) columns[j] = x + x_offsets[j];
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t q = s * kLanes;
    const MaskBits* step_masks = masks + s * mask_stride;
    Vec x_values[kColumns];
    if (kOneTap) {
      const Mask mask = vmask(step_masks[mask_columns[0]]);
#pragma GCC unroll 8
      for (int j = 0; j < kColumns; ++j) x_values[j] = vload(mask, columns[j] + q);
    } else {
#pragma GCC unroll 8
      for (int j = 0; j < kColumns; ++j)
        x_values[j] = vload(vmask(step_masks[mask_columns[j]]), columns[j] + q);
    }
    const Mask valid = vmask(valid_masks[s * mask_stride]);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      Vec gy_value = vload(valid, gy + r * plane + q);
      DRIFT_KEEP_IN_REGISTER(gy_value);
#pragma GCC unroll 8
      for (int j = 0; j < kColumns; ++j) acc[r][j] = vfma(gy_value, x_values[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < kColumns; ++j)
      out[r * out_row_stride + j * out_column_stride] += vsum(acc[r][j]);
}

using WeightGradTile = void (*)(int64_t, int64_t, const float*, const float*, const int64_t*,
                                const int64_t*, const MaskBits*, const MaskBits*, int64_t,
                                float*, int64_t, int64_t);

namespace detail {
template <int kMaxColumns, bool kOneTap, int kRows, int... kColumnsMinus1>
constexpr std::array<WeightGradTile, kMaxColumns> grad_row(
    std::integer_sequence<int, kColumnsMinus1...>) {
  return {&weight_grad_tile<kRows, kColumnsMinus1 + 1, kOneTap>...};
}
template <int kMaxColumns, bool kOneTap, int... kRowsMinus1>
constexpr std::array<std::array<WeightGradTile, kMaxColumns>, sizeof...(kRowsMinus1)> grad_table(
    std::integer_sequence<int, kRowsMinus1...>) {
  return {grad_row<kMaxColumns, kOneTap, kRowsMinus1 + 1>(
      std::make_integer_sequence<int, kMaxColumns>())...};
}
}  // namespace detail

// The instance for `rows` <= kGradRows rows and `columns` <= kGradColumns weights.
inline WeightGradTile weight_grad_tile_for(int rows, int columns) {
  static constexpr std::array<std::array<WeightGradTile, kGradColumns>, kGradRows> table =
      detail::grad_table<kGradColumns, false>(std::make_integer_sequence<int, kGradRows>());
  return table[rows - 1][columns - 1];
}

// The wide instances: `rows` <= kWideRows rows and `columns` <= kGradWideColumns weights, all
// of one tap (kOneTap).
inline WeightGradTile wide_grad_tile_for(int rows, int columns) {
  static constexpr std::array<std::array<WeightGradTile, kGradWideColumns>, kWideRows> table =
      detail::grad_table<kGradWideColumns, true>(std::make_integer_sequence<int, kWideRows>());
  return table[rows - 1][columns - 1];
}

}  // namespace drift::conv_kernels
