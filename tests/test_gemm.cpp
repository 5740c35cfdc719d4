// test_gemm.cpp — the CPU SGEMM (tensor/cpu/gemm.cpp) against the library's reference
// (tensor/cpu/gemm_reference.cpp: the definition, C = alpha * op(A) op(B) + beta * C, summed
// in double).
// The shapes are chosen to hit every path of the fast kernel: the tiny-product loops, edge
// micro-tiles in both directions, several cache blocks in every dimension (derived from the
// block sizes, so they stay several blocks when the sizes are retuned), all four transpose
// combinations, padded leading dimensions, batches with a shared operand, 1 to 3 threads.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/kernels.h"

using namespace drift;

namespace {

struct GemmCase {
  bool trans_a = false, trans_b = false;
  int64_t M = 1, N = 1, K = 1;
  float alpha = 1.0f, beta = 0.0f;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra elements per row beyond the row length
  int64_t batch = 1;
  bool share_a = false, share_b = false;  // stride 0: one matrix for every batch item
  bool nan_c = false;                     // C starts as NaN (only meaningful with beta == 0)

  std::string str() const {
    std::ostringstream os;
    os << (trans_a ? 'T' : 'N') << (trans_b ? 'T' : 'N') << " M=" << M << " N=" << N << " K=" << K
       << " alpha=" << alpha << " beta=" << beta << " pad=" << pad_a << "/" << pad_b << "/" << pad_c
       << " batch=" << batch << (share_a ? " shared A" : "") << (share_b ? " shared B" : "")
       << (nan_c ? " NaN C" : "");
    return os.str();
  }
};

// Deterministic values in [-1, 1) (a 64-bit LCG), different for each `seed`.
std::vector<float> filled(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& x : v) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<float>(static_cast<double>(state >> 40) / static_cast<double>(1 << 23) - 1.0);
  }
  return v;
}

// Runs one case through CpuBackend::gemm and checks every element of C, plus that nothing
// outside the products (the padding of rows when ldc > N, the gaps between items) changed.
void check_gemm(const GemmCase& g) {
  INFO(g.str());
  const int64_t a_rows = g.trans_a ? g.K : g.M, a_cols = g.trans_a ? g.M : g.K;
  const int64_t b_rows = g.trans_b ? g.N : g.K, b_cols = g.trans_b ? g.K : g.N;
  const int64_t lda = a_cols + g.pad_a, ldb = b_cols + g.pad_b, ldc = g.N + g.pad_c;
  // Batch items sit a little apart (+3) so a wrong stride cannot go unnoticed.
  const int64_t stride_a = g.share_a ? 0 : a_rows * lda + 3;
  const int64_t stride_b = g.share_b ? 0 : b_rows * ldb + 3;
  const int64_t stride_c = g.M * ldc + 3;
  const int64_t items_a = g.share_a ? 1 : g.batch, items_b = g.share_b ? 1 : g.batch;
  const std::vector<float> A = filled(static_cast<size_t>(items_a * (a_rows * lda + 3)), 1);
  const std::vector<float> B = filled(static_cast<size_t>(items_b * (b_rows * ldb + 3)), 2);
  const std::vector<float> C0 = g.nan_c
                                    ? std::vector<float>(static_cast<size_t>(g.batch * stride_c),
                                                         std::numeric_limits<float>::quiet_NaN())
                                    : filled(static_cast<size_t>(g.batch * stride_c), 3);
  std::vector<float> C = C0;

  {
    const cpu::ScopedKernels fast(cpu::Kernels::Fast);  // the kernel under test
    cpu_backend().gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, g.alpha, A.data(), lda, B.data(), ldb,
                       g.beta, C.data(), ldc, g.batch, stride_a, stride_b, stride_c);
  }
  // The oracle: the reference GEMM on the same inputs, and on |A|, |B| (alpha 1, beta 0) for
  // the summed magnitudes sum_k |a_ik b_kj| that scale the tolerance.
  std::vector<float> expected_c = C0, magnitude_c(C0.size(), 0.0f);
  cpu::reference::gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, g.alpha, A.data(), lda, B.data(), ldb,
                       g.beta, expected_c.data(), ldc, g.batch, stride_a, stride_b, stride_c);
  std::vector<float> abs_a = A, abs_b = B;
  for (float& v : abs_a) v = std::fabs(v);
  for (float& v : abs_b) v = std::fabs(v);
  cpu::reference::gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, 1.0f, abs_a.data(), lda, abs_b.data(),
                       ldb, 0.0f, magnitude_c.data(), ldc, g.batch, stride_a, stride_b, stride_c);

  int64_t wrong = 0;
  std::vector<bool> written(C.size(), false);  // the elements of the M x N products
  std::ostringstream first_wrong;
  for (int64_t b = 0; b < g.batch; ++b) {
    for (int64_t i = 0; i < g.M; ++i) {
      for (int64_t j = 0; j < g.N; ++j) {
        const size_t at = static_cast<size_t>(b * stride_c + i * ldc + j);
        written[at] = true;
        const double c0 = g.beta == 0.0f ? 0.0 : static_cast<double>(C0[at]);
        const double expected = expected_c[at];
        const double magnitude = magnitude_c[at];
        // Float rounding: at most ~K eps relative to the summed magnitudes; one missing or
        // doubled term (size ~ magnitude / K) is far outside this for the K used here. The
        // last term is the reference's own rounding of its double result to float.
        const double tolerance =
            FLT_EPSILON * (static_cast<double>(g.K) * std::fabs(g.alpha) * magnitude +
                           4.0 * std::fabs(g.beta * c0) + 0.5 * std::fabs(expected)) +
            1e-30;
        const double got = C[at];
        if (!(std::fabs(got - expected) <= tolerance)) {
          if (wrong++ == 0)
            first_wrong << "item " << b << " C[" << i << "][" << j << "] = " << got << ", expected "
                        << expected << " (tolerance " << tolerance << ")";
        }
      }
    }
  }
  // Everything else (row padding, gaps between items) must be exactly as it was.
  int64_t outside_touched = 0;
  for (size_t at = 0; at < C.size(); ++at)
    if (!written[at] && !(C[at] == C0[at] || (std::isnan(C[at]) && std::isnan(C0[at]))))
      ++outside_touched;
  INFO(first_wrong.str());
  CHECK(wrong == 0);
  CHECK(outside_touched == 0);
}

