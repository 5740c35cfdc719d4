// gemm.cpp — matrix multiply, C = alpha * op(A) op(B) + beta * C (row-major).
//
// This is the straightforward version: op(A) and op(B) are first copied into plain
// row-major buffers, then C is computed row by row with the i-k-j loop order, whose inner
// loop runs along a row of B and a row of C and so vectorises.
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace drift {

void CpuBackend::gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                      float* C, int64_t ldc, int64_t batch, int64_t stride_a, int64_t stride_b,
                      int64_t stride_c) {
  for (int64_t b = 0; b < batch; ++b) {
    const float* Ab = A + b * stride_a;
    const float* Bb = B + b * stride_b;
    float* Cb = C + b * stride_c;
    // Plain row-major copies of op(A) (M x K) and op(B) (K x N).
    std::vector<float> a(static_cast<size_t>(M * K)), bm(static_cast<size_t>(K * N));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k)
        a[static_cast<size_t>(i * K + k)] = trans_a ? Ab[k * lda + i] : Ab[i * lda + k];
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j)
        bm[static_cast<size_t>(k * N + j)] = trans_b ? Bb[j * ldb + k] : Bb[k * ldb + j];
#pragma omp parallel for if (M * N * K > (1 << 18))
    for (int64_t i = 0; i < M; ++i) {
      float* c = Cb + i * ldc;
      std::vector<float> acc(static_cast<size_t>(N), 0.0f);
      for (int64_t k = 0; k < K; ++k) {
        const float aik = a[static_cast<size_t>(i * K + k)];
        const float* brow = bm.data() + k * N;
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) acc[static_cast<size_t>(j)] += aik * brow[j];
      }
      for (int64_t j = 0; j < N; ++j)
        c[j] = alpha * acc[static_cast<size_t>(j)] + (beta == 0.0f ? 0.0f : beta * c[j]);
    }
  }
}

}  // namespace drift
