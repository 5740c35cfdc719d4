// helpers.h — shared test utilities: closeness checks, fixtures, GPU skipping.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "tensor/io/safetensors.h"
#include "tensor/tensor.h"

namespace drift::test {

// Largest |a - e| / (atol + rtol |e|) over all elements; <= 1 means "close".
struct Closeness {
  bool ok = true;
  std::string report;
};

inline Closeness compare(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  Closeness c;
  std::ostringstream os;
  if (!actual.defined() || !expected.defined() || actual.shape() != expected.shape()) {
    c.ok = false;
    os << "shape mismatch: actual " << describe(actual) << ", expected " << describe(expected);
    c.report = os.str();
    return c;
  }
  std::vector<float> a = actual.to_vector(), e = expected.to_vector();
  double worst = 0.0;
  size_t worst_i = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double allowed = atol + rtol * std::fabs(e[i]);
    double diff = std::fabs(static_cast<double>(a[i]) - e[i]);
    double ratio = !std::isfinite(a[i]) ? INFINITY : diff == 0.0 ? 0.0 : diff / allowed;
    // NaN matches only NaN: a NaN on either side alone is the worst mismatch there is.
    if (std::isnan(e[i]) || std::isnan(a[i]))
      ratio = std::isnan(e[i]) && std::isnan(a[i]) ? 0.0 : INFINITY;
    if (ratio > worst) {
      worst = ratio;
      worst_i = i;
    }
  }
  c.ok = worst <= 1.0;
  if (!a.empty())
    os << "worst element " << worst_i << " of " << actual.shape() << ": actual " << a[worst_i]
       << ", expected " << e[worst_i] << " (|diff| " << std::fabs(a[worst_i] - e[worst_i])
       << ", allowed " << atol + rtol * std::fabs(e[worst_i]) << ")";
  c.report = os.str();
  return c;
}

#define CHECK_CLOSE(actual, expected, atol, rtol)                                         \
  do {                                                                                    \
    auto drift_closeness_ = ::drift::test::compare((actual), (expected), (atol), (rtol)); \
    INFO(drift_closeness_.report);                                                        \
    CHECK(drift_closeness_.ok);                                                           \
  } while (0)

#define CHECK_GRADCHECK(fn, inputs)                             \
  do {                                                          \
    auto drift_gradcheck_ = ::drift::gradcheck((fn), (inputs)); \
    INFO(drift_gradcheck_.message);                             \
    CHECK(drift_gradcheck_.ok);                                 \
  } while (0)

// Reference values produced by tests/fixtures/generate.py (PyTorch), e.g. fixture("ops").
inline const SafetensorsData& fixture(const std::string& name) {
  static std::map<std::string, SafetensorsData> cache;
  auto it = cache.find(name);
  if (it == cache.end())
    it = cache
             .emplace(name, load_safetensors(std::string(DRIFT_FIXTURE_DIR) + "/" + name +
                                             ".safetensors"))
             .first;
  return it->second;
}

// A leaf copy of a fixture tensor that requires grad.
inline Tensor leaf(const Tensor& t) {
  return t.clone().set_requires_grad(true);
}

// The inputs "<name>.in0", "<name>.in1", ... of a fixture case (fixturelib.Cases), as leaves.
inline std::vector<Tensor> case_inputs(const SafetensorsData& f, const std::string& name) {
  std::vector<Tensor> inputs;
  for (int i = 0; f.find(name + ".in" + std::to_string(i)); ++i)
    inputs.push_back(leaf(f.at(name + ".in" + std::to_string(i))));
  return inputs;
}

// True when a GPU can be used; otherwise prints a visible "skipped" line naming the test.
inline bool gpu_available_or_say(const char* test) {
  if (cuda_available()) return true;
  std::cout << "[skipped] " << test << ": " << cuda_unavailable_reason() << "\n";
  MESSAGE("skipped (no GPU): " << std::string(test));
  return false;
}

}  // namespace drift::test
