// gaussian_mixture.cpp — the noised mixture's density and score (see gaussian_mixture.h).
#include "diffusion/process/gaussian_mixture.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace drift {
namespace diffusion {

namespace {

constexpr double kPi = 3.14159265358979323846;

void check_points(const Tensor& x, double alpha_bar, const char* op) {
  DRIFT_CHECK(x.defined() && x.ndim() == 2 && x.size(1) == 2,
              op << ": expected points [n, 2], got " << (x.defined() ? describe(x) : "undefined"));
  DRIFT_CHECK(alpha_bar > 0.0 && alpha_bar <= 1.0,
              op << ": alpha_bar must be in (0, 1], got " << alpha_bar);
}

// log(w_k N(x; √ᾱ μ_k, c_k I)) for each component, and c_k: the pieces of both outputs.
struct Terms {
  std::vector<double> log_weighted, variance;
};

Terms terms(const GaussianMixture2D& m, double px, double py, double alpha_bar) {
  double total_weight = 0.0;
  for (const auto& c : m.components) total_weight += c.weight;
  Terms out;
  const double a = std::sqrt(alpha_bar);
  for (const auto& c : m.components) {
    const double var = alpha_bar * c.std * c.std + 1.0 - alpha_bar;  // c_k = ᾱ σ_k² + 1 − ᾱ
    const double dx = px - a * c.mean_x, dy = py - a * c.mean_y;
    // log N(x; √ᾱ μ_k, c_k I) in 2-D = −|x − √ᾱ μ_k|² / (2 c_k) − log(2π c_k)
    out.log_weighted.push_back(std::log(c.weight / total_weight) - (dx * dx + dy * dy) / (2 * var) -
                               std::log(2 * kPi * var));
    out.variance.push_back(var);
  }
  return out;
}

double log_sum_exp(const std::vector<double>& v) {
  const double top = *std::max_element(v.begin(), v.end());
  double sum = 0.0;
  for (double x : v) sum += std::exp(x - top);
  return top + std::log(sum);
}

}  // namespace

GaussianMixture2D GaussianMixture2D::ring(int count, double radius, double std) {
  DRIFT_CHECK(count >= 1 && radius >= 0.0 && std > 0.0,
              "GaussianMixture2D::ring: need count >= 1, radius >= 0, std > 0");
  GaussianMixture2D m;
  for (int k = 0; k < count; ++k) {
    const double angle = 2 * kPi * k / count;
    m.components.push_back({1.0, radius * std::cos(angle), radius * std::sin(angle), std});
  }
  return m;
}

Tensor GaussianMixture2D::sample(int64_t n, Generator* generator) const {
  DRIFT_CHECK(!components.empty(), "GaussianMixture2D::sample: no components");
  DRIFT_CHECK(n >= 1, "GaussianMixture2D::sample: n must be at least 1, got " << n);
  std::vector<double> cumulative;
  double total = 0.0;
  for (const auto& c : components) {
    DRIFT_CHECK(c.weight > 0.0 && c.std > 0.0,
                "GaussianMixture2D: every weight and std must be positive");
    cumulative.push_back(total += c.weight);
  }
  const std::vector<float> pick = rand({n}, Device::cpu(), generator).to_vector();   // U[0, 1)
  const std::vector<float> z = randn({n, 2}, Device::cpu(), generator).to_vector();  // N(0, I)
  std::vector<float> out(static_cast<size_t>(2 * n));
  for (int64_t i = 0; i < n; ++i) {
    const double u = pick[size_t(i)] * total;
    size_t k = std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin();
    k = std::min(k, components.size() - 1);
    const Component& c = components[k];
    out[size_t(2 * i)] = float(c.mean_x + c.std * z[size_t(2 * i)]);  // μ_k + σ_k z
    out[size_t(2 * i + 1)] = float(c.mean_y + c.std * z[size_t(2 * i + 1)]);
  }
  return from_vector(out, {n, 2});
}

Tensor GaussianMixture2D::score(const Tensor& x, double alpha_bar) const {
  check_points(x, alpha_bar, "GaussianMixture2D::score");
  const std::vector<float> p = x.to_vector();
  const double a = std::sqrt(alpha_bar);
  std::vector<float> out(p.size());
  for (size_t i = 0; i < p.size(); i += 2) {
    const Terms t = terms(*this, p[i], p[i + 1], alpha_bar);
    const double log_q = log_sum_exp(t.log_weighted);
    double gx = 0.0, gy = 0.0;
    for (size_t k = 0; k < components.size(); ++k) {
      const double r = std::exp(t.log_weighted[k] - log_q);         // responsibility r_k(x)
      gx += r * (a * components[k].mean_x - p[i]) / t.variance[k];  // r_k (√ᾱ μ_k − x) / c_k
      gy += r * (a * components[k].mean_y - p[i + 1]) / t.variance[k];
    }
    out[i] = float(gx);
    out[i + 1] = float(gy);
  }
  return from_vector(out, x.shape());
}

Tensor GaussianMixture2D::log_density(const Tensor& x, double alpha_bar) const {
  check_points(x, alpha_bar, "GaussianMixture2D::log_density");
  const std::vector<float> p = x.to_vector();
  std::vector<float> out(p.size() / 2);
  for (size_t i = 0; i < p.size(); i += 2)
    out[i / 2] = float(log_sum_exp(terms(*this, p[i], p[i + 1], alpha_bar).log_weighted));
  return from_vector(out, {x.size(0)});
}

}  // namespace diffusion
}  // namespace drift