// Restores the thread count a test changed, even when a check fails.
struct ThreadCountGuard {
  int saved = num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

}  // namespace

TEST_CASE("gemm: 2x2 products worked out by hand") {
  std::vector<float> a{1, 2, 3, 4}, b{5, 6, 7, 8}, c(4, 0.0f);
  Backend& cpu = cpu_backend();  // through the seam, as autograd calls it (default batch = 1)
  cpu.gemm(false, false, 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  CHECK(c == std::vector<float>{19, 22, 43, 50});
  cpu.gemm(true, true, 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  CHECK(c == std::vector<float>{23, 31, 34, 46});  // A^T B^T = (B A)^T
}

TEST_CASE("gemm: awkward shapes, all four transpose combinations") {
  const int64_t shapes[][3] = {{1, 1, 1},    {2, 3, 4},       {17, 33, 65},  {1, 1000, 3},
                               {1000, 1, 7}, {255, 257, 129}, {8, 48, 256},  {9, 49, 257},
                               {7, 47, 33},  {64, 1000, 9},   {3, 5000, 11}, {5000, 3, 11},
                               {1, 1, 5000}, {40, 40, 40}};
  for (const auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      GemmCase g;
      g.M = s[0], g.N = s[1], g.K = s[2];
      g.trans_a = (t & 1) != 0, g.trans_b = (t & 2) != 0;
      check_gemm(g);
    }
}

TEST_CASE("gemm: several cache blocks in every dimension, uneven edges") {
  using namespace gemm_kernels;
  // Each dimension is more than one block and not a multiple of any block or tile size. On
  // one thread (threads would cut M or N into single blocks), every loop of the blocked
  // product runs more than once. (Cuts among threads: the test at the end.)
  ThreadCountGuard guard;
  set_num_threads(1);
  GemmCase g;
  g.M = kMC + kMR + 3;
  g.N = kNC + kNR + 5;
  g.K = kKC + 7;
  REQUIRE(g.M > kMC);
  REQUIRE(g.N > kNC);
  REQUIRE(g.K > kKC);
  REQUIRE(g.M % kMR != 0);
  REQUIRE(g.N % kNR != 0);
  for (int t = 0; t < 4; ++t) {
    g.trans_a = (t & 1) != 0, g.trans_b = (t & 2) != 0;
    g.alpha = t == 3 ? 0.5f : 1.0f;
    g.beta = t >= 2 ? 0.5f : 0.0f;
    check_gemm(g);
  }
}

TEST_CASE("gemm: alpha and beta; beta = 0 never reads C (NaN does not leak)") {
  const float values[] = {0.0f, 1.0f, 0.5f};
  const int64_t shapes[][3] = {{3, 4, 5}, {37, 101, 70}, {300, 200, 150}};
  for (const auto& s : shapes)
    for (float alpha : values)
      for (float beta : values) {
        GemmCase g;
        g.M = s[0], g.N = s[1], g.K = s[2];
        g.alpha = alpha, g.beta = beta;
        g.trans_b = beta == 0.5f;
        check_gemm(g);
      }
  for (const auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      GemmCase g;
      g.M = s[0], g.N = s[1], g.K = s[2];
      g.trans_a = (t & 1) != 0, g.trans_b = (t & 2) != 0;
      g.beta = 0.0f;
      g.nan_c = true;
      g.alpha = t == 2 ? 0.0f : 1.0f;  // alpha = 0, beta = 0: C becomes zeros, not NaN
      check_gemm(g);
    }
  // K = 0: C = beta * C (the empty sum), and zeros when beta == 0 even over NaN.
  GemmCase empty;
  empty.M = 5, empty.N = 7, empty.K = 0, empty.beta = 0.5f;
  check_gemm(empty);
  empty.beta = 0.0f;
  empty.nan_c = true;
  check_gemm(empty);
}

TEST_CASE("gemm: leading dimensions larger than the rows") {
  const int64_t shapes[][3] = {{5, 6, 7}, {33, 65, 129}, {200, 300, 100}};
  for (const auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      GemmCase g;
      g.M = s[0], g.N = s[1], g.K = s[2];
      g.trans_a = (t & 1) != 0, g.trans_b = (t & 2) != 0;
      g.pad_a = 3, g.pad_b = 17, g.pad_c = 5;
      g.beta = t == 1 ? 1.0f : 0.0f;
      check_gemm(g);
    }
}

TEST_CASE("gemm: batches, with A or B shared through a stride of 0") {
  // Small items (whole products per thread), medium items, and a batch shorter than the
  // thread count (items run one after the other, each split across threads).
  const int64_t shapes[][4] = {
      {4, 5, 6, 7}, {49, 49, 32, 12}, {49, 32, 49, 9}, {300, 150, 200, 1}, {300, 150, 200, 3}};
  for (const auto& s : shapes)
    for (int variant = 0; variant < 3; ++variant) {
      GemmCase g;
      g.M = s[0], g.N = s[1], g.K = s[2], g.batch = s[3];
      g.share_a = variant == 1;
      g.share_b = variant == 2;
      g.trans_b = variant == 1;
      g.trans_a = variant == 2;
      g.beta = variant == 0 ? 0.5f : 0.0f;
      g.pad_c = variant == 0 ? 2 : 0;
      check_gemm(g);
    }
}

TEST_CASE("gemm: the same results on 1, 2 and 3 threads") {
  ThreadCountGuard guard;
  // C cut by rows, by columns, and (small C, long depth: a weight gradient) by depth.
  const int64_t shapes[][3] = {{517, 389, 300},
                               {16, 5000, 40},
                               {5000, 16, 40},
                               {60, 60, 3000},
                               {32, 144, 8 * gemm_kernels::kKC + 5}};
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (const auto& s : shapes) {
      GemmCase g;
      g.M = s[0], g.N = s[1], g.K = s[2];
      g.trans_b = threads == 3;
      check_gemm(g);
      g.trans_a = true, g.beta = 0.5f, g.alpha = 2.0f, g.pad_c = 3;
      check_gemm(g);
    }
    GemmCase batched;
    batched.M = 20, batched.N = 30, batched.K = 70, batched.batch = 5;
    check_gemm(batched);
  }
}

TEST_CASE("gemm: batch items sharing one C (stride 0) accumulate into it in turn") {
  // With beta = 1 the batch sums its products: C = C0 + sum_b A_b B_b (how a gradient of a
  // shared operand could be accumulated). Sizes large enough for the packed path.
  const int64_t M = 40, N = 50, K = 60, batch = 3;
  const std::vector<float> A = filled(static_cast<size_t>(batch * M * K), 7);
  const std::vector<float> B = filled(static_cast<size_t>(batch * K * N), 8);
  const std::vector<float> C0 = filled(static_cast<size_t>(M * N), 9);
  std::vector<float> C = C0;
  cpu_backend().gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 1.0f, C.data(), N,
                     batch, M * K, K * N, 0);
  int64_t wrong = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double expected = C0[static_cast<size_t>(i * N + j)], magnitude = std::fabs(expected);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t k = 0; k < K; ++k) {
          const double term = static_cast<double>(A[static_cast<size_t>(b * M * K + i * K + k)]) *
                              B[static_cast<size_t>(b * K * N + k * N + j)];
          expected += term;
          magnitude += std::fabs(term);
        }
      const double got = C[static_cast<size_t>(i * N + j)];
      if (!(std::fabs(got - expected) <= FLT_EPSILON * batch * K * magnitude)) ++wrong;
    }
  CHECK(wrong == 0);
}
