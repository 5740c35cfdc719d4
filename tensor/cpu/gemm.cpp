// gemm.cpp — matrix multiply, C = alpha * op(A) op(B) + beta * C, row-major, on the CPU.
//
// Almost all of the arithmetic of a network (linear layers, convolutions lowered to products,
// attention) ends up here, so this is the one kernel written for speed first. It follows the
// GotoBLAS / BLIS design (Goto & van de Geijn, "Anatomy of High-Performance Matrix
// Multiplication", ACM TOMS 2008; Van Zee & van de Geijn, "BLIS: A Framework for Rapidly
// Instantiating BLAS Functionality", ACM TOMS 2015). The numbers below are for the machine we
// tune on: an AMD EPYC Zen 5 core (2 x 512-bit FMA pipes at ~4 GHz, so 2 x 16 multiply-adds
// per cycle = 64 flop/cycle = ~259 GFLOP/s per core; 32 zmm registers; 48 KB L1d and 1 MB L2
// per core, 32 MB L3 shared). bench/ measures it against OpenBLAS (BENCHMARKS.md).
//
// 1. The micro-kernel (gemm_kernels.h). A kMR x kNR tile of C lives in vector registers while
//    the kernel runs down the shared dimension: at each step it loads one column of kMR values
//    of A and one row of kNR values of B and adds their outer product to the tile with FMAs.
//    Only registers are fast enough to feed two FMA pipes, so the tile is as large as the
//    register file allows: AVX-512, 8 x 48 = 24 accumulators of the 32 zmm registers.
//
// 2. Packing. The kernel wants its operands as contiguous, aligned streams in exactly the
//    order it reads them: A as panels of kMR rows ("for each k, kMR values"), B as panels of
//    kNR columns ("for each k, kNR values"). So blocks of op(A) and op(B) are first copied
//    into such buffers. The copy absorbs the transposes and the leading dimensions (the kernel
//    never sees either), pads the last panel with zeros, and is paid once per block while each
//    packed value is then used many times (kNC / kNR times for A, kMC / kMR times for B).
//
// 3. Blocking for the caches. Five loops surround the kernel (Goto's order):
//
//      for jc over N in steps of kNC           B block kKC x kNC, packed once   -> L3
//        for pc over K in steps of kKC
//          for ic over M in steps of kMC       A block kMC x kKC, packed        -> L2
//            for jr over the block in kNR      B micro-panel kKC x kNR          -> L2 / L1
//              for ir over the block in kMR    A micro-panel kMR x kKC          -> L1
//                micro-kernel: C tile [ir, jr] (+)= A micro-panel x B micro-panel
//
//    Each level keeps the block that the loop inside it reuses in the cache that can feed it:
//    - kKC = 512. The textbook rule puts the B micro-panel in L1; here it is 512 x 48 x 4 B =
//      96 KB and lives in L2. That is fine: one depth step needs 192 B of B per 24 FMAs (12
//      cycles), 16 B/cycle, a quarter of what L2 delivers (64 B/cycle). What a deep block buys
//      is fewer passes over C: every C tile is loaded and stored once per depth block, and at
//      2048^3 C (16 MB) does not fit in L2 or comfortably in L3. Measured at 2048^3 on one
//      core: kKC = 128 (B micro-panel in L1) 196 GFLOP/s, 256: 210, 512: 227 (1024: 235 on
//      one core, no gain on two, and its A block would take 768 KB of L2).
//    - kMC = 192. The A block, 192 x 512 x 4 B = 384 KB, is reused by every B micro-panel of
//      the B block, so it stays in the 1 MB L2 with room left for a B micro-panel and C.
//    - kNC = 4080 (85 panels of 48). The B block, 512 x 4080 x 4 B = 8 MB per thread (16 MB
//      for two), is reused by every A block and stays in L3; wide blocks mean A is packed
//      again only once per 4080 columns.
//    Measured neighbours (kKC 256-1024, kMC 48-192, kNC 480-4080) are within a few percent on
//    square products; these sizes were best on the conv-shaped rows of the benchmark.
//
// 4. Threads (OpenMP). Each thread computes its own share of C with its own buffers, so
//    threads never wait for each other. plan_threads() compares, with a rough cost model
//    (micro-tile work + floats packed), cutting C into a grid of rectangles (by rows, by
//    columns, or both) with cutting the depth (small C and a long depth, as in the weight
//    gradient of a convolution: each thread sums part of the depth into a partial C, and the
//    partials are added at the end). A batch of many products (attention: one per image and
//    head) is shared out instead, whole products per thread.
//
// 5. Tiny products (M N K below kSmallProduct) skip all of this: packing would cost more than
//    it saves. They use plain loops on the unpacked operands.
#include "tensor/cpu/gemm_kernels.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/kernels.h"
#include "tensor/error.h"

