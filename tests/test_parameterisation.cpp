// test_parameterisation.cpp — chapter 8's library: the prediction targets ε, x_0, v and the
// mean with the identities between them (against values computed by hand in double), the
// loss for each target, a network of any target driving the ε-samplers, the score of a
// Gaussian mixture against its own finite differences, DDIM's timestep spacings (the
// off-by-one traps) and DDIM inversion's round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "diffusion/models/noise_predictor.h"
#include "diffusion/models/point_mlp.h"
#include "diffusion/objectives/ddpm_loss.h"
#include "diffusion/objectives/parameterisation.h"
#include "diffusion/process/gaussian_mixture.h"
#include "diffusion/process/schedule.h"
#include "diffusion/samplers/ddim.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

const Prediction kAll[] = {Prediction::Eps, Prediction::X0, Prediction::V, Prediction::Mean};

// A network that knows the one training picture and answers in any parameterisation.
class OracleOf : public NoisePredictor {
 public:
  OracleOf(Tensor x0, const NoiseScheduler& s, Prediction p) : x0_(std::move(x0)), s_(s), p_(p) {}
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override {
    Tensor x0 = x0_ + x_t * 0.0f;  // one copy per sample
    Tensor eps = eps_from_x0(s_, x_t, x0, t);
    return prediction_target(s_, p_, x0, eps, x_t, t);
  }

 private:
  Tensor x0_;
  const NoiseScheduler& s_;
  Prediction p_;
};

// A smooth deterministic "network": ε̂ = 0.5 tanh(x) + 0.1 (1 − t/T). Enough for inversion.
class Smooth : public NoisePredictor {
 public:
  using NoisePredictor::forward;
  Tensor forward(const Tensor& x_t, const Tensor& t) override {
    return tanh(x_t) * 0.5f + (1.0f - reshape(t, {t.size(0), 1, 1, 1}) / 1000.0f) * 0.1f;
  }
};

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0.0;
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(double(x[i]) - double(y[i])));
  return m;
}

}  // namespace

TEST_CASE("parameterisation: names round-trip, unknown names say the choices") {
  for (Prediction p : kAll) CHECK(parse_prediction(prediction_name(p)) == p);
  CHECK_THROWS_WITH_AS(parse_prediction("score"), doctest::Contains("eps, x0, v or mean"), Error);
}

TEST_CASE("parameterisation: each identity against a value computed by hand in double") {
  NoiseScheduler s(1000, 1e-4, 0.02);
  const int64_t t0 = 300;
  const std::vector<float> ab = s.alpha_bar.to_vector(), beta = s.betas.to_vector();
  const double a = std::sqrt(double(ab[t0])), sd = std::sqrt(1.0 - double(ab[t0]));
  const double b = beta[t0], sqrt_alpha = std::sqrt(1.0 - b);
  const double x0 = 0.5, eps = -1.2, x_t = a * x0 + sd * eps;  // eq. 4
  Tensor t = s.timesteps(1, t0);
  auto one = [](double v) { return from_vector({float(v)}, {1, 1, 1, 1}); };
  auto value = [](const Tensor& v) { return double(v.to_vector()[0]); };
  CHECK(value(x0_from_eps(s, one(x_t), one(eps), t)) == doctest::Approx(x0).epsilon(1e-5));
  CHECK(value(eps_from_x0(s, one(x_t), one(x0), t)) == doctest::Approx(eps).epsilon(1e-5));
  const double v = a * eps - sd * x0;  // Salimans & Ho's v
  CHECK(value(v_from_x0_eps(s, one(x0), one(eps), t)) == doctest::Approx(v).epsilon(1e-5));
  CHECK(value(x0_from_v(s, one(x_t), one(v), t)) == doctest::Approx(x0).epsilon(1e-5));
  CHECK(value(eps_from_v(s, one(x_t), one(v), t)) == doctest::Approx(eps).epsilon(1e-5));
  const double mean = (x_t - b / sd * eps) / sqrt_alpha;  // eq. 11
  CHECK(value(eps_from_mean(s, one(x_t), one(mean), t)) == doctest::Approx(eps).epsilon(1e-4));
  CHECK(value(score_from_eps(s, one(eps), t)) == doctest::Approx(-eps / sd).epsilon(1e-5));
  // The mean target is the posterior mean (eq. 7), and it agrees with eq. 11's form.
  CHECK(value(prediction_target(s, Prediction::Mean, one(x0), one(eps), one(x_t), t)) ==
        doctest::Approx(mean).epsilon(1e-4));
}

