// elementwise.cu — GPU loops for the elementwise ops; the twin of tensor/cpu/elementwise.cpp.
// The formulas (forward and derivative side by side) are in tensor/elementwise_math.h and
// shared with the CPU, so both devices compute the same function.
#include "tensor/cuda/cuda_common.cuh"
#include "tensor/elementwise_math.h"

namespace drift {
namespace {

template <class Op>
__global__ void unary_kernel(const float* x, float* y, int64_t n, float p0, float p1) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    y[i] = Op::forward(x[i], p0, p1);
}

template <class Op>
__global__ void unary_backward_kernel(const float* x, const float* y, const float* gy, float* gx,
                                      int64_t n, float p0, float p1) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    gx[i] = gy[i] * Op::derivative(x[i], y[i], p0, p1);
}

// One thread per output element: decompose the flat index over the plan's (merged) dims.
template <class Op>
__global__ void binary_kernel(const float* a, const float* b, float* out, BroadcastPlan plan) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < plan.numel;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int64_t offset_a = 0, offset_b = 0, rest = i;
    for (int d = plan.ndim - 1; d >= 0; --d) {
      int64_t index = rest % plan.shape[d];
      rest /= plan.shape[d];
      offset_a += index * plan.stride_a[d];
      offset_b += index * plan.stride_b[d];
    }
    out[i] = Op::apply(a[offset_a], b[offset_b]);
  }
}

}  // namespace

void CudaBackend::unary(UnaryOp op, const float* x, float* y, int64_t n, float p0, float p1) {
  activate();
  elementwise::visit_unary(op, [&](auto fn) {
    using Op = decltype(fn);
    unary_kernel<Op><<<cuda::blocks_for(n), cuda::kThreads>>>(x, y, n, p0, p1);
  });
  cuda::check_launch(unary_op_name(op));
}

void CudaBackend::unary_backward(UnaryOp op, const float* x, const float* y, const float* gy,
                                 float* gx, int64_t n, float p0, float p1) {
  activate();
  elementwise::visit_unary(op, [&](auto fn) {
    using Op = decltype(fn);
    unary_backward_kernel<Op><<<cuda::blocks_for(n), cuda::kThreads>>>(x, y, gy, gx, n, p0, p1);
  });
  cuda::check_launch(unary_op_name(op));
}

void CudaBackend::binary(BinaryOp op, const float* a, const float* b, float* out,
                         const BroadcastPlan& plan) {
  activate();
  elementwise::visit_binary(op, [&](auto fn) {
    using Op = decltype(fn);
    binary_kernel<Op><<<cuda::blocks_for(plan.numel), cuda::kThreads>>>(a, b, out, plan);
  });
  cuda::check_launch(binary_op_name(op));
}

}  // namespace drift