namespace drift {
namespace {

using gemm_kernels::kMR;
using gemm_kernels::kNR;
using gemm_kernels::kKC;
using gemm_kernels::kMC;
using gemm_kernels::kNC;
using gemm_kernels::kSmallProduct;

// A thread is worth starting for about this many multiply-adds, ~8 us of work. Measured on
// two cores: 96^3 runs as fast on two threads as on one, 128^3 (2M) 1.6x faster.
constexpr int64_t kWorkPerThread = 1 << 20;
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
// Both operands are packed by the same two routines; what differs is only which way the
// source runs. A panel of width W (kMR for A, kNR for B) holds, for each step k of the depth,
// W consecutive values; panel p covers values [p W, p W + W) of the width and starts at
// packed + p W depth. Values past `width` are zero.

// The source runs along the width: step k is the contiguous run src[k * stride + x].
// (op(A) = A^T: a row of A; op(B) = B: a row of B.) Step by step, a fixed-size copy per panel.
template <int kWidth>
void pack_along_width(const float* src, int64_t stride, int64_t depth, int64_t width,
                      float* packed) {
  const int64_t full_panels = width / kWidth, rest = width % kWidth;
  for (int64_t k = 0; k < depth; ++k) {
    const float* run = src + k * stride;
    float* step = packed + k * kWidth;  // step k of panel 0
    for (int64_t p = 0; p < full_panels; ++p, step += depth * kWidth, run += kWidth)
      std::memcpy(step, run, kWidth * sizeof(float));
    if (rest > 0) {
      for (int64_t x = 0; x < rest; ++x) step[x] = run[x];
      for (int64_t x = rest; x < kWidth; ++x) step[x] = 0.0f;
    }
  }
}

// The source runs along the depth: value x of the width is the run src[x * stride + k].
// (op(A) = A: a row of A; op(B) = B^T: a row of B.) Packing is a transpose, done 8 x 8 in
// registers where 8 runs and 8 steps are available, element by element at the edges.
template <int kWidth>
void pack_along_depth(const float* src, int64_t stride, int64_t depth, int64_t width,
                      float* packed) {
  for (int64_t x0 = 0; x0 < width; x0 += kWidth) {
    float* panel = packed + x0 * depth;
    const int64_t panel_width = std::min<int64_t>(kWidth, width - x0);
    int64_t x = 0;
    for (; x + 8 <= panel_width; x += 8) {
      const float* runs = src + (x0 + x) * stride;
      int64_t k = 0;
      for (; k + 8 <= depth; k += 8)
        gemm_kernels::transpose_8x8(runs + k, stride, panel + k * kWidth + x, kWidth);
      for (; k < depth; ++k)
        for (int64_t i = 0; i < 8; ++i) panel[k * kWidth + x + i] = runs[i * stride + k];
    }
    for (; x < panel_width; ++x) {
      const float* run = src + (x0 + x) * stride;
      for (int64_t k = 0; k < depth; ++k) panel[k * kWidth + x] = run[k];
    }
    for (; x < kWidth; ++x)
      for (int64_t k = 0; k < depth; ++k) panel[k * kWidth + x] = 0.0f;
  }
}

// Rows [row0, row0 + rows) x depth [k0, k0 + depth) of op(A), as panels of kMR rows.
void pack_a(const OperandView& a, int64_t row0, int64_t rows, int64_t k0, int64_t depth,
            float* packed) {
  if (a.transposed)  // op(A)[i][k] = A[k][i]
    pack_along_width<kMR>(a.data + k0 * a.ld + row0, a.ld, depth, rows, packed);
  else  // op(A)[i][k] = A[i][k]
    pack_along_depth<kMR>(a.data + row0 * a.ld + k0, a.ld, depth, rows, packed);
}

// Depth [k0, k0 + depth) x columns [col0, col0 + cols) of op(B), as panels of kNR columns.
void pack_b(const OperandView& b, int64_t k0, int64_t depth, int64_t col0, int64_t cols,
            float* packed) {
  if (b.transposed)  // op(B)[k][j] = B[j][k]
    pack_along_depth<kNR>(b.data + col0 * b.ld + k0, b.ld, depth, cols, packed);
  else  // op(B)[k][j] = B[k][j]
    pack_along_width<kNR>(b.data + k0 * b.ld + col0, b.ld, depth, cols, packed);
}

// Each thread's buffers, allocated on its first packed product and reused for every later
// one (OpenMP keeps its worker threads alive, so thread_local storage persists): the two
// packing buffers, and a partial C for products whose depth is shared among threads.
class ThreadBuffers {
 public:
  ThreadBuffers()
      : packed_a_(allocate(static_cast<size_t>(kMC * kKC))),
        packed_b_(allocate(static_cast<size_t>(kKC * kNC))) {}
  ~ThreadBuffers() {
    std::free(packed_a_);
    std::free(packed_b_);
    std::free(partial_c_);
  }
  ThreadBuffers(const ThreadBuffers&) = delete;
  ThreadBuffers& operator=(const ThreadBuffers&) = delete;
  float* packed_a() { return packed_a_; }
  float* packed_b() { return packed_b_; }
  // At least `floats` floats; grows (never shrinks) when a larger product needs it.
  float* partial_c(size_t floats) {
    if (floats > partial_c_size_) {
      std::free(partial_c_);
      partial_c_ = nullptr;  // (stays empty if the allocation below throws)
      partial_c_size_ = 0;
      partial_c_ = allocate(floats);
      partial_c_size_ = floats;
    }
    return partial_c_;
  }

