// gemm.cpp — matrix multiply, C = alpha * op(A) op(B) + beta * C, row-major, on the CPU.
//
// Almost all of the arithmetic of a network (linear layers, convolutions lowered to products,
// attention) ends up here, so this is the one kernel written for speed first. It follows the
// GotoBLAS / BLIS design (Goto & van de Geijn, "Anatomy of High-Performance Matrix
// Multiplication", 2008; Van Zee & van de Geijn, "BLIS", 2015).
//
// 1. The micro-kernel (gemm_kernels.h). A kMR x kNR tile of C lives in vector registers while
//    the kernel runs down the shared dimension: at each step one column of kMR values of A and
//    one row of kNR values of B are loaded and their outer product is added to the tile with
//    FMAs. Registers are the only memory fast enough to feed two FMA pipes, so the tile is as
//    large as the register file allows (AVX-512: 8 x 48 = 24 of the 32 zmm registers).
//
// 2. Packing. The kernel wants its operands as contiguous, aligned streams in exactly the
//    order it reads them: A as panels of kMR rows ("for each k, kMR values"), B as panels of
//    kNR columns ("for each k, kNR values"). So blocks of op(A) and op(B) are copied into such
//    buffers first. The copy absorbs the transposes and the leading dimensions (the kernel
//    never sees either), pads the last panel with zeros, and is paid once per block while
//    every packed value is then used many times.
//
// 3. Blocking for the caches. Five loops surround the kernel (Goto's order):
//
//      for jc over N in steps of kNC            B block    kKC x kNC  -> stays in L3
//        for pc over K in steps of kKC          pack B block
//          for ic over M in steps of kMC        pack A block kMC x kKC -> stays in L2
//            for jr over the block in kNR       B micro-panel kKC x kNR -> stays in L1
//              for ir over the block in kMR     A micro-panel streams from L2
//                micro-kernel: C[ir.., jr..] += A micro-panel * B micro-panel
//
//    The innermost loop reuses one B micro-panel (kKC x kNR floats) for every kMR rows of the
//    A block, so it must stay in L1 next to the A micro-panel streaming past it; the A block is
//    reused for every B micro-panel, so it must stay in L2; the B block is reused for every A
//    block, so it lives in L3. The sizes below follow from the cache sizes of the machine we
//    tune on (AMD EPYC, Zen 5: 48 KB L1d and 1 MB L2 per core, 32 MB L3 shared; Zen 4 has a
//    32 KB L1d) and were then checked by measurement (BENCHMARKS.md).
//
// 4. Threads (OpenMP). Each thread computes its own rectangle of C — the product is cut
//    along M or N, whichever keeps the pieces balanced — with its own packing buffers, so
//    threads never wait for each other. A batch of many small products (attention: one per
//    image and head) is instead shared out whole products at a time.
//
// 5. Tiny products (M N K below kSmallProduct) skip all of this: packing would cost more than
//    it saves. They use plain loops on the unpacked operands.
#include "tensor/cpu/gemm_kernels.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/cpu/cpu_backend.h"

