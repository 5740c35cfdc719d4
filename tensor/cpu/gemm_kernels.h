// gemm_kernels.h — the micro-kernels of the CPU SGEMM. gemm.cpp tells the whole story (blocking,
// packing, threads); this file holds only the innermost piece, the one that does the arithmetic:
//
//     C[rows x cols] = alpha * (A_panel B_panel) + beta * C        (beta == 0: C is not read)
//
// where A_panel is `depth` steps of kMR packed values (one column of a kMR-row sliver of op(A)
// per step) and B_panel is `depth` steps of kNR packed values (one row of a kNR-column sliver
// of op(B) per step). The product is a sum of `depth` outer products, each a rank-1 update
//     acc[r][j] += A_panel[k][r] * B_panel[k][j]
// held entirely in vector registers: kNR = kVectors * kLanes columns are kVectors vector
// registers per row, and each A value is broadcast to a whole register. An edge tile (fewer
// than kMR rows or kNR columns of C left) is computed by an instance with fewer rows and fewer
// vectors and writes its last vector through a mask, so an edge tile wastes at most the
// unused lanes of one vector per row.
//
// One implementation is compiled, chosen by the instruction set the compiler targets (the
// build uses -march=native): AVX-512, AVX2 + FMA, or portable C++.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace drift::gemm_kernels {

#if defined(__AVX512F__)
// 32 zmm registers of 16 floats. An 8 x 48 tile takes 8 * 3 = 24 accumulators, 3 registers
// for a row of B and 1 for the broadcast A value: 28 of 32. Each depth step does 24 FMAs
// (12 cycles on two FMA pipes) for 3 vector loads + 8 broadcasts: the loads keep up easily.
// 24 independent accumulators also cover the FMA latency (4 cycles x 2 pipes = 8 in flight).
// kMR = 8 divides the channel counts of our U-Nets (16, 32, 64), which are the M of the
// convolution products, so those run without edge tiles along M (a 14 x 32 tile would fill
// the registers a little better but run M = 16 as 14 + 2 rows).
inline constexpr const char* kInstructionSet = "AVX-512";
inline constexpr int kLanes = 16;   // floats per register
inline constexpr int kMR = 8;       // rows of the micro-tile
inline constexpr int kVectors = 3;  // registers per row of the micro-tile
#elif defined(__AVX2__) && defined(__FMA__)
// 16 ymm registers of 8 floats. The classic 6 x 16 tile (the BLIS Haswell kernel): 12
// accumulators + 2 registers for a row of B + 1 broadcast = 15 of 16; 12 FMAs per step for
// 2 loads + 6 broadcasts; 12 accumulators cover the latency (5 cycles x 2 pipes = 10).
inline constexpr const char* kInstructionSet = "AVX2+FMA";
inline constexpr int kLanes = 8;
inline constexpr int kMR = 6;
inline constexpr int kVectors = 2;
#else
// Portable C++: the same loop nest on plain arrays; the compiler vectorises what it can.
inline constexpr const char* kInstructionSet = "portable C++";
inline constexpr int kLanes = 8;
inline constexpr int kMR = 4;
inline constexpr int kVectors = 2;
#endif
inline constexpr int kNR = kVectors * kLanes;  // columns of the micro-tile

// ---- cache blocks (gemm.cpp, section 3, explains the choice) -------------------------------
inline constexpr int64_t kKC = 512;                   // depth of a block
inline constexpr int64_t kMC = (192 / kMR) * kMR;     // rows of an A block (multiple of kMR)
inline constexpr int64_t kNC = (4096 / kNR) * kNR;    // columns of a B block (multiple of kNR)
// Products with M N K below this take plain loops instead (packing would cost more).
inline constexpr int64_t kSmallProduct = 32 * 1024;

// Where a finished tile goes: C = alpha * tile + beta * C for `cols` columns of kRows rows
// at c (row stride ldc), (kUsedVectors - 1) * kLanes < cols <= kUsedVectors * kLanes.
// (Passed by reference so that alpha and beta wait in memory, not in two of the registers
// the loop needs: with AVX2's 16 registers that would spill an accumulator.)
struct TileOutput {
  float* c;
  int64_t ldc;
  int cols;
  float alpha, beta;
};