TEST_CASE("parameterisation: every target read back as ε gives the noise, at every noise level") {
  NoiseScheduler s(1000, 1e-4, 0.02);
  Generator gen(8);
  Tensor x0 = rand({6, 1, 3, 3}, Device::cpu(), &gen) * 2.0f - 1.0f;
  Tensor eps = randn({6, 1, 3, 3}, Device::cpu(), &gen);
  Tensor t = from_vector({0, 1, 10, 300, 900, 999}, {6});
  Tensor x_t = s.add_noise(x0, eps, t);
  for (Prediction p : kAll) {
    CAPTURE(prediction_name(p));
    Tensor target = prediction_target(s, p, x0, eps, x_t, t);
    // mean → ε multiplies by s/β (100 at t = 0): float32 rounding of μ̃ comes back 100x larger
    const double tol = p == Prediction::Mean ? 2e-3 : 2e-4;
    CHECK(max_abs_diff(eps_from_prediction(s, p, target, x_t, t), eps) < tol);
  }
  CHECK_THROWS_WITH_AS(eps_from_prediction(s, Prediction::V, reshape(eps, {6, 9}), x_t, t),
                       doctest::Contains("eps_from_prediction"), Error);
}

TEST_CASE("diffusion_loss: with ε it is ddpm_loss, the same draws; with x0 its own target") {
  NoiseScheduler s(50, 1e-4, 0.2);
  Smooth model;
  Generator g1(3), g2(3);
  Tensor x0 = from_vector(std::vector<float>(2 * 16, 0.25f), {2, 1, 4, 4});
  Tensor a = diffusion_loss(model, s, x0, Prediction::Eps, &g1);
  Tensor b = ddpm_loss(model, s, x0, &g2);
  CHECK(a.item() == b.item());
  // By hand for x0: redraw ε and t with the same seed, as diffusion_loss does.
  Generator g3(3), g4(3);
  Tensor eps = randn(x0.shape(), Device::cpu(), &g3);
  Tensor t = s.sample_timesteps(2, &g3);
  Tensor out = model.forward(s.add_noise(x0, eps, t), t);
  CHECK(diffusion_loss(model, s, x0, Prediction::X0, &g4).item() ==
        doctest::Approx(mse_loss(out, x0).item()).epsilon(1e-6));
}

TEST_CASE("EpsFromPrediction: an oracle of any target drives DDIM to the training picture") {
  NoiseScheduler s(200, 1e-4, 0.05);
  Generator gen(4);
  Tensor picture = rand({1, 1, 4, 4}, Device::cpu(), &gen) * 2.0f - 1.0f;
  for (Prediction p : kAll) {
    CAPTURE(prediction_name(p));
    OracleOf oracle(picture, s, p);
    EpsFromPrediction eps_model(oracle, s, p);
    Tensor x = DDIMSampler(s, 0.0).sample(eps_model, {2, 1, 4, 4}, 20, &gen);
    CHECK(max_abs_diff(x, picture + x * 0.0f) < (p == Prediction::Mean ? 1e-2 : 1e-3));
  }
}