namespace drift {
namespace {

using gemm_kernels::kMR;
using gemm_kernels::kNR;
using gemm_kernels::kKC;
using gemm_kernels::kMC;
using gemm_kernels::kNC;
using gemm_kernels::kSmallProduct;

// A thread is worth starting for about this many multiply-adds (~0.1 ms of work).
constexpr int64_t kWorkPerThread = 1 << 22;
constexpr size_t kBufferAlignment = 64;  // a cache line; also the alignment of zmm loads

// op(X) as a read-only view: element (row, col) of X, or of X^T when `transposed`.
struct OperandView {
  const float* data;
  int64_t ld;
  bool transposed;
  float at(int64_t row, int64_t col) const {
    return transposed ? data[col * ld + row] : data[row * ld + col];
  }
};

// One product C = alpha * op(A) op(B) + beta * C, op(A) M x K, op(B) K x N.
struct Product {
  int64_t M, N, K;
  float alpha, beta;
  OperandView a, b;
  float* c;
  int64_t ldc;
};

// ---- packing ------------------------------------------------------------------------------

// Packs rows [row0, row0 + rows) x depth [k0, k0 + depth) of op(A) as panels of kMR rows:
// panel p holds, for each k, the kMR values op(A)[row0 + p kMR + r][k0 + k]; rows past the
// end are zero.
void pack_a(const OperandView& a, int64_t row0, int64_t rows, int64_t k0, int64_t depth,
            float* packed) {
  for (int64_t panel_row = 0; panel_row < rows; panel_row += kMR) {
    const int64_t panel_rows = std::min<int64_t>(kMR, rows - panel_row);
    float* panel = packed + panel_row * depth;
    if (a.transposed) {
      // op(A)[i][k] = A[k][i]: the kMR values of one step are contiguous in A.
      for (int64_t k = 0; k < depth; ++k) {
        const float* src = a.data + (k0 + k) * a.ld + row0 + panel_row;
        float* dst = panel + k * kMR;
        for (int64_t r = 0; r < panel_rows; ++r) dst[r] = src[r];
        for (int64_t r = panel_rows; r < kMR; ++r) dst[r] = 0.0f;
      }
    } else {
      // op(A)[i][k] = A[i][k]: read each row along k, write it down a column of the panel.
      for (int64_t r = 0; r < panel_rows; ++r) {
        const float* src = a.data + (row0 + panel_row + r) * a.ld + k0;
        for (int64_t k = 0; k < depth; ++k) panel[k * kMR + r] = src[k];
      }
      for (int64_t r = panel_rows; r < kMR; ++r)
        for (int64_t k = 0; k < depth; ++k) panel[k * kMR + r] = 0.0f;
    }
  }
}

// Packs depth [k0, k0 + depth) x columns [col0, col0 + cols) of op(B) as panels of kNR
// columns: panel p holds, for each k, the kNR values op(B)[k0 + k][col0 + p kNR + j];
// columns past the end are zero.
void pack_b(const OperandView& b, int64_t k0, int64_t depth, int64_t col0, int64_t cols,
            float* packed) {
  for (int64_t panel_col = 0; panel_col < cols; panel_col += kNR) {
    const int64_t panel_cols = std::min<int64_t>(kNR, cols - panel_col);
    float* panel = packed + panel_col * depth;
    if (!b.transposed) {
      // op(B)[k][j] = B[k][j]: one step of the panel is a contiguous piece of a row of B.
      for (int64_t k = 0; k < depth; ++k) {
        const float* src = b.data + (k0 + k) * b.ld + col0 + panel_col;
        float* dst = panel + k * kNR;
        for (int64_t j = 0; j < panel_cols; ++j) dst[j] = src[j];
        for (int64_t j = panel_cols; j < kNR; ++j) dst[j] = 0.0f;
      }
    } else {
      // op(B)[k][j] = B[j][k]: read each row of B along k, write it down a column of the panel.
      for (int64_t j = 0; j < panel_cols; ++j) {
        const float* src = b.data + (col0 + panel_col + j) * b.ld + k0;
        for (int64_t k = 0; k < depth; ++k) panel[k * kNR + j] = src[k];
      }
      for (int64_t j = panel_cols; j < kNR; ++j)
        for (int64_t k = 0; k < depth; ++k) panel[k * kNR + j] = 0.0f;
    }
  }
}

// Each thread's packing buffers, allocated on its first packed product and reused for every
// later one (OpenMP keeps its worker threads alive, so thread_local storage persists).
class PackingBuffers {
 public:
  PackingBuffers()
      : a_(allocate(static_cast<size_t>(kMC * kKC))), b_(allocate(static_cast<size_t>(kKC * kNC))) {}
  ~PackingBuffers() {
    std::free(a_);
    std::free(b_);
  }
  PackingBuffers(const PackingBuffers&) = delete;
  PackingBuffers& operator=(const PackingBuffers&) = delete;
  float* a() { return a_; }
  float* b() { return b_; }

 private:
  static float* allocate(size_t floats) {
    void* p = std::aligned_alloc(kBufferAlignment, floats * sizeof(float));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<float*>(p);
  }
  float* a_;
  float* b_;
};

PackingBuffers& this_thread_buffers() {
  thread_local PackingBuffers buffers;
  return buffers;
}

// ---- the blocked product ------------------------------------------------------------------

// Rows [m0, m1) x columns [n0, n1) of C for the product p, on the calling thread: the five
// loops of the header comment.
void multiply_block(const Product& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  PackingBuffers& buffers = this_thread_buffers();
  float* packed_a = buffers.a();
  float* packed_b = buffers.b();
  for (int64_t jc = n0; jc < n1; jc += kNC) {
    const int64_t nc = std::min(kNC, n1 - jc);
    for (int64_t pc = 0; pc < p.K; pc += kKC) {
      const int64_t kc = std::min(kKC, p.K - pc);
      // The first depth block applies the caller's beta; later ones add to what it wrote.
      const float beta = pc == 0 ? p.beta : 1.0f;
      pack_b(p.b, pc, kc, jc, nc, packed_b);
      for (int64_t ic = m0; ic < m1; ic += kMC) {
        const int64_t mc = std::min(kMC, m1 - ic);
        pack_a(p.a, ic, mc, pc, kc, packed_a);
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int cols = static_cast<int>(std::min<int64_t>(kNR, nc - jr));
          const float* b_panel = packed_b + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int rows = static_cast<int>(std::min<int64_t>(kMR, mc - ir));
            gemm_kernels::kernel_for(rows, cols)(kc, packed_a + ir * kc, b_panel, p.alpha, beta,
                                                 p.c + (ic + ir) * p.ldc + jc + jr, p.ldc,
                                                 cols);
          }
        }
      }
    }
  }
}

