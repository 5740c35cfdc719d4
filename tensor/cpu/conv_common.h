// conv_common.h — what the two CPU convolution algorithms share: small integer helpers, how
// many threads share the units of work, the per-thread scratch buffers, and the entry points
// of each algorithm, which conv.cpp (the dispatch) calls: conv_im2col.cpp (im2col + GEMM, the
// general one) and conv_direct.cpp (the direct "same" convolution, inner loops in
// conv_kernels.h). conv_reference.cpp is the plain definition both are tested against.
#pragma once

#include <cstdint>
#include <cstdlib>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/cpu/cpu_backend.h"
#include "tensor/error.h"

namespace drift::cpu::conv {

inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// How many threads ("lanes") share `units` units of work: all of them when there is at least
// one unit per thread, else 1 (the units then run one after another and the kernels inside,
// GEMM and im2col, may use the threads themselves).
inline int lanes_for(int64_t units) {
  const int threads = num_threads();
  return (threads > 1 && units >= threads) ? threads : 1;
}

// Which lane (OpenMP thread) of the enclosing parallel region runs this: 0 without OpenMP.
inline int current_lane() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// A growable 64-byte aligned buffer per thread and purpose, kept for the thread's lifetime
// (OpenMP keeps its workers alive), so steady-state calls allocate nothing.
enum ScratchSlot { kColumnSlot, kPackedWeightSlot, kGradientSlot, kPlaneSlot, kSlotCount };
inline float* thread_scratch(ScratchSlot slot, int64_t floats) {
  struct Buffer {
    float* data = nullptr;
    int64_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[kSlotCount];
  Buffer& b = buffers[slot];
  if (floats > b.size) {
    std::free(b.data);
    b.data = nullptr;
    b.size = 0;
    const size_t bytes = static_cast<size_t>(floats) * sizeof(float);
    void* ptr = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    DRIFT_CHECK(ptr != nullptr, "conv2d: out of memory allocating " << bytes << " bytes of scratch");
    b.data = static_cast<float*>(ptr);
    b.size = floats;
  }
  return b.data;
}

// im2col + GEMM (conv_im2col.cpp): any geometry.
void im2col_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeometry& g);
void im2col_backward_input(const float* gy, const float* w, float* gx, const Conv2dGeometry& g);
void im2col_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                            const Conv2dGeometry& g);

// The direct path (conv_direct.cpp): only where direct_applies(g).
bool direct_applies(const Conv2dGeometry& g);
void direct_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeometry& g);
void direct_backward_input(const float* gy, const float* w, float* gx, const Conv2dGeometry& g);
void direct_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                            const Conv2dGeometry& g);

}  // namespace drift::cpu::conv