// Every micro-kernel instance has this signature. `a_panel` / `b_panel` are packed by
// gemm.cpp (steps of kMR / kNR floats, 64-byte aligned).
using MicroKernel = void (*)(int64_t depth, const float* a_panel, const float* b_panel,
                             const TileOutput& out);

#if defined(__AVX512F__)

template <int kRows, int kUsedVectors>
void micro_kernel(int64_t depth, const float* a_panel, const float* b_panel,
                  const TileOutput& out) {
  __m512 acc[kRows][kUsedVectors];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kUsedVectors; ++v) acc[r][v] = _mm512_setzero_ps();

  for (int64_t k = 0; k < depth; ++k) {
    __m512 b_row[kUsedVectors];
#pragma GCC unroll 4
    for (int v = 0; v < kUsedVectors; ++v) b_row[v] = _mm512_load_ps(b_panel + v * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 a_value = _mm512_set1_ps(a_panel[r]);
#pragma GCC unroll 4
      for (int v = 0; v < kUsedVectors; ++v)
        acc[r][v] = _mm512_fmadd_ps(a_value, b_row[v], acc[r][v]);
    }
    a_panel += kMR;
    b_panel += kNR;
  }

  // Write back: C = alpha * acc + beta * C, the last vector of each row through a mask.
  const int last_cols = out.cols - (kUsedVectors - 1) * kLanes;  // 1..16
  const __mmask16 last_mask = static_cast<__mmask16>((1u << last_cols) - 1u);
  const __m512 alpha = _mm512_set1_ps(out.alpha), beta = _mm512_set1_ps(out.beta);
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    float* c_row = out.c + r * out.ldc;
#pragma GCC unroll 4
    for (int v = 0; v < kUsedVectors; ++v) {
      const __mmask16 mask = v == kUsedVectors - 1 ? last_mask : static_cast<__mmask16>(0xFFFF);
      __m512 result = _mm512_mul_ps(alpha, acc[r][v]);
      if (out.beta != 0.0f)
        result = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask, c_row + v * kLanes), result);
      _mm512_mask_storeu_ps(c_row + v * kLanes, mask, result);
    }
  }
}

#elif defined(__AVX2__) && defined(__FMA__)

template <int kRows, int kUsedVectors>
void micro_kernel(int64_t depth, const float* a_panel, const float* b_panel,
                  const TileOutput& out) {
  __m256 acc[kRows][kUsedVectors];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kUsedVectors; ++v) acc[r][v] = _mm256_setzero_ps();

  for (int64_t k = 0; k < depth; ++k) {
    __m256 b_row[kUsedVectors];
#pragma GCC unroll 4
    for (int v = 0; v < kUsedVectors; ++v) b_row[v] = _mm256_load_ps(b_panel + v * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m256 a_value = _mm256_broadcast_ss(a_panel + r);
#pragma GCC unroll 4
      for (int v = 0; v < kUsedVectors; ++v)
        acc[r][v] = _mm256_fmadd_ps(a_value, b_row[v], acc[r][v]);
    }
    a_panel += kMR;
    b_panel += kNR;
  }

  // AVX2 masks are vectors whose lanes have the sign bit set: lane < last_cols.
  const int last_cols = out.cols - (kUsedVectors - 1) * kLanes;  // 1..8
  const __m256i last_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(last_cols),
                                               _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i full_mask = _mm256_set1_epi32(-1);
  const __m256 alpha = _mm256_set1_ps(out.alpha), beta = _mm256_set1_ps(out.beta);
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    float* c_row = out.c + r * out.ldc;
#pragma GCC unroll 4
    for (int v = 0; v < kUsedVectors; ++v) {
      const __m256i mask = v == kUsedVectors - 1 ? last_mask : full_mask;
      __m256 result = _mm256_mul_ps(alpha, acc[r][v]);
      if (out.beta != 0.0f)
        result = _mm256_fmadd_ps(beta, _mm256_maskload_ps(c_row + v * kLanes, mask), result);
      _mm256_maskstore_ps(c_row + v * kLanes, mask, result);
    }
  }
}

