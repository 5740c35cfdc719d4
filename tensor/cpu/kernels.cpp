// kernels.cpp — the one place that chooses between the fast and the reference CPU kernels
// (kernels.h): the switch, and the CpuBackend methods that consult it.
#include "tensor/cpu/kernels.h"

#include <atomic>
#include <cstdlib>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/error.h"

namespace drift::cpu {

namespace {
// The choice, first taken from DRIFT_KERNELS (unset: Fast) at the first use.
std::atomic<Kernels>& choice() {
  static std::atomic<Kernels> selected{[] {
    const char* name = std::getenv("DRIFT_KERNELS");
    return name == nullptr || *name == '\0' ? Kernels::Fast : kernels_from_name(name);
  }()};
  return selected;
}

bool use_reference() {
  return choice().load(std::memory_order_relaxed) == Kernels::Reference;
}
}  // namespace

Kernels kernels_from_name(const std::string& name) {
  if (name == "fast") return Kernels::Fast;
  if (name == "reference") return Kernels::Reference;
  DRIFT_FAIL("unknown CPU kernels '" << name << "' (DRIFT_KERNELS / set_kernels): expected "
                                     << "'fast' or 'reference'");
}

const char* kernels_name(Kernels kernels) {
  return kernels == Kernels::Reference ? "reference" : "fast";
}

void set_kernels(Kernels kernels) {
  choice().store(kernels);
}
void set_kernels(const std::string& name) {
  set_kernels(kernels_from_name(name));
}
Kernels kernels() {
  return choice().load();
}

}  // namespace drift::cpu

namespace drift {

void CpuBackend::gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                      float* C, int64_t ldc, int64_t batch, int64_t stride_a, int64_t stride_b,
                      int64_t stride_c) {
  (cpu::use_reference() ? cpu::reference::gemm : cpu::fast::gemm)(
      trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, stride_a, stride_b,
      stride_c);
}

void CpuBackend::conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                                const Conv2dGeometry& g) {
  (cpu::use_reference() ? cpu::reference::conv2d_forward : cpu::fast::conv2d_forward)(x, w, bias, y,
                                                                                      g);
}

void CpuBackend::conv2d_backward_input(const float* gy, const float* w, float* gx,
                                       const Conv2dGeometry& g) {
  (cpu::use_reference() ? cpu::reference::conv2d_backward_input : cpu::fast::conv2d_backward_input)(
      gy, w, gx, g);
}

void CpuBackend::conv2d_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                                        const Conv2dGeometry& g) {
  (cpu::use_reference() ? cpu::reference::conv2d_backward_weight
                        : cpu::fast::conv2d_backward_weight)(x, gy, gw, gbias, g);
}

void CpuBackend::group_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
                                    float* mean, float* rstd, int64_t N, int64_t C, int64_t HW,
                                    int64_t groups, float eps) {
  (cpu::use_reference() ? cpu::reference::group_norm_forward : cpu::fast::group_norm_forward)(
      x, gamma, beta, y, mean, rstd, N, C, HW, groups, eps);
}

void CpuBackend::group_norm_backward(const float* x, const float* gy, const float* gamma,
                                     const float* mean, const float* rstd, float* gx, float* ggamma,
                                     float* gbeta, int64_t N, int64_t C, int64_t HW,
                                     int64_t groups) {
  (cpu::use_reference() ? cpu::reference::group_norm_backward : cpu::fast::group_norm_backward)(
      x, gy, gamma, mean, rstd, gx, ggamma, gbeta, N, C, HW, groups);
}

void CpuBackend::group_norm_silu_forward(const float* x, const float* gamma, const float* beta,
                                         float* y, float* mean, float* rstd, int64_t N, int64_t C,
                                         int64_t HW, int64_t groups, float eps) {
  (cpu::use_reference()
       ? cpu::reference::group_norm_silu_forward
       : cpu::fast::group_norm_silu_forward)(x, gamma, beta, y, mean, rstd, N, C, HW, groups, eps);
}

void CpuBackend::group_norm_silu_backward(const float* x, const float* gy, const float* gamma,
                                          const float* beta, const float* mean, const float* rstd,
                                          float* gx, float* ggamma, float* gbeta, int64_t N,
                                          int64_t C, int64_t HW, int64_t groups) {
  (cpu::use_reference() ? cpu::reference::group_norm_silu_backward
                        : cpu::fast::group_norm_silu_backward)(x, gy, gamma, beta, mean, rstd, gx,
                                                               ggamma, gbeta, N, C, HW, groups);
}

}  // namespace drift
