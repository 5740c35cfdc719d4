// philox.h — Philox4x32-10, the counter-based random number generator (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011), as used by cuRAND and PyTorch.
//
// A counter-based generator is a pure function: 128-bit counter + 64-bit key -> four
// random 32-bit words. There is no hidden state to advance, so element i of a random tensor
// can be computed by any thread on any device from (seed, i) alone. That is why the CPU and
// the GPU give the same noise for the same seed, and why a training step can be replayed
// exactly on either device.
//
// This header is compiled both by the C++ compiler and by nvcc (DRIFT_HOST_DEVICE).
#pragma once

#include <math.h>  // sqrt, log, cos, sin in the global namespace (host and device)

#include <cstdint>

#if defined(__CUDACC__)
#define DRIFT_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define DRIFT_HOST_DEVICE inline
#endif

namespace drift {
namespace philox {

struct Words {
  uint32_t v[4];
};

DRIFT_HOST_DEVICE void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

// Ten rounds of: multiply two counter words by fixed odd constants, mix the high halves with
// the other words and the key, then bump the key by the Weyl constants (golden ratio, sqrt 3).
DRIFT_HOST_DEVICE Words philox4x32_10(Words counter, uint32_t key0, uint32_t key1) {
  const uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  const uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, counter.v[0], hi0, lo0);
    mulhilo(kMul1, counter.v[2], hi1, lo1);
    Words next = {{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
    counter = next;
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

// The four words for block `block` of the stream keyed by `seed`.
DRIFT_HOST_DEVICE Words block(uint64_t seed, uint64_t block) {
  Words counter = {{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u}};
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// A 32-bit word -> float uniform in [0, 1): the top 24 bits times 2^-24 (exact in float32).
DRIFT_HOST_DEVICE float to_unit_float(uint32_t word) {
  return static_cast<float>(word >> 8) * (1.0f / 16777216.0f);
}

// Box–Muller: two words -> two independent standard normals. u1 is shifted into (0, 1] so
// log(u1) is finite. Computed in double so CPU and GPU agree to the last float bit in
// practice (both round a correctly rounded double result).
DRIFT_HOST_DEVICE void box_muller(uint32_t w0, uint32_t w1, float& z0, float& z1) {
  const double kTwoPi = 6.283185307179586476925286766559;
  double u1 = (static_cast<double>(w0 >> 8) + 1.0) * (1.0 / 16777216.0);
  double u2 = static_cast<double>(w1 >> 8) * (1.0 / 16777216.0);
  double radius = sqrt(-2.0 * log(u1));
  z0 = static_cast<float>(radius * cos(kTwoPi * u2));
  z1 = static_cast<float>(radius * sin(kTwoPi * u2));
}

}  // namespace philox
}  // namespace drift
