// module_gradcheck.h — drift::gradcheck for modules: finite differences of the input and of
// every parameter, which live inside the module (gradcheck proper takes fresh leaves).
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "nn/module.h"
#include "tensor/random.h"
#include "tensor/tensor.h"
#include "tests/helpers.h"

namespace drift::test {

// Finite-difference check of L = sum(w * forward(x)) with respect to x (when it requires
// grad) and to every parameter of `module`, like drift::gradcheck (the same
// options and defaults).
inline GradcheckResult module_gradcheck(nn::Module& module, const Tensor& x_in,
                                        const std::function<Tensor(const Tensor&)>& forward,
                                        const GradcheckOptions& options = {}) {
  Tensor x = x_in.detach().clone().set_requires_grad(x_in.requires_grad());
  Tensor y = forward(x);
  Generator gen(options.seed);
  Tensor w = randn(y.shape(), Device::cpu(), &gen);
  const std::vector<float> weights = w.to_vector();
  module.zero_grad();
  y.backward(w);

  std::vector<std::pair<std::string, Tensor>> targets;
  if (x.requires_grad()) targets.emplace_back("input", x);
  for (const auto& named : module.named_parameters()) targets.push_back(named);

  GradcheckResult result;
  double worst = -1.0;
  std::string worst_name;
  for (auto& [name, t] : targets) {
    Tensor target = t;
    std::vector<float> analytic = target.grad().defined()
                                      ? target.grad().to_vector()
                                      : std::vector<float>(static_cast<size_t>(target.numel()));
    std::vector<float> values = target.to_vector();
    for (int64_t j = 0; j < target.numel(); ++j) {
      const float original = values[static_cast<size_t>(j)];
      auto loss_at = [&](double shift) {
        values[static_cast<size_t>(j)] = static_cast<float>(original + shift);
        target.copy_(from_vector(values, target.shape()));
        NoGradGuard no_grad;
        std::vector<float> out = forward(x).to_vector();
        double total = 0.0;
        for (size_t i = 0; i < out.size(); ++i) total += static_cast<double>(out[i]) * weights[i];
        return total;
      };
      const double up = static_cast<float>(original + options.eps) - original;
      const double down = static_cast<float>(original - options.eps) - original;
      const double numeric = (loss_at(options.eps) - loss_at(-options.eps)) / (up - down);
      values[static_cast<size_t>(j)] = original;
      target.copy_(from_vector(values, target.shape()));
      const double a = analytic[static_cast<size_t>(j)];
      const double ratio =
          std::fabs(a - numeric) / (options.atol + options.rtol * std::fabs(numeric));
      if (ratio > worst) {
        worst = ratio;
        worst_name = name;
        result.worst_index = j;
        result.analytic = a;
        result.numeric = numeric;
      }
    }
  }
  result.ok = worst <= 1.0;
  std::ostringstream os;
  os << "module gradcheck " << (result.ok ? "passed" : "FAILED") << " for " << module.describe()
     << ": worst element is " << worst_name << " [" << result.worst_index << "]: analytic "
     << result.analytic << ", numeric " << result.numeric;
  result.message = os.str();
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
