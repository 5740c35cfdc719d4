// gaussian_mixture.h — a data distribution whose noised versions are known in closed form:
// a mixture of K isotropic Gaussians in the plane, the 2-D toy of chapter 8's score lesson.
//
// If x_0 ~ Σ_k w_k N(μ_k, σ_k² I), then x_t = √ᾱ x_0 + √(1−ᾱ) ε (eq. 4) is again a mixture:
//
//   q_t(x) = Σ_k w_k N(x; √ᾱ μ_k, c_k I),    c_k = ᾱ σ_k² + 1 − ᾱ
//
// and its score, the direction in which the noised density rises fastest, is
//
//   ∇ log q_t(x) = Σ_k r_k(x) · (√ᾱ μ_k − x) / c_k,   r_k(x) = w_k N_k(x) / Σ_j w_j N_j(x)
//
// (the responsibilities r_k: how much component k explains the point). A network that
// predicts the noise perfectly predicts ε̂(x, t) = −√(1−ᾱ) ∇ log q_t(x) (Vincent 2011; the
// score view of parameterisation.h), so the learned field can be drawn against this one.
// Computed in double, on the CPU, point by point: a reference, not a kernel.
#pragma once

#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

struct GaussianMixture2D {
  struct Component {
    double weight, mean_x, mean_y, std;  // weights need not sum to 1 (they are normalised)
  };
  std::vector<Component> components;

  // Eight Gaussians on a circle of radius 2, σ = 0.15: the classic 2-D test of a score model.
  static GaussianMixture2D ring(int count = 8, double radius = 2.0, double std = 0.15);

  // n points x_0 [n, 2] (float32, CPU) drawn from the mixture.
  Tensor sample(int64_t n, Generator* generator = nullptr) const;
  // ∇ log q_t at each point of x [n, 2], for the noise level ᾱ (1 = the data itself).
  Tensor score(const Tensor& x, double alpha_bar) const;
  // log q_t at each point, [n].
  Tensor log_density(const Tensor& x, double alpha_bar) const;
};

}  // namespace diffusion
}  // namespace drift
