// cuda_backend.h — the CUDA kernels, in files that mirror tensor/cpu/:
//
//   memory.cu       cudaMalloc with a caching allocator, copies, fill, axpby
//   random.cu       Philox uniform / normal (same numbers as cpu/random.cpp)
//   elementwise.cu  unary ops with their derivatives, broadcasting binary ops
//   optim.cu        Adam/AdamW and SGD steps, sum of squares (gradient clipping)
//
// Kernels not listed here are not on the GPU yet: calling them throws a clear
// "<kernel>: not implemented on cuda:0 yet" error (Backend's default).
#pragma once

#include <string>

#include "tensor/backend.h"

namespace drift {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index) : index_(index) {}
  Device device() const override { return Device::cuda(index_); }

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  void copy_from_host(float* dst, const float* host_src, int64_t n) override;
  void copy_to_host(float* host_dst, const float* src, int64_t n) override;
  void copy(float* dst, const float* src, int64_t n) override;
  void fill(float* dst, int64_t n, float value) override;
  void synchronize() override;

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

  void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                 const AdamScalars& scalars) override;
  void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n,
                const SgdScalars& scalars) override;
  double sum_of_squares(const float* x, int64_t n) override;

 private:
  void activate() const;  // makes this backend's GPU the current one
  int index_;
};

CudaBackend& cuda_backend(int index);

// Throws drift::Error naming the call when a CUDA runtime call fails.
void cuda_check(int status, const char* call, const char* file, int line);
#define DRIFT_CUDA_CHECK(call) ::drift::cuda_check(static_cast<int>(call), #call, __FILE__, __LINE__)

}  // namespace drift