TEST_CASE("GaussianMixture2D: the closed-form score is the gradient of the closed-form density") {
  GaussianMixture2D m = GaussianMixture2D::ring(8, 2.0, 0.15);
  Generator gen(5);
  Tensor x = randn({20, 2}, Device::cpu(), &gen) * 2.0f;
  for (double ab : {1.0, 0.5, 0.05}) {
    CAPTURE(ab);
    const std::vector<float> p = x.to_vector(), g = m.score(x, ab).to_vector();
    const float h = 1e-3f;
    for (size_t i = 0; i < p.size(); ++i) {
      std::vector<float> plus = p, minus = p;
      plus[i] += h;
      minus[i] -= h;
      const size_t point = i / 2;
      const double lp = m.log_density(from_vector(plus, {20, 2}), ab).to_vector()[point];
      const double lm = m.log_density(from_vector(minus, {20, 2}), ab).to_vector()[point];
      CHECK(g[i] == doctest::Approx((lp - lm) / (2 * h)).epsilon(2e-2).scale(1.0));
    }
  }
  // One standard Gaussian component: q_t = N(0, I) at every ᾱ, score −x.
  GaussianMixture2D single{{{1.0, 0.0, 0.0, 1.0}}};
  CHECK_CLOSE(single.score(x, 0.3), -x, 1e-5, 1e-5);
  // Samples land on the ring: radius 2 ± a few σ.
  const std::vector<float> pts = m.sample(500, &gen).to_vector();
  for (size_t i = 0; i < pts.size(); i += 2)
    CHECK(std::fabs(std::hypot(pts[i], pts[i + 1]) - 2.0) < 0.8);
  CHECK_THROWS_WITH_AS(m.score(reshape(x, {40}), 0.5), doctest::Contains("[n, 2]"), Error);
}

TEST_CASE("ddim_timesteps: the four spacings, and the traps they set") {
  using TS = TimestepSpacing;
  for (TS sp : {TS::Leading, TS::Trailing, TS::Linspace, TS::Quadratic})
    CHECK(parse_timestep_spacing(timestep_spacing_name(sp)) == sp);
  CHECK_THROWS_WITH_AS(parse_timestep_spacing("even"), doctest::Contains("trailing"), Error);
  // Leading (the default): never visits t = T-1 — x_T is handed to the model as x_980.
  std::vector<int64_t> lead = ddim_timesteps(1000, 50, TS::Leading);
  CHECK(lead.front() == 980);
  CHECK(lead.back() == 0);
  CHECK(ddim_timesteps(1000, 50) == lead);
  // Trailing: starts at T-1, ends at T/S - 1 = 19 (the last step jumps from 19 to x_0).
  std::vector<int64_t> trail = ddim_timesteps(1000, 50, TS::Trailing);
  CHECK(trail.front() == 999);
  CHECK(trail[1] == 979);
  CHECK(trail.back() == 19);
  CHECK(ddim_timesteps(10, 3, TS::Trailing) ==
        std::vector<int64_t>{9, 6, 2});  // round(10, 6.67, 3.33) - 1
  // Linspace: both ends, uneven gaps.
  CHECK(ddim_timesteps(10, 4, TS::Linspace) == std::vector<int64_t>{9, 6, 3, 0});
  CHECK(ddim_timesteps(1000, 50, TS::Linspace).front() == 999);
  CHECK(ddim_timesteps(1000, 1, TS::Linspace) == std::vector<int64_t>{0});
  // Quadratic: the DDIM code's floor(linspace(0, √800, 50)²) starts 0, 0, 1, 3, ... — here a
  // repeat moves up one, so the first steps are 0, 1, 2, 3 and the largest is floor(800) = 800.
  std::vector<int64_t> quad = ddim_timesteps(1000, 50, TS::Quadratic);
  CHECK(quad.front() == 800);
  CHECK(std::vector<int64_t>(quad.end() - 4, quad.end()) == std::vector<int64_t>{3, 2, 1, 0});
  for (TS sp : {TS::Leading, TS::Trailing, TS::Linspace, TS::Quadratic})
    for (int64_t S : {1, 7, 50, 200}) {
      std::vector<int64_t> ts = ddim_timesteps(1000, S, sp);
      REQUIRE(ts.size() == size_t(S));
      for (size_t i = 0; i + 1 < ts.size(); ++i) CHECK(ts[i] > ts[i + 1]);
      CHECK(ts.front() < 1000);
      CHECK(ts.back() >= 0);
    }
  // Every step count fits: t_i <= max(0.8 T, i) < T. All T steps are all the timesteps.
  std::vector<int64_t> every = ddim_timesteps(1000, 1000, TS::Quadratic);
  CHECK(every.front() == 999);
  CHECK(every.back() == 0);
}

