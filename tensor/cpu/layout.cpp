// layout.cpp — kernels that move values without arithmetic: permute, slab copies (slice and
// cat), and the indexing kernels (index_select / gather and their scatter-add backwards).
#include <cstring>
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace drift {

namespace {
constexpr int64_t kParallelThreshold = 1 << 15;
}

// out[i0, ..., ik] = x[the same indices in x's order]. We walk the output in memory order;
// the input is read with the permuted strides, in_stride[d] = stride of x's dim perm[d].
void CpuBackend::permute(const float* x, float* out, const Shape& x_shape,
                         const std::vector<int64_t>& perm) {
  const int64_t nd = x_shape.ndim();
  const std::vector<int64_t> x_strides = contiguous_strides(x_shape);
  std::vector<int64_t> out_shape(static_cast<size_t>(nd)), in_stride(static_cast<size_t>(nd));
  for (int64_t d = 0; d < nd; ++d) {
    out_shape[static_cast<size_t>(d)] = x_shape[perm[static_cast<size_t>(d)]];
    in_stride[static_cast<size_t>(d)] = x_strides[static_cast<size_t>(perm[static_cast<size_t>(d)])];
  }
  const int64_t numel = x_shape.numel();
  if (numel == 0) return;
  const int64_t inner = nd > 0 ? out_shape.back() : 1;
  const int64_t inner_stride = nd > 0 ? in_stride.back() : 1;
  const int64_t rows = numel / inner;
#pragma omp parallel for if (numel > kParallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    int64_t offset = 0, rest = row;
    for (int64_t d = nd - 2; d >= 0; --d) {
      int64_t i = rest % out_shape[static_cast<size_t>(d)];
      rest /= out_shape[static_cast<size_t>(d)];
      offset += i * in_stride[static_cast<size_t>(d)];
    }
    const float* src = x + offset;
    float* dst = out + row * inner;
    for (int64_t j = 0; j < inner; ++j) dst[j] = src[j * inner_stride];
  }
}

void CpuBackend::copy_slab(const float* src, int64_t src_n, int64_t src_start, float* dst,
                           int64_t dst_n, int64_t dst_start, int64_t outer, int64_t len,
                           int64_t inner) {
  const size_t bytes = static_cast<size_t>(len * inner) * sizeof(float);
#pragma omp parallel for if (outer * len * inner > kParallelThreshold && outer > 1)
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(dst + (o * dst_n + dst_start) * inner, src + (o * src_n + src_start) * inner,
                bytes);
}

void CpuBackend::index_select(const float* x, const float* index, int64_t k, float* out,
                              const DimView& v) {
  const size_t bytes = static_cast<size_t>(v.inner) * sizeof(float);
#pragma omp parallel for collapse(2) if (v.outer * k * v.inner > kParallelThreshold)
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t i = static_cast<int64_t>(index[j]);
      std::memcpy(out + (o * k + j) * v.inner, x + (o * v.n + i) * v.inner, bytes);
    }
}

// Several j may hit the same row i, so this runs serially over j (parallel over outer).
void CpuBackend::index_add(const float* gy, const float* index, int64_t k, float* gx,
                           const DimView& v) {
#pragma omp parallel for if (v.outer * k * v.inner > kParallelThreshold && v.outer > 1)
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t i = static_cast<int64_t>(index[j]);
      const float* src = gy + (o * k + j) * v.inner;
      float* dst = gx + (o * v.n + i) * v.inner;
#pragma omp simd
      for (int64_t c = 0; c < v.inner; ++c) dst[c] += src[c];
    }
}

void CpuBackend::gather(const float* x, const float* index, int64_t k, float* out,
                        const DimView& v) {
#pragma omp parallel for collapse(2) if (v.outer * k * v.inner > kParallelThreshold)
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t c = 0; c < v.inner; ++c) {
        const int64_t at = (o * k + j) * v.inner + c;
        const int64_t i = static_cast<int64_t>(index[at]);
        out[at] = x[(o * v.n + i) * v.inner + c];
      }
}

void CpuBackend::scatter_add(const float* gy, const float* index, int64_t k, float* gx,
                             const DimView& v) {
#pragma omp parallel for if (v.outer * k * v.inner > kParallelThreshold && v.outer > 1)
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t c = 0; c < v.inner; ++c) {
        const int64_t at = (o * k + j) * v.inner + c;
        const int64_t i = static_cast<int64_t>(index[at]);
        gx[(o * v.n + i) * v.inner + c] += gy[at];
      }
}

}  // namespace drift
