// marginal_check.h — does the jump match the walk? A numerical check of the forward process's
// closed form (Ho et al. eq. 4) against the iterated step (eq. 2), on one picture.
//
// For each t, `draws` copies of x_t come from walking t steps of eq. 2 and from one jump of
// eq. 4. If both are N(√ᾱ_t x_0, (1-ᾱ_t) I), then over all n pixels and draws
//   slope    = Σ x_0 x_t / Σ x_0²        estimates √ᾱ_t,   standard error √(1-ᾱ_t) / √(Σ x_0²)
//   variance = mean (x_t - √ᾱ_t x_0)²    estimates 1-ᾱ_t,  standard error (1-ᾱ_t) √(2/n)
// and every estimate should lie within a few standard errors of its expected value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/process/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// The estimates after `steps` noising steps (scheduler index steps - 1).
struct MarginalFit {
  int64_t steps = 0;
  double sqrt_alpha_bar = 0;              // expected slope √ᾱ_t
  double slope_walk = 0, slope_jump = 0;  // estimated from the walk and from the jump
  double one_minus_alpha_bar = 0;         // expected variance 1-ᾱ_t
  double variance_walk = 0, variance_jump = 0;
};

struct MarginalCheck {
  std::vector<MarginalFit> fits;  // one per t = 1..T
  double worst = 0;               // the largest |estimate - expected| / standard error
  double values = 0;              // n: pixels x draws behind each number

  // The fits as a table, expected value beside the walk's and the jump's estimates, for
  // t = 1, every T/4-th step and T:
  //        t   sqrt(ab)   iterated     closed  |       1-ab   iterated     closed
  //        1    0.99995    0.99987    1.00012  |    0.00010    0.00010    0.00010
  std::string table() const;
};

// x0 [1, C, H, W]. Draws, per step, first the walk's noise and then the jump's, from `generator`.
MarginalCheck check_marginals(const Tensor& x0, const NoiseScheduler& scheduler, int64_t draws,
                              Generator* generator = nullptr);

}  // namespace diffusion
}  // namespace drift
