// cpu_backend.h — the CPU kernels. Each group of methods lives in its own file:
//
//   memory.cpp       allocate (a caching allocator), copies, fill, axpby
//   random.cpp       Philox uniform / normal
//   elementwise.cpp  unary ops with their derivatives, broadcasting binary ops
//   reduce.cpp       sum / max along a dimension, softmax
//   layout.cpp       permute, slabs (slice / cat), index_select, gather
//   gemm.cpp         matrix multiply (packed, cache-blocked; micro-kernels in gemm_kernels.h)
//   conv.cpp         2-D convolution and its two backward passes: which algorithm runs;
//                    conv_direct.cpp, direct kernels for "same" convolutions (inner loops in
//                    conv_kernels.h); conv_im2col.cpp, im2col + GEMM for the rest;
//                    conv_common.h, what the two share
//   parallel.h       parallel_chunks, how flat loops are shared among threads
//   norm.cpp         group normalisation (LayerNorm too) and GroupNorm + SiLU, fused forward
//                    and backward
//   pool.cpp         max / average pooling, nearest-neighbour upsampling
//   optim.cpp        Adam/AdamW and SGD steps, sum of squares (gradient clipping)
//
// GEMM, convolution and GroupNorm have a second, plain version written from the definition
// (gemm_reference.cpp, conv_reference.cpp, norm_reference.cpp). kernels.h declares both and
// the switch between them (drift::cpu::set_kernels, or DRIFT_KERNELS=reference in the
// environment); kernels.cpp defines the CpuBackend methods of those kernels, the one place
// that picks the version.
//
// Loops are parallelised with OpenMP where the work is large enough to pay for the threads.
#pragma once

#include "tensor/backend.h"
#include "tensor/cpu/kernels.h"

namespace drift {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu(); }

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  void copy_from_host(float* dst, const float* host_src, int64_t n) override;
  void copy_to_host(float* host_dst, const float* src, int64_t n) override;
  void copy(float* dst, const float* src, int64_t n) override;
  void fill(float* dst, int64_t n, float value) override;

  void random_uniform(float* dst, int64_t n, uint64_t seed, uint64_t offset, float low,
                      float high) override;
  void random_normal(float* dst, int64_t n, uint64_t seed, uint64_t offset, float mean,
                     float stddev) override;

  void unary(UnaryOp op, const float* x, float* y, int64_t n, float p0, float p1) override;
  void unary_backward(UnaryOp op, const float* x, const float* y, const float* gy, float* gx,
                      int64_t n, float p0, float p1) override;
  void binary(BinaryOp op, const float* a, const float* b, float* out,
              const BroadcastPlan& plan) override;
  void axpby(float alpha, const float* a, float beta, const float* b, float* out,
             int64_t n) override;

  void sum_dim(const float* x, float* out, const DimView& v) override;
  void max_dim(const float* x, float* out, float* argmax, const DimView& v) override;
  void softmax(const float* x, float* y, const DimView& v, bool log) override;
  void softmax_backward(const float* y, const float* gy, float* gx, const DimView& v,
                        bool log) override;

  void permute(const float* x, float* out, const Shape& x_shape,
               const std::vector<int64_t>& perm) override;
  void copy_slab(const float* src, int64_t src_n, int64_t src_start, float* dst, int64_t dst_n,
                 int64_t dst_start, int64_t outer, int64_t len, int64_t inner) override;
  void index_select(const float* x, const float* index, int64_t k, float* out,
                    const DimView& v) override;
  void index_add(const float* gy, const float* index, int64_t k, float* gx,
                 const DimView& v) override;
  void gather(const float* x, const float* index, int64_t k, float* out,
              const DimView& v) override;
  void scatter_add(const float* gy, const float* index, int64_t k, float* gx,
                   const DimView& v) override;

  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
            const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
            int64_t ldc, int64_t batch, int64_t stride_a, int64_t stride_b,
            int64_t stride_c) override;

  void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                      const Conv2dGeometry& g) override;
  void conv2d_backward_input(const float* gy, const float* w, float* gx,
                             const Conv2dGeometry& g) override;
  void conv2d_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                              const Conv2dGeometry& g) override;

  void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
                          float* mean, float* rstd, int64_t N, int64_t C, int64_t HW,
                          int64_t groups, float eps) override;
  void group_norm_backward(const float* x, const float* gy, const float* gamma,
                           const float* mean, const float* rstd, float* gx, float* ggamma,
                           float* gbeta, int64_t N, int64_t C, int64_t HW,
                           int64_t groups) override;
  void group_norm_silu_forward(const float* x, const float* gamma, const float* beta, float* y,
                               float* mean, float* rstd, int64_t N, int64_t C, int64_t HW,
                               int64_t groups, float eps) override;
  void group_norm_silu_backward(const float* x, const float* gy, const float* gamma,
                                const float* beta, const float* mean, const float* rstd,
                                float* gx, float* ggamma, float* gbeta, int64_t N, int64_t C,
                                int64_t HW, int64_t groups) override;

  void max_pool2d_forward(const float* x, float* y, float* argmax,
                          const Pool2dGeometry& g) override;
  void max_pool2d_backward(const float* gy, const float* argmax, float* gx,
                           const Pool2dGeometry& g) override;
  void avg_pool2d_forward(const float* x, float* y, const Pool2dGeometry& g) override;
  void avg_pool2d_backward(const float* gy, float* gx, const Pool2dGeometry& g) override;
  void upsample_nearest_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W,
                                int64_t scale) override;
  void upsample_nearest_backward(const float* gy, float* gx, int64_t planes, int64_t H,
                                 int64_t W, int64_t scale) override;

  void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                 const AdamScalars& scalars) override;
  void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n,
                const SgdScalars& scalars) override;
  double sum_of_squares(const float* x, int64_t n) override;
};

CpuBackend& cpu_backend();

// Threads used by the CPU kernels (OpenMP); follows OMP_NUM_THREADS unless set here.
int num_threads();
void set_num_threads(int threads);

// Returns cached CPU blocks to the system (the allocator keeps freed blocks for reuse).
void cpu_empty_cache();

// What the caching allocator did since the program started: requests served from the cache,
// requests that went to the system (aligned_alloc), and the bytes now held in the cache.
// A training loop in its steady state should make no system allocations (bench/ checks).
struct CpuAllocatorStats {
  int64_t cache_hits = 0;
  int64_t system_allocations = 0;
  int64_t cached_bytes = 0;
};
CpuAllocatorStats cpu_allocator_stats();

// Which algorithm the CPU convolution kernels use (conv.cpp). Auto: the direct kernels for
// stride-1 convolutions whose output is as large as the input (3x3 padding 1, 1x1, ...),
// im2col + GEMM for the rest (strides, other paddings).
// Im2col: im2col + GEMM everywhere (the general path; tests and benchmarks compare the two).
enum class CpuConvAlgorithm { Auto, Im2col };
void set_cpu_conv_algorithm(CpuConvAlgorithm algorithm);
CpuConvAlgorithm cpu_conv_algorithm();

}  // namespace drift
