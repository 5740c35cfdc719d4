// random.cpp — Philox random numbers on the CPU. Matches cuda/random.cu number for number:
// element i uses word i%4 of Philox block (offset + i/4).
#include "tensor/cpu/cpu_backend.h"
#include "tensor/philox.h"

namespace drift {

void CpuBackend::random_uniform(float* dst, int64_t n, uint64_t seed, uint64_t offset,
                                float low, float high) {
  int64_t blocks = (n + 3) / 4;
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t b = 0; b < blocks; ++b) {
    philox::Words w = philox::block(seed, offset + static_cast<uint64_t>(b));
    for (int64_t lane = 0; lane < 4 && 4 * b + lane < n; ++lane)
      dst[4 * b + lane] = low + (high - low) * philox::to_unit_float(w.v[lane]);
  }
}

void CpuBackend::random_normal(float* dst, int64_t n, uint64_t seed, uint64_t offset, float mean,
                               float stddev) {
  int64_t blocks = (n + 3) / 4;
#pragma omp parallel for if (n > (1 << 14))
  for (int64_t b = 0; b < blocks; ++b) {
    philox::Words w = philox::block(seed, offset + static_cast<uint64_t>(b));
    float z[4];
    philox::box_muller(w.v[0], w.v[1], z[0], z[1]);
    philox::box_muller(w.v[2], w.v[3], z[2], z[3]);
    for (int64_t lane = 0; lane < 4 && 4 * b + lane < n; ++lane)
      dst[4 * b + lane] = mean + stddev * z[lane];
  }
}

}  // namespace drift
