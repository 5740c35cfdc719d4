// fuzz_idx.cpp — the MNIST file readers (diffusion/tools/data.h) on arbitrary bytes: the same
// input through gunzip then parse_idx (a .gz file) and through parse_idx alone (a plain one).
//
// An IDX array the parser accepts holds exactly product(dims) values, 1 to 4 dimensions each
// at least 1; gunzip's output is checked against the trailer's CRC-32 and length by gunzip
// itself, so the harness checks the CRC again on what it returns.
#include <string>

#include "diffusion/tools/data.h"
#include "tests/fuzz/harness.h"

namespace {

using namespace drift::diffusion;

void check_idx(const IdxArray& array) {
  drift::fuzz::expect(!array.dims.empty() && array.dims.size() <= 4, "IDX: bad dimension count");
  uint64_t count = 1;
  for (int64_t d : array.dims) {
    drift::fuzz::expect(d >= 1, "IDX: a dimension below 1");
    count *= static_cast<uint64_t>(d);
  }
  drift::fuzz::expect(array.values.size() == count, "IDX: values do not match the dimensions");
}

int fuzz_idx(const uint8_t* data, size_t size) {
  const std::string bytes = drift::fuzz::bytes_of(data, size);
  drift::fuzz::rejected_or_parsed([&] {
    const std::string inflated = gunzip(bytes, "fuzz.gz");
    drift::fuzz::expect(size >= 8, "gunzip accepted fewer bytes than its trailer");
    const uint32_t stored = uint32_t(data[size - 8]) | uint32_t(data[size - 7]) << 8 |
                            uint32_t(data[size - 6]) << 16 | uint32_t(data[size - 5]) << 24;
    drift::fuzz::expect(crc32(inflated) == stored, "gunzip returned bytes that fail the CRC");
    check_idx(parse_idx(inflated, "fuzz.gz"));
  });
  drift::fuzz::rejected_or_parsed([&] { check_idx(parse_idx(bytes, "fuzz")); });
  return 0;
}

}  // namespace

DRIFT_FUZZ_TARGET(idx, fuzz_idx)
