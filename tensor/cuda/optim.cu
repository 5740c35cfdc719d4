// optim.cu — the optimizer kernels on the GPU; the twin of tensor/cpu/optim.cpp. One thread
// per element (grid-stride loop) calling the per-element update of tensor/optim_math.h, the
// same function the CPU runs, so both devices compute the same equations.
#include "tensor/cuda/cuda_common.cuh"
#include "tensor/optim_math.h"

namespace drift {
namespace {

__global__ void adam_step_kernel(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                                 int64_t n, AdamScalars s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    optim_math::adam_update(param[i], grad[i], exp_avg[i], exp_avg_sq[i], s);
}

__global__ void sgd_step_kernel(float* param, const float* grad, float* momentum_buffer, int64_t n,
                                SgdScalars s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    if (momentum_buffer != nullptr)
      optim_math::sgd_momentum_update(param[i], grad[i], momentum_buffer[i], s);
    else
      optim_math::sgd_update(param[i], grad[i], s);
  }
}

// Sum of squares in two passes with a fixed shape, so the result is deterministic (no
// atomics): each block reduces a grid-stride share of x into partial[blockIdx.x], then one
// block reduces the partials. Accumulation is in double, like the CPU kernel.
constexpr int kMaxReduceBlocks = 1024;

__device__ double block_sum(double value) {
  __shared__ double shared[cuda::kThreads];
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {  // a tree, always in the same order
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  return shared[0];
}

__global__ void sum_of_squares_partial_kernel(const float* x, int64_t n, double* partial) {
  double total = 0.0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    total += static_cast<double>(x[i]) * x[i];
  double block_total = block_sum(total);
  if (threadIdx.x == 0) partial[blockIdx.x] = block_total;
}

__global__ void sum_partials_kernel(const double* partial, int count, double* out) {
  double total = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) total += partial[i];
  double block_total = block_sum(total);
  if (threadIdx.x == 0) *out = block_total;
}

}  // namespace

void CudaBackend::adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                            int64_t n, const AdamScalars& scalars) {
  activate();
  adam_step_kernel<<<cuda::blocks_for(n), cuda::kThreads>>>(param, grad, exp_avg, exp_avg_sq, n,
                                                            scalars);
  cuda::check_launch("adam_step_kernel");
}

void CudaBackend::sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n,
                           const SgdScalars& scalars) {
  activate();
  sgd_step_kernel<<<cuda::blocks_for(n), cuda::kThreads>>>(param, grad, momentum_buffer, n,
                                                           scalars);
  cuda::check_launch("sgd_step_kernel");
}

double CudaBackend::sum_of_squares(const float* x, int64_t n) {
  if (n == 0) return 0.0;
  activate();
  unsigned int blocks = cuda::blocks_for(n);
  if (blocks > kMaxReduceBlocks) blocks = kMaxReduceBlocks;
  // Scratch: the block partials and the result, from the caching allocator.
  const size_t bytes = (blocks + 1) * sizeof(double);
  double* partial = static_cast<double*>(allocate(bytes));
  double* result = partial + blocks;
  sum_of_squares_partial_kernel<<<blocks, cuda::kThreads>>>(x, n, partial);
  cuda::check_launch("sum_of_squares_partial_kernel");
  sum_partials_kernel<<<1, cuda::kThreads>>>(partial, static_cast<int>(blocks), result);
  cuda::check_launch("sum_partials_kernel");
  double total = 0.0;
  cudaError_t status = cudaMemcpy(&total, result, sizeof(double), cudaMemcpyDeviceToHost);
  deallocate(partial, bytes);
  DRIFT_CUDA_CHECK(status);
  return total;
}

}  // namespace drift
