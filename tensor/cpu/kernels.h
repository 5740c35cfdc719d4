// kernels.h — the CPU kernels that come in two versions, and the switch between them.
//
// Like llm.c, every fast kernel has a plain reference beside it, written straight from the
// definition (no SIMD, no tiling, no caches; sums in double):
//
//   fast (cpu_backend.h)          reference
//   gemm.cpp                      gemm_reference.cpp   C = alpha op(A) op(B) + beta C
//   conv.cpp (+ its algorithms)   conv_reference.cpp   convolution and its two gradients
//   norm.cpp                      norm_reference.cpp   GroupNorm (two-pass), GroupNorm + SiLU
//
// Both versions have the signatures of the Backend methods (tensor/backend.h documents
// them). The CpuBackend methods of these kernels are defined in one place, kernels.cpp,
// and each just asks kernels() which version to call.
//
// Choosing the version at run time:
//   drift::cpu::set_kernels(drift::cpu::Kernels::Reference);   // or Kernels::Fast (default)
//   drift::cpu::set_kernels("reference");                      // by name: "fast", "reference"
//   DRIFT_KERNELS=reference ./program                          // read once, at the first use
// An unknown name (in set_kernels or in DRIFT_KERNELS) throws drift::Error. The reference
// kernels are slow (single-threaded triple loops): for checking, not for training.
#pragma once

#include <cstdint>
#include <string>

#include "tensor/backend.h"

namespace drift::cpu {

enum class Kernels { Fast, Reference };

void set_kernels(Kernels kernels);
// "fast" or "reference"; anything else throws drift::Error naming the valid choices.
void set_kernels(const std::string& name);
Kernels kernels();  // the current choice (DRIFT_KERNELS, or Fast, until set_kernels)
Kernels kernels_from_name(const std::string& name);  // throws drift::Error on an unknown name
const char* kernels_name(Kernels kernels);           // "fast" / "reference"

// Sets the kernels for the lifetime of the object, then restores the previous choice.
class ScopedKernels {
 public:
  explicit ScopedKernels(Kernels kernels) : previous_(cpu::kernels()) { set_kernels(kernels); }
  ~ScopedKernels() { set_kernels(previous_); }
  ScopedKernels(const ScopedKernels&) = delete;
  ScopedKernels& operator=(const ScopedKernels&) = delete;

 private:
  Kernels previous_;
};

// The fast kernels: gemm.cpp, conv.cpp, norm.cpp.
namespace fast {
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
          int64_t batch, int64_t stride_a, int64_t stride_b, int64_t stride_c);
void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeometry& g);
void conv2d_backward_input(const float* gy, const float* w, float* gx, const Conv2dGeometry& g);
void conv2d_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                            const Conv2dGeometry& g);
void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* rstd, int64_t N, int64_t C, int64_t HW, int64_t groups,
                        float eps);
void group_norm_backward(const float* x, const float* gy, const float* gamma, const float* mean,
                         const float* rstd, float* gx, float* ggamma, float* gbeta, int64_t N,
                         int64_t C, int64_t HW, int64_t groups);
void group_norm_silu_forward(const float* x, const float* gamma, const float* beta, float* y,
                             float* mean, float* rstd, int64_t N, int64_t C, int64_t HW,
                             int64_t groups, float eps);
void group_norm_silu_backward(const float* x, const float* gy, const float* gamma,
                              const float* beta, const float* mean, const float* rstd, float* gx,
                              float* ggamma, float* gbeta, int64_t N, int64_t C, int64_t HW,
                              int64_t groups);
}  // namespace fast

// The reference kernels: gemm_reference.cpp, conv_reference.cpp, norm_reference.cpp.
namespace reference {
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
          int64_t batch, int64_t stride_a, int64_t stride_b, int64_t stride_c);
void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeometry& g);
void conv2d_backward_input(const float* gy, const float* w, float* gx, const Conv2dGeometry& g);
void conv2d_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                            const Conv2dGeometry& g);
void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* rstd, int64_t N, int64_t C, int64_t HW, int64_t groups,
                        float eps);
void group_norm_backward(const float* x, const float* gy, const float* gamma, const float* mean,
                         const float* rstd, float* gx, float* ggamma, float* gbeta, int64_t N,
                         int64_t C, int64_t HW, int64_t groups);
void group_norm_silu_forward(const float* x, const float* gamma, const float* beta, float* y,
                             float* mean, float* rstd, int64_t N, int64_t C, int64_t HW,
                             int64_t groups, float eps);
void group_norm_silu_backward(const float* x, const float* gy, const float* gamma,
                              const float* beta, const float* mean, const float* rstd, float* gx,
                              float* ggamma, float* gbeta, int64_t N, int64_t C, int64_t HW,
                              int64_t groups);
}  // namespace reference

}  // namespace drift::cpu
