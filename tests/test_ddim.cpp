// test_ddim.cpp — DDIM's sampler: the strided timesteps, one step against eq. 12 computed by
// hand in double, σ (eq. 16) against DDPM's posterior σ when η = 1 and every step is taken
// (and then the whole step equals DDPM's), determinism at η = 0, and an oracle that knows the
// one training picture, which every DDIM run must end at.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "diffusion/models/oracle.h"
#include "diffusion/models/toy.h"
#include "diffusion/process/schedule.h"
#include "diffusion/samplers/ddim.h"
#include "diffusion/samplers/ddpm.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;
using namespace drift::diffusion;

TEST_CASE("ddim_timesteps: evenly strided, noisiest first, ending at 0") {
  std::vector<int64_t> ts = ddim_timesteps(1000, 50);
  REQUIRE(ts.size() == 50);
  for (size_t i = 0; i < ts.size(); ++i) CHECK(ts[i] == 980 - 20 * static_cast<int64_t>(i));
  CHECK(ddim_timesteps(10, 3) == std::vector<int64_t>{6, 3, 0});  // floor(i · 10 / 3)
  std::vector<int64_t> all = ddim_timesteps(24, 24);
  REQUIRE(all.size() == 24);
  for (size_t i = 0; i < all.size(); ++i) CHECK(all[i] == 23 - static_cast<int64_t>(i));
  CHECK(ddim_timesteps(1000, 1) == std::vector<int64_t>{0});
  CHECK_THROWS_WITH_AS(ddim_timesteps(10, 11), doctest::Contains("[1, 10]"), Error);
  CHECK_THROWS_WITH_AS(ddim_timesteps(10, 0), doctest::Contains("num_steps"), Error);
}

TEST_CASE("DDIM step: eq. 12 with σ from eq. 16, computed by hand in double") {
  NoiseScheduler scheduler(1000, 1e-4, 0.02);
  // ᾱ in double from the scheduler's β, as the sampler does; the scheduler's float32 ᾱ agree.
  std::vector<double> ab;
  double product = 1.0;
  for (float beta : scheduler.betas.to_vector()) ab.push_back(product *= 1.0 - beta);
  const std::vector<float> ab_float = scheduler.alpha_bar.to_vector();
  for (size_t t = 0; t < ab.size(); ++t) REQUIRE(std::fabs(ab[t] - ab_float[t]) < 1e-6 * ab[t]);
  Generator gen(21);
  Tensor x_t = randn({2, 1, 3, 3}, Device::cpu(), &gen);
  Tensor eps = randn({2, 1, 3, 3}, Device::cpu(), &gen);
  Tensor z = randn({2, 1, 3, 3}, Device::cpu(), &gen);
  const std::vector<float> xv = x_t.to_vector(), ev = eps.to_vector(), zv = z.to_vector();
  for (auto [eta, t, t_prev] : {std::tuple<double, int64_t, int64_t>{0.5, 500, 480},
                                {0.0, 500, 480},
                                {1.0, 30, 10},
                                {0.7, 20, -1}}) {
    CAPTURE(eta);
    CAPTURE(t);
    DDIMSampler sampler(scheduler, eta);
    const double a_t = ab[static_cast<size_t>(t)];
    const double a_prev = t_prev < 0 ? 1.0 : ab[static_cast<size_t>(t_prev)];
    const double sigma = eta * std::sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev));  // eq. 16
    CHECK(sampler.sigma(t, t_prev) == doctest::Approx(sigma).epsilon(1e-12));
    std::vector<float> expected(xv.size());
    for (size_t i = 0; i < xv.size(); ++i) {
      const double x0 = (xv[i] - std::sqrt(1 - a_t) * ev[i]) / std::sqrt(a_t);
      expected[i] = static_cast<float>(
          std::sqrt(a_prev) * x0 + std::sqrt(1 - a_prev - sigma * sigma) * ev[i] + sigma * zv[i]);
    }
    Tensor got = sampler.step_with_noise(eps, t, t_prev, x_t, z);
    CHECK_CLOSE(got, from_vector(expected, x_t.shape()), 1e-5, 1e-5);
  }
  // At the end (t_prev = -1) σ = 0 and the step returns x̂_0 itself.
  DDIMSampler sampler(scheduler, 1.0);
  CHECK(sampler.sigma(20, -1) == 0.0);
  CHECK_CLOSE(sampler.step_with_noise(eps, 20, -1, x_t, z),
              scheduler.predict_x0(x_t, eps, scheduler.timesteps(2, 20)), 1e-5, 1e-5);
  CHECK_THROWS_WITH_AS(sampler.step(eps, 20, 20, x_t), doctest::Contains("t_prev"), Error);
  CHECK_THROWS_WITH_AS(sampler.step(eps, 1000, 10, x_t), doctest::Contains("timestep 1000"), Error);
  CHECK_THROWS_WITH_AS(DDIMSampler(scheduler, 1.5), doctest::Contains("eta must be in [0, 1]"),
                       Error);
}

