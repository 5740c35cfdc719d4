#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace drift {

namespace {

double weighted_sum(const Tensor& y, const std::vector<float>& w) {
  std::vector<float> values = y.to_vector();
  double total = 0.0;
  for (size_t i = 0; i < values.size(); ++i)
    total += static_cast<double>(values[i]) * static_cast<double>(w[i]);
  return total;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  // Fresh leaves, so the caller's tensors are never modified and never receive gradients.
  std::vector<Tensor> leaves;
  bool any = false;
  for (const Tensor& input : inputs) {
    DRIFT_CHECK(input.defined(), "gradcheck: an input is undefined");
    Tensor leaf = input.detach().clone();
    leaf.set_requires_grad(input.requires_grad());
    any = any || input.requires_grad();
    leaves.push_back(leaf);
  }
  DRIFT_CHECK(any, "gradcheck: no input has requires_grad set, so there is nothing to check");

  Tensor y = fn(leaves);
  DRIFT_CHECK(y.defined() && y.requires_grad(),
              "gradcheck: the function's output does not depend on any input with "
              "requires_grad");
  Generator gen(options.seed);
  Tensor w = randn(y.shape(), y.device(), &gen);
  const std::vector<float> weights = w.to_vector();
  y.backward(w);

  GradcheckResult result;
  double worst_ratio = -1.0;
  for (size_t k = 0; k < leaves.size(); ++k) {
    Tensor& leaf = leaves[k];
    if (!leaf.requires_grad()) continue;
    Tensor grad = leaf.grad();
    std::vector<float> analytic =
        grad.defined() ? grad.to_vector() : std::vector<float>(static_cast<size_t>(leaf.numel()));
    std::vector<float> values = leaf.to_vector();
    for (int64_t j = 0; j < leaf.numel(); ++j) {
      const float original = values[static_cast<size_t>(j)];
      auto evaluate = [&](double shift) {
        values[static_cast<size_t>(j)] = static_cast<float>(original + shift);
        leaf.copy_(from_vector(values, leaf.shape()));
        NoGradGuard no_grad;
        return weighted_sum(fn(leaves), weights);
      };
      // The step actually taken (x + eps rounded to float), for an exact denominator.
      const double up = static_cast<float>(original + options.eps) - original;
      const double down = static_cast<float>(original - options.eps) - original;
      const double numeric = (evaluate(options.eps) - evaluate(-options.eps)) / (up - down);
      values[static_cast<size_t>(j)] = original;
      leaf.copy_(from_vector(values, leaf.shape()));

      const double a = analytic[static_cast<size_t>(j)];
      const double allowed = options.atol + options.rtol * std::fabs(numeric);
      const double ratio = std::isfinite(a) ? std::fabs(a - numeric) / allowed : INFINITY;
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        result.worst_input = static_cast<int>(k);
        result.worst_index = j;
        result.analytic = a;
        result.numeric = numeric;
      }
    }
  }
  result.ok = worst_ratio <= 1.0;
  std::ostringstream os;
  os << "gradcheck " << (result.ok ? "passed" : "FAILED") << ": worst element is input "
     << result.worst_input << " [flat index " << result.worst_index << "] of "
     << describe(leaves[static_cast<size_t>(result.worst_input)])
     << ": analytic " << result.analytic << ", numeric " << result.numeric
     << " (|difference| " << std::fabs(result.analytic - result.numeric) << ", allowed "
     << options.atol + options.rtol * std::fabs(result.numeric) << ")";
  result.message = os.str();
  return result;
}

}  // namespace drift
