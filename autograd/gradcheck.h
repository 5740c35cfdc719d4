// gradcheck.h — check a backward formula against finite differences.
//
//   auto result = drift::gradcheck(
//       [](const std::vector<Tensor>& in) { return my_op(in[0], in[1]); },
//       {randn({3, 4}).set_requires_grad(), randn({4}).set_requires_grad()});
//   if (!result.ok) std::cout << result.message;   // names the worst element
//
// How: the output y is reduced to a scalar L = sum(y * w) with fixed random weights w (so
// every output element matters, each differently). Analytic gradients come from
// y.backward(w). Numeric gradients come from central differences,
//   dL/dx_j ~ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps),
// with L summed in double on the host. They must agree within atol + rtol * |numeric| at
// every element of every input that has requires_grad set.
//
// float32 caveats: eps cannot be tiny (rounding in y swamps the difference), and inputs
// should stay away from kinks (relu at 0, abs at 0, max ties) by more than eps.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace drift {

struct GradcheckOptions {
  double eps = 1e-2;   // finite-difference step
  double atol = 2e-3;  // absolute tolerance
  double rtol = 1e-2;  // relative tolerance
  uint64_t seed = 1234;  // for the output weights w
};

struct GradcheckResult {
  bool ok = true;
  std::string message;       // a one-paragraph report (worst element, both values)
  int worst_input = -1;      // which input had the worst mismatch
  int64_t worst_index = -1;  // flat index of that element
  double analytic = 0.0, numeric = 0.0;
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace drift
