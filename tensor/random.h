// random.h — random generators: a seed plus a position in the Philox stream.
//
// Each random tensor of n elements uses the next ceil(n/4) Philox blocks of its generator's
// stream and advances the generator past them. Same seed + same sequence of calls = same
// numbers, on either device.
#pragma once

#include <cstdint>

namespace drift {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }  // the next unused Philox block
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves the blocks for n numbers and returns the first one.
  uint64_t reserve(int64_t n) {
    uint64_t first = offset_;
    offset_ += static_cast<uint64_t>((n + 3) / 4);
    return first;
  }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// The global generator used when a function is given none.
Generator& default_generator();
// Seeds the global generator (like torch.manual_seed).
void manual_seed(uint64_t seed);

}  // namespace drift
