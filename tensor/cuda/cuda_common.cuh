// cuda_common.cuh — launch helpers shared by the .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/cuda/cuda_backend.h"

namespace drift {
namespace cuda {

constexpr int kThreads = 256;

// Enough blocks of kThreads to cover n items, capped (kernels use grid-stride loops).
inline unsigned int blocks_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks < 1) blocks = 1;
  if (blocks > 65535 * 8) blocks = 65535 * 8;
  return static_cast<unsigned int>(blocks);
}

// Checks the launch that just happened (bad configuration, missing kernel image for this GPU).
inline void check_launch(const char* kernel) {
  cuda_check(static_cast<int>(cudaGetLastError()), kernel, __FILE__, __LINE__);
}

}  // namespace cuda
}  // namespace drift
