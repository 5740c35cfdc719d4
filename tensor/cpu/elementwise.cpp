// elementwise.cpp — CPU loops for the elementwise ops. The formulas themselves (forward and
// derivative side by side) are in tensor/elementwise_math.h, shared with cuda/elementwise.cu.
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/elementwise_math.h"

namespace drift {

namespace {
constexpr int64_t kParallelThreshold = 1 << 15;  // below this, threads cost more than they save
}

void CpuBackend::unary(UnaryOp op, const float* x, float* y, int64_t n, float p0, float p1) {
  elementwise::visit_unary(op, [&](auto fn) {
    using Op = decltype(fn);
    parallel_chunks(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
      const float* in = x + begin;
      float* out = y + begin;
#pragma omp simd
      for (int64_t i = 0; i < end - begin; ++i) out[i] = Op::forward(in[i], p0, p1);
    });
  });
}

void CpuBackend::unary_backward(UnaryOp op, const float* x, const float* y, const float* gy,
                                float* gx, int64_t n, float p0, float p1) {
  elementwise::visit_unary(op, [&](auto fn) {
    using Op = decltype(fn);
    parallel_chunks(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
      const float* in = x + begin;
      const float* out = y + begin;
      const float* gy_chunk = gy + begin;
      float* gx_chunk = gx + begin;
#pragma omp simd
      for (int64_t i = 0; i < end - begin; ++i)
        gx_chunk[i] = gy_chunk[i] * Op::derivative(in[i], out[i], p0, p1);
    });
  });
}

// Broadcasting: the plan (tensor/shape.h) has merged the dimensions, so the innermost one is
// a long run. We walk the outer dimensions with an index counter and run a tight loop over
// the innermost, with three variants for its strides: both 1, a repeated scalar, general.
void CpuBackend::binary(BinaryOp op, const float* a, const float* b, float* out,
                        const BroadcastPlan& plan) {
  elementwise::visit_binary(op, [&](auto fn) {
    using Op = decltype(fn);
    const int last = plan.ndim - 1;
    const int64_t inner = plan.shape[last];
    const int64_t sa = plan.stride_a[last], sb = plan.stride_b[last];
    const int64_t rows = plan.numel / (inner > 0 ? inner : 1);
#pragma omp parallel for if (plan.numel > kParallelThreshold && rows > 1)
    for (int64_t row = 0; row < rows; ++row) {
      // Offsets of this row in a and b: decompose `row` over the outer dimensions.
      int64_t offset_a = 0, offset_b = 0, rest = row;
      for (int d = last - 1; d >= 0; --d) {
        int64_t i = rest % plan.shape[d];
        rest /= plan.shape[d];
        offset_a += i * plan.stride_a[d];
        offset_b += i * plan.stride_b[d];
      }
      const float* pa = a + offset_a;
      const float* pb = b + offset_b;
      float* po = out + row * inner;
      if (sa == 1 && sb == 1) {
#pragma omp simd
        for (int64_t j = 0; j < inner; ++j) po[j] = Op::apply(pa[j], pb[j]);
      } else if (sa == 1 && sb == 0) {
        const float vb = *pb;
#pragma omp simd
        for (int64_t j = 0; j < inner; ++j) po[j] = Op::apply(pa[j], vb);
      } else if (sa == 0 && sb == 1) {
        const float va = *pa;
#pragma omp simd
        for (int64_t j = 0; j < inner; ++j) po[j] = Op::apply(va, pb[j]);
      } else {
        for (int64_t j = 0; j < inner; ++j) po[j] = Op::apply(pa[j * sa], pb[j * sb]);
      }
    }
  });
}

}  // namespace drift
