// memory.cu — GPU memory: cudaMalloc behind a caching allocator, copies and fill.
// The CPU twin is tensor/cpu/memory.cpp (same caching idea: cudaMalloc/cudaFree synchronise
// the device and are slow, so freed blocks are kept for reuse by size).
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tensor/cuda/cuda_common.cuh"
#include "tensor/error.h"

namespace drift {

void cuda_check(int status, const char* call, const char* file, int line) {
  if (status == static_cast<int>(cudaSuccess)) return;
  DRIFT_FAIL("cuda: " << call << " failed: "
                      << cudaGetErrorString(static_cast<cudaError_t>(status)) << " (" << file
                      << ":" << line << ")");
}

// Called once by cuda_unavailable_reason() (tensor/device.cpp).
std::string cuda_probe() {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not confused by it
    return std::string("no usable GPU (") + cudaGetErrorString(status) + ")";
  }
  if (count == 0) return "no GPU found by the CUDA driver";
  return "";
}

namespace {

// Freed blocks by (GPU index, size). Never destroyed: tensors may outlive main().
struct GpuBlockCache {
  std::mutex mutex;
  std::map<std::pair<int, size_t>, std::vector<void*>> free_blocks;
};
GpuBlockCache& gpu_block_cache() {
  static GpuBlockCache* cache = new GpuBlockCache();
  return *cache;
}

size_t rounded(size_t bytes) { return (bytes + 511) / 512 * 512; }

}  // namespace

CudaBackend& cuda_backend(int index) {
  // Never destroyed (as cpu_backend()): static Tensors free their storage after main().
  static std::mutex* mutex = new std::mutex();
  static auto* backends = new std::map<int, std::unique_ptr<CudaBackend>>();
  std::lock_guard<std::mutex> lock(*mutex);
  int count = 0;
  DRIFT_CUDA_CHECK(cudaGetDeviceCount(&count));
  DRIFT_CHECK(index >= 0 && index < count,
              "device cuda:" << index << ": only " << count << " GPU(s) present");
  auto& slot = (*backends)[index];
  if (!slot) slot = std::make_unique<CudaBackend>(index);
  return *slot;
}

void CudaBackend::activate() const { DRIFT_CUDA_CHECK(cudaSetDevice(index_)); }

void* CudaBackend::allocate(size_t bytes) {
  GpuBlockCache& cache = gpu_block_cache();
  activate();
  void* ptr = nullptr;
  size_t size = rounded(bytes);
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.free_blocks.find({index_, size});
    if (it != cache.free_blocks.end() && !it->second.empty()) {
      ptr = it->second.back();
      it->second.pop_back();
      return ptr;
    }
  }
  cudaError_t status = cudaMalloc(&ptr, size);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    DRIFT_FAIL("cuda: out of GPU memory allocating " << bytes << " bytes on " << device());
  }
  DRIFT_CUDA_CHECK(status);
  return ptr;
}

void CudaBackend::deallocate(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  GpuBlockCache& cache = gpu_block_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.free_blocks[{index_, rounded(bytes)}].push_back(ptr);
}

void CudaBackend::copy_from_host(float* dst, const float* host_src, int64_t n) {
  activate();
  DRIFT_CUDA_CHECK(cudaMemcpy(dst, host_src, static_cast<size_t>(n) * sizeof(float),
                              cudaMemcpyHostToDevice));
}

void CudaBackend::copy_to_host(float* host_dst, const float* src, int64_t n) {
  activate();
  DRIFT_CUDA_CHECK(cudaMemcpy(host_dst, src, static_cast<size_t>(n) * sizeof(float),
                              cudaMemcpyDeviceToHost));
}

void CudaBackend::copy(float* dst, const float* src, int64_t n) {
  if (dst == src) return;
  activate();
  DRIFT_CUDA_CHECK(cudaMemcpy(dst, src, static_cast<size_t>(n) * sizeof(float),
                              cudaMemcpyDeviceToDevice));
}

void CudaBackend::synchronize() {
  activate();
  DRIFT_CUDA_CHECK(cudaDeviceSynchronize());
}

namespace {

__global__ void fill_kernel(float* dst, int64_t n, float value) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    dst[i] = value;
}

__global__ void axpby_kernel(float alpha, const float* a, float beta, const float* b, float* out,
                             int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    out[i] = alpha * a[i] + beta * b[i];
}

}  // namespace

void CudaBackend::fill(float* dst, int64_t n, float value) {
  activate();
  fill_kernel<<<cuda::blocks_for(n), cuda::kThreads>>>(dst, n, value);
  cuda::check_launch("fill_kernel");
}

void CudaBackend::axpby(float alpha, const float* a, float beta, const float* b, float* out,
                        int64_t n) {
  activate();
  axpby_kernel<<<cuda::blocks_for(n), cuda::kThreads>>>(alpha, a, beta, b, out, n);
  cuda::check_launch("axpby_kernel");
}

}  // namespace drift