 private:
  static float* allocate(size_t floats) {
    const size_t bytes = (floats * sizeof(float) + kBufferAlignment - 1) / kBufferAlignment *
                         kBufferAlignment;
    void* p = std::aligned_alloc(kBufferAlignment, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<float*>(p);
  }
  float* packed_a_;
  float* packed_b_;
  float* partial_c_ = nullptr;
  size_t partial_c_size_ = 0;
};

ThreadBuffers& this_thread_buffers() {
  thread_local ThreadBuffers buffers;
  return buffers;
}

// ---- the blocked product ------------------------------------------------------------------

// Rows [m0, m1) x columns [n0, n1) of C, summing over depth [k0, k1) only, for the product p
// on the calling thread: the five loops of the header comment.
void multiply_block(const Product& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                    int64_t k0, int64_t k1) {
  ThreadBuffers& buffers = this_thread_buffers();
  float* packed_a = buffers.packed_a();
  float* packed_b = buffers.packed_b();
  for (int64_t jc = n0; jc < n1; jc += kNC) {
    const int64_t nc = std::min(kNC, n1 - jc);
    for (int64_t pc = k0; pc < k1; pc += kKC) {
      const int64_t kc = std::min(kKC, k1 - pc);
      // The first depth block applies the caller's beta; later ones add to what it wrote.
      const float beta = pc == k0 ? p.beta : 1.0f;
      pack_b(p.b, pc, kc, jc, nc, packed_b);
      for (int64_t ic = m0; ic < m1; ic += kMC) {
        const int64_t mc = std::min(kMC, m1 - ic);
        pack_a(p.a, ic, mc, pc, kc, packed_a);
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int cols = static_cast<int>(std::min<int64_t>(kNR, nc - jr));
          const float* b_panel = packed_b + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int rows = static_cast<int>(std::min<int64_t>(kMR, mc - ir));
            const gemm_kernels::TileOutput out{p.c + (ic + ir) * p.ldc + jc + jr, p.ldc, cols,
                                               p.alpha, beta};
            gemm_kernels::kernel_for(rows, cols)(kc, packed_a + ir * kc, b_panel, out);
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

// ---- sharing one product among threads ----------------------------------------------------

// How many threads a product of this size deserves, at most `available`.
int threads_for(const Product& p, int available) {
  const int64_t work = p.M * p.N * p.K;
  return static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(available, work / kWorkPerThread)));
}

// A way to cut one product among `threads` threads. Either C is cut into a grid of
// row_parts x col_parts rectangles (cuts on micro-tile boundaries), each thread computing one
// of them completely; or, when C is small and the depth long (the weight gradient of a
// convolution: C is C_out x 9 C_in, the depth is batch x pixels), the depth is cut into
// `threads` ranges, each thread sums its range into a partial C, and the partials are added.
struct ThreadPlan {
  int row_parts = 1, col_parts = 1;
  bool split_depth = false;
};

// A rough cost, in cycles, of one thread's share: rows x cols x depth, rounded up to whole
// micro-tiles, at two FMA instructions of kLanes multiply-adds per cycle, plus the floats it
// packs (A once per column block, B once) and, for a depth split, the floats it adds at the
// end, at about one float per cycle. Only the comparison between plans matters.
double share_cost(int64_t rows, int64_t cols, int64_t depth, int64_t floats_to_add) {
  const double multiply_adds = static_cast<double>(ceil_div(rows, kMR) * kMR) *
                               static_cast<double>(ceil_div(cols, kNR) * kNR) *
                               static_cast<double>(depth);
  const double packed = static_cast<double>(rows * ceil_div(cols, kNC) + cols) *
                        static_cast<double>(depth);
  return multiply_adds / (2.0 * gemm_kernels::kLanes) + packed +
         static_cast<double>(floats_to_add);
}

ThreadPlan plan_threads(const Product& p, int threads) {
  const int64_t row_tiles = ceil_div(p.M, kMR), col_tiles = ceil_div(p.N, kNR);
  ThreadPlan best;
  double best_cost = -1.0;
  for (int row_parts = 1; row_parts <= threads; ++row_parts) {
    if (threads % row_parts != 0) continue;
    const int col_parts = threads / row_parts;
    const double cost = share_cost(ceil_div(row_tiles, row_parts) * kMR,
                                   ceil_div(col_tiles, col_parts) * kNR, p.K, 0);
    if (best_cost < 0.0 || cost < best_cost) {
      best = ThreadPlan{row_parts, col_parts, false};
      best_cost = cost;
    }
  }
  // A depth split also adds up the partials: (threads - 1) of them over 1/threads of the rows
  // of C per thread, about M N floats.
  if (p.K >= threads * kKC &&
      share_cost(p.M, p.N, ceil_div(p.K, threads), p.M * p.N) < best_cost)
    best = ThreadPlan{1, 1, true};
  return best;
}

// Part `part` of `parts` equal shares of [0, units), in whole units, scaled by `unit` and
// clipped to `limit`: the start of the share (its end is the start of part + 1).
int64_t share_start(int64_t units, int part, int parts, int64_t unit, int64_t limit) {
  return std::min(limit, units * part / parts * unit);
}

// Work inside an OpenMP region must not throw: an exception cannot leave the region. The only
// thing here that can fail is allocating a thread's buffers on its first product, so that is
// caught where it happens, remembered, and reported once the threads have joined.
class AllocationGuard {
 public:
  template <typename Work>
  void run(Work&& work) noexcept {
    try {
      work();
    } catch (const std::bad_alloc&) {
      failed_ = true;
    }
  }
  void throw_if_failed() const {
    DRIFT_CHECK(!failed_, "gemm: out of memory allocating the packing buffers ("
                              << (kMC * kKC + kKC * kNC) * sizeof(float) << " bytes per thread)");
  }

 private:
  std::atomic<bool> failed_{false};
};

// One product on up to `threads` threads.
void multiply(const Product& p, int threads, AllocationGuard& guard) {
  if (p.M == 0 || p.N == 0) return;
  if (p.K == 0 || p.alpha == 0.0f) return scale_c(p);
  if (p.M * p.N * p.K < kSmallProduct) return multiply_small(p);
  threads = threads_for(p, threads);
  if (threads == 1) return guard.run([&] { multiply_block(p, 0, p.M, 0, p.N, 0, p.K); });
  std::vector<float*> partials(static_cast<size_t>(threads), nullptr);  // depth split only
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const int team = omp_get_num_threads(), me = omp_get_thread_num();
#else
    const int team = 1, me = 0;
#endif
    const ThreadPlan plan = plan_threads(p, team);
    if (!plan.split_depth) {
      const int row_part = me / plan.col_parts, col_part = me % plan.col_parts;
      const int64_t row_tiles = ceil_div(p.M, kMR), col_tiles = ceil_div(p.N, kNR);
      const int64_t m0 = share_start(row_tiles, row_part, plan.row_parts, kMR, p.M);
      const int64_t m1 = share_start(row_tiles, row_part + 1, plan.row_parts, kMR, p.M);
      const int64_t n0 = share_start(col_tiles, col_part, plan.col_parts, kNR, p.N);
      const int64_t n1 = share_start(col_tiles, col_part + 1, plan.col_parts, kNR, p.N);
      if (m0 < m1 && n0 < n1) guard.run([&] { multiply_block(p, m0, m1, n0, n1, 0, p.K); });
    } else {
      // Thread 0 writes alpha * (its range) + beta * C straight into C; every other thread
      // writes alpha * (its range) into its own partial C (M x N, no beta).
      const int64_t k0 = share_start(p.K, me, team, 1, p.K);
      const int64_t k1 = share_start(p.K, me + 1, team, 1, p.K);
      guard.run([&] {
        if (me == 0) return multiply_block(p, 0, p.M, 0, p.N, k0, k1);
        Product partial = p;
        partial.c = this_thread_buffers().partial_c(static_cast<size_t>(p.M * p.N));
        partial.ldc = p.N;
        partial.beta = 0.0f;
        partials[static_cast<size_t>(me)] = partial.c;
        multiply_block(partial, 0, p.M, 0, p.N, k0, k1);
      });
#pragma omp barrier
      // C += the partials, each thread adding them up for its share of the rows. (A partial
      // is missing only when its allocation failed; the guard then reports the error.)
      const int64_t i0 = share_start(p.M, me, team, 1, p.M);
      const int64_t i1 = share_start(p.M, me + 1, team, 1, p.M);
      for (int t = 1; t < team; ++t) {
        const float* partial = partials[static_cast<size_t>(t)];
        if (partial == nullptr) continue;
        for (int64_t i = i0; i < i1; ++i) {
          const float* partial_row = partial + i * p.N;
          float* c_row = p.c + i * p.ldc;
          for (int64_t j = 0; j < p.N; ++j) c_row[j] += partial_row[j];
        }
      }
    }
  }
}

}  // namespace

void cpu::fast::gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                      float* C, int64_t ldc, int64_t batch, int64_t stride_a, int64_t stride_b,
                      int64_t stride_c) {
  auto item = [&](int64_t b) {
    const OperandView a{A + b * stride_a, lda, trans_a}, bm{B + b * stride_b, ldb, trans_b};
    return Product{M, N, K, alpha, beta, a, bm, C + b * stride_c, ldc};
  };
  // Called from inside a parallel region (the convolution runs one GEMM per thread), the
  // product stays on the calling thread.
#ifdef _OPENMP
  const int threads = omp_in_parallel() ? 1 : num_threads();
#else
  const int threads = 1;
#endif
  AllocationGuard guard;
  // Whole products per thread when the batch splits evenly (or is long enough that the
  // uneven end hardly matters), or when each product is too small to split anyway. Items
  // that share one C (stride_c == 0) accumulate into it one after the other.
  const bool items_per_thread =
      batch > 1 && stride_c != 0 && batch >= threads &&
      (batch % threads == 0 || batch >= 4 * threads || threads_for(item(0), threads) == 1);
  if (items_per_thread) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t b = 0; b < batch; ++b) multiply(item(b), 1, guard);
  } else {
    for (int64_t b = 0; b < batch; ++b) multiply(item(b), threads, guard);
  }
  guard.throw_if_failed();
}

}  // namespace drift
