// gradcheck.h — check a backward formula against finite differences.
//
//   auto result = drift::gradcheck(
//       [](const std::vector<Tensor>& in) { return my_op(in[0], in[1]); },
//       {randn({3, 4}).set_requires_grad(), randn({4}).set_requires_grad()});
//   if (!result.ok) std::cout << result.message;   // names the worst element
//
// How: the output y is reduced to a scalar L = sum(y * w) with fixed random weights w (so
// every output element matters, each differently). Analytic gradients come from
// y.backward(w). Numeric gradients come from central differences at two step sizes,
//   D(h) = (L(x + h e_j) - L(x - h e_j)) / 2h      (error c h² + rounding),
// combined by Richardson extrapolation, N = D(h/2) + (D(h/2) - D(h)) / 3, whose h² term
// cancels. The allowance is not a fixed loose constant but the error N is estimated to have:
//   allowed = safety · (|D(h/2) - D(h)| / 3  +  rounding of L / h)  +  rtol · |N|  +  atol
// where the rounding of L is float32's (2^-24 per unit) times Σ |w_i y_i| over the outputs
// that the step changed (the others are bit-identical in both evaluations and cancel), and
// rtol (1e-3) covers the float32 rounding of the analytic gradient itself. So a backward
// that is 1% wrong fails, and a correct one passes. A NaN or ±inf on either side fails.
//
// float32 caveat: inputs should stay away from kinks (relu at 0, abs at 0, max ties) by
// more than h, or the difference quotient straddles the kink.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace drift {

struct GradcheckOptions {
  double eps = 1e-2;     // h, the larger of the two finite-difference steps (the other is h/2)
  double safety = 4.0;   // the allowance is this many times the estimated numeric error ...
  double rtol = 1e-3;    // ... plus this share of |numeric| ...
  double atol = 1e-6;    // ... plus this (for gradients that are 0 up to rounding)
  double rounding = 16;  // units of float32 rounding assumed per changed output of L
  uint64_t seed = 1234;  // for the output weights w
};

struct GradcheckResult {
  bool ok = true;
  std::string message;       // a one-paragraph report (worst element, both values)
  int worst_input = -1;      // which input had the worst mismatch
  std::string worst_name;    // its name ("input 0", or the name given to gradcheck_targets)
  int64_t worst_index = -1;  // flat index of that element
  double analytic = 0.0, numeric = 0.0, allowed = 0.0;
  int64_t checked = 0;  // elements compared
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

// The same check for tensors that `forward` reads from somewhere else (a module's
// parameters, say): each target must be a leaf that requires grad; its gradient is cleared,
// its values are shifted in place during the check and restored after.
GradcheckResult gradcheck_targets(const std::function<Tensor()>& forward,
                                  const std::vector<std::pair<std::string, Tensor>>& targets,
                                  const GradcheckOptions& options = {});

}  // namespace drift