#else

template <int kRows, int kUsedVectors>
void micro_kernel(int64_t depth, const float* a_panel, const float* b_panel,
                  const TileOutput& out) {
  constexpr int kCols = kUsedVectors * kLanes;
  float acc[kRows][kCols] = {};
  for (int64_t k = 0; k < depth; ++k) {
    for (int r = 0; r < kRows; ++r)
      for (int j = 0; j < kCols; ++j) acc[r][j] += a_panel[r] * b_panel[j];
    a_panel += kMR;
    b_panel += kNR;
  }
  for (int r = 0; r < kRows; ++r) {
    float* c_row = out.c + r * out.ldc;
    for (int j = 0; j < out.cols; ++j)
      c_row[j] = out.alpha * acc[r][j] + (out.beta == 0.0f ? 0.0f : out.beta * c_row[j]);
  }
}

#endif

// ---- a packing helper: the 8 x 8 transpose -------------------------------------------------
// dst[c * dst_stride + r] = src[r * src_stride + c] for r, c < 8. Packing uses it where it
// reads an operand along one dimension and writes the panel along the other.
#if defined(__AVX__)
inline void transpose_8x8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  // Rows a..h. Interleave pairs of rows, then pairs of pairs, then swap 128-bit halves.
  __m256 row[8];
  for (int r = 0; r < 8; ++r) row[r] = _mm256_loadu_ps(src + r * src_stride);
  __m256 pairs[8], quads[8];
  for (int r = 0; r < 8; r += 2) {
    pairs[r] = _mm256_unpacklo_ps(row[r], row[r + 1]);      // a0 b0 a1 b1 | a4 b4 a5 b5
    pairs[r + 1] = _mm256_unpackhi_ps(row[r], row[r + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  for (int r = 0; r < 8; r += 4) {
    quads[r] = _mm256_shuffle_ps(pairs[r], pairs[r + 2], _MM_SHUFFLE(1, 0, 1, 0));  // a0b0c0d0|..4
    quads[r + 1] = _mm256_shuffle_ps(pairs[r], pairs[r + 2], _MM_SHUFFLE(3, 2, 3, 2));  // ..1|..5
    quads[r + 2] = _mm256_shuffle_ps(pairs[r + 1], pairs[r + 3], _MM_SHUFFLE(1, 0, 1, 0));  // 2|6
    quads[r + 3] = _mm256_shuffle_ps(pairs[r + 1], pairs[r + 3], _MM_SHUFFLE(3, 2, 3, 2));  // 3|7
  }
  for (int c = 0; c < 4; ++c) {
    _mm256_storeu_ps(dst + c * dst_stride, _mm256_permute2f128_ps(quads[c], quads[c + 4], 0x20));
    _mm256_storeu_ps(dst + (c + 4) * dst_stride,
                     _mm256_permute2f128_ps(quads[c], quads[c + 4], 0x31));
  }
}
#else
inline void transpose_8x8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) dst[c * dst_stride + r] = src[r * src_stride + c];
}
#endif

// The table of instances: kernel_for(rows, cols) picks the one for an edge tile of
// rows <= kMR, cols <= kNR (both >= 1).
namespace detail {
template <int kRows, int... kVectorsMinus1>
constexpr std::array<MicroKernel, kVectors> row_of_kernels(
    std::integer_sequence<int, kVectorsMinus1...>) {
  return {&micro_kernel<kRows, kVectorsMinus1 + 1>...};
}
template <int... kRowsMinus1>
constexpr std::array<std::array<MicroKernel, kVectors>, kMR> table_of_kernels(
    std::integer_sequence<int, kRowsMinus1...>) {
  return {row_of_kernels<kRowsMinus1 + 1>(std::make_integer_sequence<int, kVectors>())...};
}
}  // namespace detail

inline MicroKernel kernel_for(int rows, int cols) {
  static constexpr std::array<std::array<MicroKernel, kVectors>, kMR> table =
      detail::table_of_kernels(std::make_integer_sequence<int, kMR>());
  return table[rows - 1][(cols + kLanes - 1) / kLanes - 1];
}

}  // namespace drift::gemm_kernels
