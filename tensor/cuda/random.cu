// random.cu — Philox random numbers on the GPU; the twin of tensor/cpu/random.cpp.
// One thread per Philox block of four numbers.
#include "tensor/cuda/cuda_common.cuh"
#include "tensor/philox.h"

namespace drift {
namespace {

__global__ void uniform_kernel(float* dst, int64_t n, uint64_t seed, uint64_t offset, float low,
                               float high) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < blocks;
       b += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    philox::Words w = philox::block(seed, offset + static_cast<uint64_t>(b));
    for (int64_t lane = 0; lane < 4 && 4 * b + lane < n; ++lane)
      dst[4 * b + lane] = low + (high - low) * philox::to_unit_float(w.v[lane]);
  }
}

__global__ void normal_kernel(float* dst, int64_t n, uint64_t seed, uint64_t offset, float mean,
                              float stddev) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < blocks;
       b += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    philox::Words w = philox::block(seed, offset + static_cast<uint64_t>(b));
    float z[4];
    philox::box_muller(w.v[0], w.v[1], z[0], z[1]);
    philox::box_muller(w.v[2], w.v[3], z[2], z[3]);
    for (int64_t lane = 0; lane < 4 && 4 * b + lane < n; ++lane)
      dst[4 * b + lane] = mean + stddev * z[lane];
  }
}

}  // namespace

void CudaBackend::random_uniform(float* dst, int64_t n, uint64_t seed, uint64_t offset,
                                 float low, float high) {
  activate();
  uniform_kernel<<<cuda::blocks_for((n + 3) / 4), cuda::kThreads>>>(dst, n, seed, offset, low,
                                                                    high);
  cuda::check_launch("uniform_kernel");
}

void CudaBackend::random_normal(float* dst, int64_t n, uint64_t seed, uint64_t offset,
                                float mean, float stddev) {
  activate();
  normal_kernel<<<cuda::blocks_for((n + 3) / 4), cuda::kThreads>>>(dst, n, seed, offset, mean,
                                                                   stddev);
  cuda::check_launch("normal_kernel");
}

}  // namespace drift
