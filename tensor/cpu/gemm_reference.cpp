// gemm_reference.cpp — matrix multiply by its definition, the reference for gemm.cpp.
//
//   C[i][j] = alpha * sum_k op(A)[i][k] op(B)[k][j] + beta * C[i][j]
//
// row-major, op(X) = X^T when trans_X, for `batch` products (matrix b at A + b * stride_a,
// likewise B and C). Three loops, the sum in double. beta == 0 means C is not read (it may
// hold NaN), as in BLAS.
#include "tensor/cpu/kernels.h"

namespace drift::cpu::reference {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
          int64_t batch, int64_t stride_a, int64_t stride_b, int64_t stride_c) {
  for (int64_t b = 0; b < batch; ++b) {
    const float* a = A + b * stride_a;
    const float* bm = B + b * stride_b;
    float* c = C + b * stride_c;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double sum = 0.0;
        for (int64_t k = 0; k < K; ++k) {
          const double a_ik = trans_a ? a[k * lda + i] : a[i * lda + k];    // op(A)[i][k]
          const double b_kj = trans_b ? bm[j * ldb + k] : bm[k * ldb + j];  // op(B)[k][j]
          sum += a_ik * b_kj;
        }
        const double old = beta == 0.0f ? 0.0 : static_cast<double>(c[i * ldc + j]);
        c[i * ldc + j] = static_cast<float>(alpha * sum + beta * old);
      }
  }
}

}  // namespace drift::cpu::reference
