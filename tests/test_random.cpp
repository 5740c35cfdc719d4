// test_random.cpp — the Philox generator: known-answer vectors, fixed-seed stability against
// an independent Python implementation, and the statistics of rand/randn.
#include <doctest/doctest.h>

#include <cmath>

#include "tensor/philox.h"
#include "tensor/random.h"
#include "tests/helpers.h"

using namespace drift;

TEST_CASE("philox4x32-10 known-answer vectors (Random123)") {
  philox::Words zero = philox::philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  CHECK(zero.v[0] == 0x6627e8d5u);
  CHECK(zero.v[1] == 0xe169c58du);
  CHECK(zero.v[2] == 0xbc57ac4cu);
  CHECK(zero.v[3] == 0x9b00dbd8u);
  philox::Words ones = philox::philox4x32_10({{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u);
  CHECK(ones.v[0] == 0x408f276du);
  CHECK(ones.v[1] == 0x41c83b0eu);
  CHECK(ones.v[2] == 0xa20bc7c6u);
  CHECK(ones.v[3] == 0x6d5451fdu);
  philox::Words pi = philox::philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                                           0xa4093822u, 0x299f31d0u);
  CHECK(pi.v[0] == 0xd16cfe09u);
  CHECK(pi.v[1] == 0x94fdccebu);
  CHECK(pi.v[2] == 0x5001e420u);
  CHECK(pi.v[3] == 0x24126ea1u);
}

TEST_CASE("fixed seeds give the values of the independent Python implementation") {
  const SafetensorsData& f = test::fixture("random");
  manual_seed(42);
  CHECK_CLOSE(rand({10}), f.at("rand_seed42"), 0.0, 0.0);  // bit-exact
  CHECK_CLOSE(randn({10}), f.at("randn_seed42_after_rand"), 1e-6, 1e-6);
  Generator g(7);
  CHECK_CLOSE(randn({3, 3}, Device::cpu(), &g), f.at("randn_seed7"), 1e-6, 1e-6);
  CHECK(g.offset() == 3);  // 9 numbers = 3 Philox blocks of four
}

TEST_CASE("same seed, same numbers; different seed, different numbers") {
  Generator a(123), b(123), c(124);
  std::vector<float> va = randn({100}, Device::cpu(), &a).to_vector();
  CHECK(va == randn({100}, Device::cpu(), &b).to_vector());
  CHECK(va != randn({100}, Device::cpu(), &c).to_vector());
  CHECK(va != randn({100}, Device::cpu(), &a).to_vector());  // the stream moved on
}

TEST_CASE("rand and randn statistics") {
  Generator g(2024);
  std::vector<float> u = rand({1 << 20}, Device::cpu(), &g).to_vector();
  std::vector<float> z = randn({1 << 20}, Device::cpu(), &g).to_vector();
  double su = 0, su2 = 0, sz = 0, sz2 = 0;
  float umin = 1, umax = 0;
  for (float x : u) {
    su += x;
    su2 += x * x;
    umin = std::min(umin, x);
    umax = std::max(umax, x);
  }
  for (float x : z) {
    sz += x;
    sz2 += static_cast<double>(x) * x;
  }
  double n = static_cast<double>(u.size());
  // Uniform[0,1): mean 1/2, variance 1/12. Standard errors at n = 2^20 are ~3e-4.
  CHECK(std::fabs(su / n - 0.5) < 2e-3);
  CHECK(std::fabs(su2 / n - su * su / n / n - 1.0 / 12.0) < 2e-3);
  CHECK(umin >= 0.0f);
  CHECK(umax < 1.0f);
  CHECK(std::fabs(sz / n) < 5e-3);
  CHECK(std::fabs(sz2 / n - 1.0) < 5e-3);
  Tensor r = randint(3, 7, {10000}, Device::cpu(), &g);
  std::vector<int> counts(4, 0);
  for (float x : r.to_vector()) {
    REQUIRE((x >= 3 && x < 7 && std::floor(x) == x));
    counts[static_cast<size_t>(x - 3)]++;
  }
  for (int c : counts) CHECK(std::abs(c - 2500) < 250);
}