// Plain loops for tiny products. The inner loop runs along contiguous memory: a row of B
// (added into a row of C) when B is not transposed, a row of B^T (a dot product) when it is.
void multiply_small(const Product& p) {
  for (int64_t i = 0; i < p.M; ++i) {
    float* c_row = p.c + i * p.ldc;
    if (!p.b.transposed) {
      for (int64_t j = 0; j < p.N; ++j) c_row[j] = p.beta == 0.0f ? 0.0f : p.beta * c_row[j];
      for (int64_t k = 0; k < p.K; ++k) {
        const float a_ik = p.alpha * p.a.at(i, k);
        const float* b_row = p.b.data + k * p.b.ld;
        for (int64_t j = 0; j < p.N; ++j) c_row[j] += a_ik * b_row[j];
      }
    } else {
      for (int64_t j = 0; j < p.N; ++j) {
        const float* b_col = p.b.data + j * p.b.ld;  // column j of op(B), contiguous
        float dot = 0.0f;
        for (int64_t k = 0; k < p.K; ++k) dot += p.a.at(i, k) * b_col[k];
        c_row[j] = p.alpha * dot + (p.beta == 0.0f ? 0.0f : p.beta * c_row[j]);
      }
    }
  }
}

// C = beta * C (zero when beta == 0, C not read): the whole product when K == 0 or alpha == 0.
void scale_c(const Product& p) {
  for (int64_t i = 0; i < p.M; ++i) {
    float* c_row = p.c + i * p.ldc;
    for (int64_t j = 0; j < p.N; ++j) c_row[j] = p.beta == 0.0f ? 0.0f : p.beta * c_row[j];
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// How many threads a product of this size deserves, at most `available`.
int threads_for(const Product& p, int available) {
  const int64_t work = p.M * p.N * p.K;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(available, work / kWorkPerThread)));
}

// Cuts C into a grid of `threads` rectangles, row_parts x (threads / row_parts), with cuts on
// micro-tile boundaries, choosing the grid whose largest rectangle is smallest.
int choose_row_parts(const Product& p, int threads) {
  const int64_t row_tiles = ceil_div(p.M, kMR), col_tiles = ceil_div(p.N, kNR);
  int best = 1;
  int64_t best_cost = -1;
  for (int row_parts = 1; row_parts <= threads; ++row_parts) {
    if (threads % row_parts != 0) continue;
    const int col_parts = threads / row_parts;
    const int64_t cost = ceil_div(row_tiles, row_parts) * kMR * ceil_div(col_tiles, col_parts) * kNR;
    if (best_cost < 0 || cost < best_cost) {
      best = row_parts;
      best_cost = cost;
    }
  }
  return best;
}

// One product on up to `threads` threads.
void multiply(const Product& p, int threads) {
  if (p.M == 0 || p.N == 0) return;
  if (p.K == 0 || p.alpha == 0.0f) return scale_c(p);
  if (p.M * p.N * p.K < kSmallProduct) return multiply_small(p);
  threads = threads_for(p, threads);
  if (threads == 1) return multiply_block(p, 0, p.M, 0, p.N);
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const int team = omp_get_num_threads(), me = omp_get_thread_num();
#else
    const int team = 1, me = 0;
#endif
    const int row_parts = choose_row_parts(p, team), col_parts = team / row_parts;
    const int row_part = me / col_parts, col_part = me % col_parts;
    const int64_t row_tiles = ceil_div(p.M, kMR), col_tiles = ceil_div(p.N, kNR);
    const int64_t m0 = std::min(p.M, row_tiles * row_part / row_parts * kMR);
    const int64_t m1 = std::min(p.M, row_tiles * (row_part + 1) / row_parts * kMR);
    const int64_t n0 = std::min(p.N, col_tiles * col_part / col_parts * kNR);
    const int64_t n1 = std::min(p.N, col_tiles * (col_part + 1) / col_parts * kNR);
    if (m0 < m1 && n0 < n1) multiply_block(p, m0, m1, n0, n1);
  }
}

}  // namespace

void CpuBackend::gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                      float* C, int64_t ldc, int64_t batch, int64_t stride_a, int64_t stride_b,
                      int64_t stride_c) {
  auto item = [&](int64_t b) {
    return Product{M,     N,    K,   alpha, beta, {A + b * stride_a, lda, trans_a},
                   {B + b * stride_b, ldb, trans_b}, C + b * stride_c, ldc};
  };
  const int threads = num_threads();
  // Whole products per thread when the batch splits evenly (or is long enough that the
  // uneven end hardly matters), or when each product is too small to split anyway.
  const bool items_per_thread =
      batch >= threads &&
      (batch % threads == 0 || batch >= 4 * threads || threads_for(item(0), threads) == 1);
  if (batch > 1 && items_per_thread) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t b = 0; b < batch; ++b) multiply(item(b), 1);
  } else {
    for (int64_t b = 0; b < batch; ++b) multiply(item(b), threads);
  }
}

}  // namespace drift
