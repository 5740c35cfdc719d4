// reduce.cpp — reductions and softmax along one dimension. The tensor is seen as
// [outer, n, inner] (tensor/shape.h, DimView) and the middle axis is reduced.
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace drift {

namespace {
constexpr int64_t kParallelThreshold = 1 << 15;
}

void CpuBackend::sum_dim(const float* x, float* out, const DimView& v) {
  const int64_t outer = v.outer, n = v.n, inner = v.inner;
  if (inner == 1) {
    // Each output is the sum of a contiguous row, accumulated in double: summing a million
    // floats in float would lose about three significant digits.
#pragma omp parallel for if (outer * n > kParallelThreshold && outer > 1)
    for (int64_t o = 0; o < outer; ++o) {
      const float* row = x + o * n;
      double total = 0.0;
#pragma omp simd reduction(+ : total)
      for (int64_t i = 0; i < n; ++i) total += row[i];
      out[o] = static_cast<float>(total);
    }
    return;
  }
  // Rows of `inner` contiguous values are added into the output row: vectorises over inner.
#pragma omp parallel for if (outer * n * inner > kParallelThreshold && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    float* dst = out + o * inner;
    const float* src = x + o * n * inner;
    for (int64_t j = 0; j < inner; ++j) dst[j] = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = src + i * inner;
#pragma omp simd
      for (int64_t j = 0; j < inner; ++j) dst[j] += row[j];
    }
  }
}

void CpuBackend::max_dim(const float* x, float* out, float* argmax, const DimView& v) {
  const int64_t outer = v.outer, n = v.n, inner = v.inner;
#pragma omp parallel for if (outer * n * inner > kParallelThreshold && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const float* p = x + o * n * inner + j;
      float best = p[0];
      int64_t best_i = 0;
      for (int64_t i = 1; i < n; ++i) {
        float value = p[i * inner];
        // NaN wins (propagates), like PyTorch; otherwise the first maximum is kept.
        if (value > best || (std::isnan(value) && !std::isnan(best))) {
          best = value;
          best_i = i;
        }
      }
      out[o * inner + j] = best;
      argmax[o * inner + j] = static_cast<float>(best_i);
    }
  }
}

// softmax(x)_i = exp(x_i - m) / sum_k exp(x_k - m), with m = max_k x_k subtracted first so
// exp never overflows (the result is unchanged: the factor exp(-m) cancels).
// log_softmax(x)_i = x_i - m - log(sum_k exp(x_k - m)).
void CpuBackend::softmax(const float* x, float* y, const DimView& v, bool log) {
  const int64_t outer = v.outer, n = v.n, inner = v.inner;
#pragma omp parallel for collapse(2) if (outer * n * inner > kParallelThreshold)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const float* in = x + o * n * inner + j;
      float* res = y + o * n * inner + j;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < n; ++i) m = std::fmax(m, in[i * inner]);
      double total = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        float e = std::exp(in[i * inner] - m);
        if (!log) res[i * inner] = e;
        total += e;
      }
      if (log) {
        float log_total = static_cast<float>(std::log(total));
        for (int64_t i = 0; i < n; ++i) res[i * inner] = in[i * inner] - m - log_total;
      } else {
        float scale = static_cast<float>(1.0 / total);
        for (int64_t i = 0; i < n; ++i) res[i * inner] *= scale;
      }
    }
  }
}

// Backward of y = softmax(x):      gx_i = y_i (gy_i - sum_k gy_k y_k)
// Backward of y = log_softmax(x):  gx_i = gy_i - exp(y_i) sum_k gy_k
void CpuBackend::softmax_backward(const float* y, const float* gy, float* gx, const DimView& v,
                                  bool log) {
  const int64_t outer = v.outer, n = v.n, inner = v.inner;
#pragma omp parallel for collapse(2) if (outer * n * inner > kParallelThreshold)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t base = o * n * inner + j;
      double dot = 0.0;
      for (int64_t i = 0; i < n; ++i)
        dot += log ? gy[base + i * inner] : gy[base + i * inner] * y[base + i * inner];
      const float s = static_cast<float>(dot);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = base + i * inner;
        gx[k] = log ? gy[k] - std::exp(y[k]) * s : y[k] * (gy[k] - s);
      }
    }
  }
}

}  // namespace drift