TEST_CASE("DDIM with η = 1 over every timestep is DDPM: σ² = β̃_t, and the same step") {
  NoiseScheduler scheduler(1000, 1e-4, 0.02);
  DDIMSampler ddim(scheduler, 1.0);
  DDPMSampler ddpm(scheduler);
  const std::vector<float> posterior = scheduler.posterior_variance.to_vector();
  double worst = 0;
  for (int64_t t = 0; t < 1000; ++t) {
    const double s = ddim.sigma(t, t - 1);
    worst = std::max(worst, std::fabs(s * s - posterior[static_cast<size_t>(t)]) /
                                (1e-12 + posterior[static_cast<size_t>(t)]));
  }
  CHECK(worst < 1e-5);  // β̃ was computed in double too, then stored as float32
  CHECK(ddim.sigma(0, -1) == 0.0);
  CHECK(DDIMSampler(scheduler, 0.5).sigma(400, 399) ==
        doctest::Approx(0.5 * std::sqrt(posterior[400])).epsilon(1e-4));
  // The whole step: DDIM's mean √ᾱ_prev x̂_0 + √(1−ᾱ_prev−β̃) ε̂ is DDPM's μ_θ (eq. 11).
  Generator gen(8);
  Tensor x_t = randn({3, 1, 4, 4}, Device::cpu(), &gen),
         eps = randn({3, 1, 4, 4}, Device::cpu(), &gen);
  Tensor z = randn({3, 1, 4, 4}, Device::cpu(), &gen);
  for (int64_t t : {999, 500, 10, 1}) {
    CAPTURE(t);
    CHECK_CLOSE(ddim.step_with_noise(eps, t, t - 1, x_t, z),
                ddpm.step_with_noise(eps, scheduler.timesteps(3, t), x_t, z), 2e-4, 2e-4);
  }
}

TEST_CASE("DDIM with η = 0 is deterministic: the generator is not even used") {
  NoiseScheduler scheduler(100, 1e-4, 0.02);
  DDIMSampler sampler(scheduler, 0.0);
  Tensor x_t = randn({2, 1, 3, 3}), eps = randn({2, 1, 3, 3});
  Generator a(1), b(2);
  CHECK(max(abs(sampler.step(eps, 50, 40, x_t, &a) - sampler.step(eps, 50, 40, x_t, &b))).item() ==
        0.0f);
  CHECK(a.offset() == 0);  // nothing drawn
  // η > 0 does draw: other generators, other results.
  DDIMSampler noisy(scheduler, 0.5);
  CHECK(max(abs(noisy.step(eps, 50, 40, x_t, &a) - noisy.step(eps, 50, 40, x_t, &b))).item() >
        0.0f);
  // A whole run: x_T from the generator, then nothing random.
  manual_seed(7);
  ToyModel model(1, 4);
  Generator c(5), d(5);
  Tensor first = ddim_sample(model, scheduler, {2, 1, 5, 5}, 10, 0.0, &c);
  Tensor again = ddim_sample(model, scheduler, {2, 1, 5, 5}, 10, 0.0, &d);
  CHECK(max(abs(first - again)).item() == 0.0f);
  CHECK(c.offset() == d.offset());
  CHECK_FALSE(first.requires_grad());
  CHECK_THROWS_WITH_AS(ddim_sample(model, scheduler, {1, 5, 5}, 10),
                       doctest::Contains("[N, C, H, W]"), Error);
}

TEST_CASE("ddim_sample with an oracle ends exactly at the training picture, any η and steps") {
  NoiseScheduler scheduler(1000, 1e-4, 0.02);
  OracleNoisePredictor oracle(randn({1, 2, 4, 4}), scheduler);
  for (auto [eta, steps] : {std::pair<double, int64_t>{0.0, 50}, {1.0, 50}, {0.5, 7}, {0.0, 1}}) {
    CAPTURE(eta);
    CAPTURE(steps);
    oracle.calls = 0;
    std::vector<int64_t> levels;
    Generator gen(3);
    Tensor x = ddim_sample(oracle, scheduler, {5, 2, 4, 4}, steps, eta, &gen,
                           [&](int64_t level, const Tensor& xt) {
                             levels.push_back(level);
                             CHECK(xt.shape() == Shape{5, 2, 4, 4});
                           });
    CHECK(oracle.calls == steps);
    REQUIRE(levels.size() == static_cast<size_t>(steps + 1));
    CHECK(levels.front() == 1000);
    CHECK(levels.back() == 0);
    if (steps == 50) CHECK(levels[1] == 961);  // after the step 980 -> 960: ᾱ[960]'s noise
    // The oracle's ε is exact, so x̂_0 = x0 at every step and the last step returns it.
    CHECK_CLOSE(x, oracle.x0 * ones({5, 1, 1, 1}), 1e-4, 1e-4);
  }
}
