// optim.cpp — the optimizer kernels: one fused pass over a parameter tensor per step, and the
// sum of squares behind gradient-norm clipping. The per-element formulas (with their
// equations) are in tensor/optim_math.h, shared with cuda/optim.cu.
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/optim_math.h"

// This file is compiled with -fno-math-errno (tensor/CMakeLists.txt): sqrtf of the second
// moment never fails, and without the flag GCC keeps a scalar errno path that stops the Adam
// loop from vectorising.

namespace drift {

namespace {
// Below this many elements one thread is faster than waking the others.
constexpr int64_t kParallelThreshold = 1 << 15;
// sum_of_squares adds fixed-size chunks, then the chunk totals in order: the result does not
// depend on the number of threads (a resumed run must reproduce the same bits).
constexpr int64_t kChunk = 1 << 14;
}  // namespace

void CpuBackend::adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                           int64_t n, const AdamScalars& scalars) {
  // Each thread gets its own copy of the scalars (firstprivate), which the compiler hoists out
  // of the loop. The loops are plain `parallel for`, vectorised by the compiler (checked with
  // -fopt-info-vec): with `parallel for simd` GCC 12 leaves the SGD loop scalar once it
  // splits it by the loop-invariant flags (first step, Nesterov).
  const AdamScalars s = scalars;
#pragma omp parallel for if (n > kParallelThreshold) firstprivate(s)
  for (int64_t i = 0; i < n; ++i)
    optim_math::adam_update(param[i], grad[i], exp_avg[i], exp_avg_sq[i], s);
}

void CpuBackend::sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n,
                          const SgdScalars& scalars) {
  const SgdScalars s = scalars;
  if (momentum_buffer == nullptr) {
#pragma omp parallel for if (n > kParallelThreshold) firstprivate(s)
    for (int64_t i = 0; i < n; ++i) optim_math::sgd_update(param[i], grad[i], s);
    return;
  }
#pragma omp parallel for if (n > kParallelThreshold) firstprivate(s)
  for (int64_t i = 0; i < n; ++i)
    optim_math::sgd_momentum_update(param[i], grad[i], momentum_buffer[i], s);
}

double CpuBackend::sum_of_squares(const float* x, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for if (n > kParallelThreshold)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk, end = begin + kChunk < n ? begin + kChunk : n;
    double total = 0.0;
#pragma omp simd reduction(+ : total)
    for (int64_t i = begin; i < end; ++i) total += static_cast<double>(x[i]) * x[i];
    partial[static_cast<size_t>(c)] = total;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace drift
