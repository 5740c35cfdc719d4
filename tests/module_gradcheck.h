// module_gradcheck.h — drift::gradcheck for modules: finite differences of the input and of
// every parameter, which live inside the module (gradcheck proper takes fresh leaves).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/gradcheck.h"
#include "nn/module.h"
#include "tensor/tensor.h"
#include "tests/helpers.h"

namespace drift::test {

// Finite-difference check of L = sum(w * forward(x)) with respect to x (when it requires
// grad) and to every parameter of `module`: drift::gradcheck_targets, the engine of
// gradcheck, with the same options and defaults.
inline GradcheckResult module_gradcheck(nn::Module& module, const Tensor& x_in,
                                        const std::function<Tensor(const Tensor&)>& forward,
                                        const GradcheckOptions& options = {}) {
  Tensor x = x_in.detach().clone().set_requires_grad(x_in.requires_grad());
  std::vector<std::pair<std::string, Tensor>> targets;
  if (x.requires_grad()) targets.emplace_back("input", x);
  for (const auto& named : module.named_parameters()) targets.push_back(named);
  GradcheckResult result = gradcheck_targets([&] { return forward(x); }, targets, options);
  result.message = "module " + module.describe() + ": " + result.message;
  return result;
}

// CHECK_MODULE_GRADCHECK(module, x, forward) or (module, x, forward, options)
#define CHECK_MODULE_GRADCHECK(module, x, ...)                                        \
  do {                                                                                \
    auto drift_result_ = ::drift::test::module_gradcheck((module), (x), __VA_ARGS__); \
    INFO(drift_result_.message);                                                      \
    CHECK(drift_result_.ok);                                                          \
  } while (0)

}  // namespace drift::test
