// memory.cpp — CPU memory: a caching allocator, copies and fills.
//
// Why cache? A training step allocates the same tensor sizes every iteration. Large blocks
// from malloc come straight from the kernel (mmap) and every first touch of a page faults,
// so "allocate, use once, free" would spend a noticeable part of a step in page faults.
// Instead freed blocks go into a free list keyed by their size and the next request of that
// size reuses one. cpu_empty_cache() hands them back.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/error.h"

namespace drift {
namespace {

constexpr size_t kAlignment = 64;  // one cache line; also the widest SIMD load (AVX-512)

struct BlockCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // size -> blocks
  CpuAllocatorStats stats;                                     // guarded by mutex
};
BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache();  // never destroyed: tensors may outlive main()
  return *cache;
}

size_t rounded(size_t bytes) {
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

}  // namespace

CpuBackend& cpu_backend() {
  // Never destroyed, like the block cache: a static or global Tensor anywhere in a program is
  // destroyed after main() returns, in an order no file controls, and frees its storage here.
  static CpuBackend* instance = new CpuBackend();
  return *instance;
}

int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int threads) {
  DRIFT_CHECK(threads >= 1, "set_num_threads: need at least 1 thread, got " << threads);
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
}

void* CpuBackend::allocate(size_t bytes) {
  size_t size = rounded(bytes);
  BlockCache& cache = block_cache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.free_blocks.find(size);
    if (it != cache.free_blocks.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      ++cache.stats.cache_hits;
      cache.stats.cached_bytes -= static_cast<int64_t>(size);
      return ptr;
    }
    ++cache.stats.system_allocations;  // a miss: counted even if the allocation fails
  }
  void* ptr = std::aligned_alloc(kAlignment, size);
  if (ptr == nullptr) {
    cpu_empty_cache();  // give cached blocks back and try once more
    ptr = std::aligned_alloc(kAlignment, size);
  }
  DRIFT_CHECK(ptr != nullptr, "cpu: out of memory allocating "
                                  << bytes << " bytes (" << double(bytes) / double(1 << 30)
                                  << " GiB): a smaller batch or picture would fit");
  return ptr;
}

void CpuBackend::deallocate(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  BlockCache& cache = block_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.free_blocks[rounded(bytes)].push_back(ptr);
  cache.stats.cached_bytes += static_cast<int64_t>(rounded(bytes));
}

void cpu_empty_cache() {
  BlockCache& cache = block_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  for (auto& entry : cache.free_blocks)
    for (void* ptr : entry.second) std::free(ptr);
  cache.free_blocks.clear();
  cache.stats.cached_bytes = 0;
}

CpuAllocatorStats cpu_allocator_stats() {
  BlockCache& cache = block_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  return cache.stats;
}

void CpuBackend::copy_from_host(float* dst, const float* host_src, int64_t n) {
  std::memcpy(dst, host_src, static_cast<size_t>(n) * sizeof(float));
}

void CpuBackend::copy_to_host(float* host_dst, const float* src, int64_t n) {
  std::memcpy(host_dst, src, static_cast<size_t>(n) * sizeof(float));
}

void CpuBackend::copy(float* dst, const float* src, int64_t n) {
  if (dst != src) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void CpuBackend::fill(float* dst, int64_t n, float value) {
  parallel_chunks(n, int64_t(1) << 16,
                  [&](int64_t begin, int64_t end) { std::fill(dst + begin, dst + end, value); });
}

void CpuBackend::axpby(float alpha, const float* a, float beta, const float* b, float* out,
                       int64_t n) {
  parallel_chunks(n, int64_t(1) << 16, [&](int64_t begin, int64_t end) {
    const float* x = a + begin;
    const float* y = b + begin;
    float* z = out + begin;
#pragma omp simd
    for (int64_t i = 0; i < end - begin; ++i) z[i] = alpha * x[i] + beta * y[i];
  });
}

}  // namespace drift
