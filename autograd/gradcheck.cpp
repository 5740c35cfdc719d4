// gradcheck.cpp — the finite-difference check of gradcheck.h.
#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace drift {

namespace {

// L(x + shift e_j) - L(x - shift e_j) for the plus and minus evaluations' outputs, and the
// rounding that difference may carry: only outputs that differ between the two contribute.
struct Difference {
  double value = 0.0, rounding = 0.0;
};
Difference difference(const std::vector<float>& plus, const std::vector<float>& minus,
                      const std::vector<float>& w, double units) {
  Difference d;
  constexpr double kUnit = 5.9604644775390625e-8;  // 2^-24, float32's unit roundoff
  for (size_t i = 0; i < plus.size(); ++i) {
    if (plus[i] == minus[i]) continue;  // bit-identical: cancels exactly
    d.value += (double(plus[i]) - double(minus[i])) * w[i];
    d.rounding += units * kUnit * std::fabs(double(w[i])) *
                  (std::fabs(double(plus[i])) + std::fabs(double(minus[i])));
  }
  return d;
}

}  // namespace

GradcheckResult gradcheck_targets(const std::function<Tensor()>& forward,
                                  const std::vector<std::pair<std::string, Tensor>>& targets,
                                  const GradcheckOptions& options) {
  DRIFT_CHECK(!targets.empty(),
              "gradcheck: no input has requires_grad set, so there is "
              "nothing to check");
  for (const auto& [name, t] : targets) {
    DRIFT_CHECK(t.defined() && t.is_leaf() && t.requires_grad(),
                "gradcheck: " << name << " must be a leaf tensor with requires_grad set");
    Tensor(t).zero_grad();
  }
  Tensor y = forward();
  DRIFT_CHECK(y.defined() && y.requires_grad(),
              "gradcheck: the function's output does not depend on any input with "
              "requires_grad");
  Generator gen(options.seed);
  const Tensor w = randn(y.shape(), y.device(), &gen);
  const std::vector<float> weights = w.to_vector();
  y.backward(w);

  GradcheckResult result;
  double worst_ratio = -1.0;
  const double h = options.eps;
  for (size_t k = 0; k < targets.size(); ++k) {
    Tensor target = targets[k].second;
    const Tensor grad = target.grad();
    const std::vector<float> analytic =
        grad.defined() ? grad.to_vector() : std::vector<float>(size_t(target.numel()), 0.0f);
    std::vector<float> values = target.to_vector();
    for (int64_t j = 0; j < target.numel(); ++j) {
      const float original = values[size_t(j)];
      auto outputs_at = [&](double shift) {
        values[size_t(j)] = static_cast<float>(original + shift);
        target.copy_(from_vector(values, target.shape()));
        NoGradGuard no_grad;
        return forward().to_vector();
      };
      // D(step): the central difference with the step actually taken (x ± step rounded to
      // float), and its rounding error bound.
      auto central = [&](double step, double& rounding) {
        const double up = double(static_cast<float>(original + step)) - original;
        const double down = double(static_cast<float>(original - step)) - original;
        const Difference d =
            difference(outputs_at(step), outputs_at(-step), weights, options.rounding);
        rounding = d.rounding / (up - down);
        return d.value / (up - down);
      };
      double rounding_h = 0, rounding_half = 0;
      const double d_h = central(h, rounding_h), d_half = central(h / 2, rounding_half);
      values[size_t(j)] = original;
      target.copy_(from_vector(values, target.shape()));

      const double numeric = d_half + (d_half - d_h) / 3.0;  // Richardson: the h² term cancels
      // Richardson's error: what is left of the truncation, plus rounding (4/3 of D(h/2)'s and
      // 1/3 of D(h)'s).
      const double error = std::fabs(d_half - d_h) / 3.0 + (4.0 * rounding_half + rounding_h) / 3.0;
      const double allowed =
          options.safety * error + options.rtol * std::fabs(numeric) + options.atol;
      const double a = analytic[size_t(j)];
      const double diff = std::fabs(a - numeric);
      // NaN or inf on either side can never agree; a difference of exactly 0 always does.
      const double ratio = !std::isfinite(a) || !std::isfinite(numeric) ? INFINITY
                           : diff == 0.0                                ? 0.0
                                                                        : diff / allowed;
      ++result.checked;
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        result.worst_input = static_cast<int>(k);
        result.worst_name = targets[k].first;
        result.worst_index = j;
        result.analytic = a;
        result.numeric = numeric;
        result.allowed = allowed;
      }
    }
  }
  std::ostringstream os;
  if (result.checked == 0) {
    result.ok = false;
    os << "gradcheck FAILED: the inputs that require grad have no elements to check";
  } else {
    result.ok = worst_ratio <= 1.0;
    os << "gradcheck " << (result.ok ? "passed" : "FAILED") << " (" << result.checked
       << " elements): worst element is " << result.worst_name << " [flat index "
       << result.worst_index << "] of " << describe(targets[size_t(result.worst_input)].second)
       << ": analytic " << result.analytic << ", numeric " << result.numeric << " (|difference| "
       << std::fabs(result.analytic - result.numeric) << ", allowed " << result.allowed << ")";
  }
  result.message = os.str();
  return result;
}

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  // Fresh leaves, so the caller's tensors are never modified and never receive gradients.
  std::vector<Tensor> leaves;
  std::vector<std::pair<std::string, Tensor>> targets;
  std::vector<int> input_of_target;  // the checked inputs' positions among all inputs
  for (size_t k = 0; k < inputs.size(); ++k) {
    DRIFT_CHECK(inputs[k].defined(), "gradcheck: input " << k << " is undefined");
    Tensor leaf = inputs[k].detach().clone();
    leaf.set_requires_grad(inputs[k].requires_grad());
    leaves.push_back(leaf);
    if (leaf.requires_grad()) {
      targets.emplace_back("input " + std::to_string(k), leaf);
      input_of_target.push_back(static_cast<int>(k));
    }
  }
  GradcheckResult result = gradcheck_targets([&] { return fn(leaves); }, targets, options);
  // worst_input counts all inputs, not only the checked ones
  if (result.worst_input >= 0) result.worst_input = input_of_target[size_t(result.worst_input)];
  return result;
}

}  // namespace drift