TEST_CASE(
    "DDIM inversion: x_0 → x_T → x_0 comes back, the error first order in the step; η = 0 only") {
  NoiseScheduler s(1000, 1e-4, 0.02);
  Smooth model;
  Generator gen(6);
  Tensor x0 = rand({2, 1, 4, 4}, Device::cpu(), &gen) * 2.0f - 1.0f;
  DDIMSampler sampler(s, 0.0);
  double previous = 1e9;
  for (int64_t steps : {10, 50, 250, 1000}) {
    CAPTURE(steps);
    const std::vector<int64_t> ts = ddim_timesteps(1000, steps);
    Tensor x_T = sampler.invert(model, x0, ts);
    CHECK(max_abs_diff(x_T, x0) > 0.1);  // it went somewhere
    const double error = max_abs_diff(sampler.sample_from(model, x_T, ts), x0);
    // First order, like Euler's method: 4-5x the steps, 4-5x less error (measured: 1.01,
    // 0.207, 0.0398, 0.0098 for 10, 50, 250, 1000 steps).
    CHECK(error < previous / 3);
    previous = error;
  }
  CHECK(previous < 0.02);
  // One upward step by hand: from x_0 (level -1, ᾱ = 1) to level 0, ε̂ = ε_θ(x_0, 0).
  const std::vector<float> ab = s.alpha_bar.to_vector();
  Tensor e = model.forward(x0, s.timesteps(2, 0));
  Tensor by_hand = x0 * float(std::sqrt(double(ab[0]))) + e * float(std::sqrt(1.0 - ab[0]));
  CHECK_CLOSE(sampler.invert(model, x0, {0}), by_hand, 1e-6, 1e-6);
  CHECK_THROWS_WITH_AS(DDIMSampler(s, 0.5).invert(model, x0, ddim_timesteps(1000, 10)),
                       doctest::Contains("eta 0"), Error);
}

TEST_CASE("PointMLP: shapes and errors; trained for seconds, its score follows the mixture's") {
  Generator gen(11);
  PointMLP model(64, 2, 16, &gen);
  NoiseScheduler s(1000, 1e-4, 0.02);
  CHECK(model.forward(randn({5, 2}, Device::cpu(), &gen), s.timesteps(5, 10)).shape() ==
        Shape{5, 2});
  CHECK_THROWS_WITH_AS(model.forward(randn({5, 3}, Device::cpu(), &gen), s.timesteps(5, 10)),
                       doctest::Contains("[B, 2]"), Error);
  GaussianMixture2D data = GaussianMixture2D::ring(4, 2.0, 0.3);
  nn::Adam adam(model.parameters(), 3e-3);
  for (int step = 0; step < 600; ++step) {
    adam.zero_grad();
    Tensor loss = diffusion_loss(model, s, data.sample(256, &gen), Prediction::Eps, &gen);
    loss.backward();
    adam.step();
  }
  // At a middle noise level the learned score −ε̂/√(1−ᾱ) points where the true one does.
  const int64_t t0 = 300;
  const double ab = s.alpha_bar.to_vector()[t0];
  Tensor x = data.sample(200, &gen) * float(std::sqrt(ab)) +
             randn({200, 2}, Device::cpu(), &gen) * float(std::sqrt(1 - ab));
  Tensor learned = score_from_eps(s, model.forward(x, s.timesteps(200, t0)), s.timesteps(200, t0));
  const std::vector<float> l = learned.to_vector(), truth = data.score(x, ab).to_vector();
  double dot = 0, ll = 0, tt = 0;
  for (size_t i = 0; i < l.size(); ++i)
    dot += l[i] * truth[i], ll += l[i] * l[i], tt += truth[i] * truth[i];
  CHECK(dot / std::sqrt(ll * tt) > 0.95);  // cosine similarity of the two fields (0.993 seen)
}
