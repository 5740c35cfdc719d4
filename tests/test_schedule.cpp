// test_schedule.cpp — beta schedules, the NoiseScheduler's constants, select(), q_sample, the
// posterior and the reverse step, against PyTorch (tests/fixtures/gen_diffusion.py) and
// against direct computations and statistics.
#include <doctest/doctest.h>

#include <cmath>

#include "diffusion/figures/schedule_figures.h"
#include "diffusion/metrics/marginal_check.h"
#include "diffusion/process/schedule.h"
#include "diffusion/samplers/ddpm.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

const Tensor& expected(const std::string& name) {
  return test::fixture("diffusion").at(name);
}

}  // namespace

TEST_CASE("beta schedules match the PyTorch definitions") {
  SUBCASE("linear 1e-4 -> 0.02, T = 1000") {
    CHECK_CLOSE(linear_beta_schedule(1000, 1e-4, 0.02), expected("schedule.linear.T1000"), 1e-9,
                1e-6);
  }
  SUBCASE("linear 1e-4 -> 0.6, T = 24 (the toy chapters)") {
    CHECK_CLOSE(linear_beta_schedule(24, 1e-4, 0.6), expected("schedule.linear.T24"), 1e-9, 1e-6);
  }
  SUBCASE("cosine s = 0.008, clipped to 0.999") {
    Tensor betas = cosine_beta_schedule(1000);
    CHECK_CLOSE(betas, expected("schedule.cosine.T1000"), 1e-9, 1e-5);
    CHECK(betas.to_vector().back() == doctest::Approx(0.999));  // the clip is active at t = T-1
    CHECK_CLOSE(cosine_beta_schedule(10), expected("schedule.cosine.T10"), 1e-9, 1e-5);
  }
  SUBCASE("quadratic") {
    CHECK_CLOSE(quadratic_beta_schedule(1000, 1e-4, 0.02), expected("schedule.quadratic.T1000"),
                1e-9, 1e-6);
  }
  SUBCASE("sigmoid") {
    CHECK_CLOSE(sigmoid_beta_schedule(1000, 1e-4, 0.02), expected("schedule.sigmoid.T1000"), 1e-9,
                1e-6);
  }
  SUBCASE("by name") {
    for (const char* name : {"linear", "cosine", "quadratic", "sigmoid"}) {
      BetaSchedule s = parse_beta_schedule(name);
      CHECK(std::string(beta_schedule_name(s)) == name);
      CHECK_CLOSE(make_beta_schedule(s, 1000), expected(std::string("schedule.") + name + ".T1000"),
                  1e-9, 1e-5);
    }
    CHECK_THROWS_WITH_AS(parse_beta_schedule("cosin"),
                         doctest::Contains("unknown schedule 'cosin'"), Error);
  }
  SUBCASE("bad arguments") {
    CHECK_THROWS_WITH_AS(linear_beta_schedule(0), doctest::Contains("steps must be at least 1"),
                         Error);
    CHECK_THROWS_WITH_AS(linear_beta_schedule(10, 0.1, 1.5), doctest::Contains("(0, 1)"), Error);
  }
}

TEST_CASE("NoiseScheduler constants match PyTorch") {
  struct Case {
    const char* label;
    NoiseScheduler scheduler;
  };
  Case cases[] = {{"linear1000", NoiseScheduler(1000, 1e-4, 0.02)},
                  {"cosine1000", NoiseScheduler(1000, 1e-4, 0.02, BetaSchedule::Cosine)},
                  {"toy24", NoiseScheduler(24, 1e-4, 0.6)}};
  for (const Case& c : cases) {
    CHECK(c.scheduler.steps() == (std::string(c.label) == "toy24" ? 24 : 1000));
    for (const auto& [name, value] : c.scheduler.named_constants()) {
      INFO(c.label << " " << name);
      CHECK(value.shape() == Shape{c.scheduler.steps()});
      // alpha_bar reaches 4e-5 (linear) and 0 (cosine), so a small absolute tolerance too.
      CHECK_CLOSE(value, expected(std::string("constants.") + c.label + "." + name), 1e-6, 2e-5);
    }
  }
}

TEST_CASE("NoiseScheduler: edge values and bad input") {
  NoiseScheduler s(24, 1e-4, 0.6);
  CHECK(s.alpha_bar_prev.to_vector()[0] == 1.0f);      // ᾱ_{-1} = 1
  CHECK(s.posterior_variance.to_vector()[0] == 0.0f);  // x_0 is certain given x_1 and x_0
  CHECK(s.reverse_sigma().to_vector()[0] == 0.0f);
  CHECK(s.reverse_sigma(ReverseVariance::Beta).to_vector()[0] == 0.0f);
  CHECK(s.reverse_sigma(ReverseVariance::Beta).to_vector()[5] ==
        doctest::Approx(std::sqrt(s.betas.to_vector()[5])));
  CHECK_THROWS_WITH_AS(NoiseScheduler(from_vector({0.1f})), doctest::Contains("at least 2"), Error);
  CHECK_THROWS_WITH_AS(NoiseScheduler(from_vector({0.1f, 1.0f})), doctest::Contains("beta[1] = 1"),
                       Error);
}

TEST_CASE("select() picks one value per batch element, shaped to broadcast") {
  NoiseScheduler s(24, 1e-4, 0.6);
  Tensor t = from_vector({3.f, 0.f, 23.f});
  Tensor picked = s.select(s.alpha_bar, t);
  CHECK(picked.shape() == Shape{3, 1, 1, 1});
  std::vector<float> all = s.alpha_bar.to_vector(), got = picked.to_vector();
  CHECK(got[0] == all[3]);
  CHECK(got[1] == all[0]);
  CHECK(got[2] == all[23]);
  CHECK(s.select(s.betas, t, 2).shape() == Shape{3, 1});
  CHECK(s.select(s.betas, t, 1).shape() == Shape{3});
  CHECK(s.select(s.betas, reshape(t, Shape{3, 1}), 3).shape() == Shape{3, 1, 1});  // [B, 1] works
  // It broadcasts against a batch: every pixel of sample b is scaled by alpha_bar[t_b].
  Tensor x = ones({3, 2, 4, 5});
  Tensor scaled = picked * x;
  CHECK(scaled.shape() == x.shape());
  CHECK(scaled.at({2, 1, 3, 4}) == all[23]);
  // Timesteps must be whole numbers inside [0, T).
  CHECK_THROWS_WITH_AS(s.select(s.betas, from_vector({24.f})), doctest::Contains("out of range"),
                       Error);
  CHECK_THROWS_WITH_AS(s.select(s.betas, from_vector({1.5f})), doctest::Contains("index 1.5"),
                       Error);
  CHECK_THROWS_WITH_AS(s.select(s.betas, zeros({2, 2})), doctest::Contains("[B] or [B, 1]"), Error);
  CHECK_THROWS_WITH_AS(s.select(zeros({5}), t), doctest::Contains("length T = 24"), Error);
}

TEST_CASE("timesteps helpers") {
  NoiseScheduler s(24, 1e-4, 0.6);
  CHECK(s.timesteps(4, 7).to_vector() == std::vector<float>{7, 7, 7, 7});
  CHECK_THROWS_WITH_AS(s.timesteps(4, 24), doctest::Contains("outside [0, 24)"), Error);
  Generator gen(3);
  std::vector<float> t = s.sample_timesteps(2000, &gen).to_vector();
  float lo = 1e9f, hi = -1e9f;
  for (float v : t) {
    CHECK(std::floor(v) == v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == 0.0f);
  CHECK(hi == 23.0f);
}

TEST_CASE("add_noise (q_sample) matches PyTorch") {
  NoiseScheduler s(24, 1e-4, 0.6);
  Tensor x_t =
      s.add_noise(expected("q_sample.x0"), expected("q_sample.noise"), expected("q_sample.t"));
  CHECK_CLOSE(x_t, expected("q_sample.x_t"), 1e-6, 1e-5);
  CHECK_THROWS_WITH_AS(s.add_noise(zeros({2, 3}), zeros({2, 4}), from_vector({1.f, 2.f})),
                       doctest::Contains("shapes differ"), Error);
  CHECK_THROWS_WITH_AS(s.add_noise(zeros({2, 3}), zeros({2, 3}), from_vector({1.f})),
                       doctest::Contains("1 timesteps for a batch"), Error);
}

TEST_CASE("q_sample has mean sqrt(alpha_bar) x0 and variance 1 - alpha_bar") {
  // Many draws of x_t for one x_0 per batch element; the sample mean and variance of each
  // pixel's draws must match the closed form within a few standard errors.
  NoiseScheduler s(1000, 1e-4, 0.02);
  const int64_t draws = 4000, pixels = 6;
  const std::vector<float> x0_values = {-1.0f, -0.5f, 0.0f, 0.25f, 0.75f, 1.0f};
  for (int64_t t : {0, 100, 500, 999}) {
    Tensor x0 = from_vector(x0_values, Shape{1, pixels});
    Tensor batch_x0 = x0 * ones({draws, pixels});  // the same image in every row
    Generator gen(static_cast<uint64_t>(t) + 11);
    Tensor noise = randn({draws, pixels}, Device::cpu(), &gen);
    Tensor x_t = s.add_noise(batch_x0, noise, s.timesteps(draws, t));
    std::vector<float> v = x_t.to_vector();
    const double alpha_bar = s.alpha_bar.to_vector()[static_cast<size_t>(t)];
    const double variance = 1.0 - alpha_bar;
    for (int64_t p = 0; p < pixels; ++p) {
      double sum = 0, sum_sq = 0;
      for (int64_t d = 0; d < draws; ++d) sum += v[static_cast<size_t>(d * pixels + p)];
      const double mean = sum / draws;
      for (int64_t d = 0; d < draws; ++d) {
        double e = v[static_cast<size_t>(d * pixels + p)] - mean;
        sum_sq += e * e;
      }
      const double sample_var = sum_sq / (draws - 1);
      const double expected_mean = std::sqrt(alpha_bar) * x0_values[static_cast<size_t>(p)];
      INFO("t = " << t << ", pixel " << p << ": mean " << mean << " vs " << expected_mean
                  << ", variance " << sample_var << " vs " << variance);
      CHECK(std::fabs(mean - expected_mean) < 5.0 * std::sqrt(variance / draws) + 1e-6);
      CHECK(std::fabs(sample_var - variance) <
            5.0 * variance * std::sqrt(2.0 / (draws - 1)) + 1e-9);
    }
  }
}

TEST_CASE(
    "posterior: coefficients and variance equal the Gaussian product q(x_t|x_t-1) q(x_t-1|x_0)") {
  // Direct computation from the betas alone: the posterior of x_{t-1} combines the forward step
  // N(x_t; √α_t x_{t-1}, β_t) with the jump N(x_{t-1}; √ᾱ_{t-1} x_0, 1-ᾱ_{t-1}). Precisions add:
  //   1/var = α_t/β_t + 1/(1-ᾱ_{t-1}),  mean = var (√α_t/β_t x_t + √ᾱ_{t-1}/(1-ᾱ_{t-1}) x_0).
  NoiseScheduler s(50, 1e-3, 0.3, BetaSchedule::Quadratic);
  std::vector<float> betas = s.betas.to_vector(), var = s.posterior_variance.to_vector(),
                     coef1 = s.posterior_mean_coef1.to_vector(),
                     coef2 = s.posterior_mean_coef2.to_vector(),
                     log_var = s.posterior_log_variance_clipped.to_vector();
  double alpha_bar_prev = 1.0;
  for (size_t t = 0; t < betas.size(); ++t) {
    const double beta = betas[t], alpha = 1.0 - beta;
    if (t >= 1) {
      const double precision = alpha / beta + 1.0 / (1.0 - alpha_bar_prev);
      const double expected_var = 1.0 / precision;
      INFO("t = " << t);
      CHECK(var[t] == doctest::Approx(expected_var).epsilon(1e-5));
      CHECK(coef2[t] == doctest::Approx(expected_var * std::sqrt(alpha) / beta).epsilon(1e-5));
      CHECK(coef1[t] ==
            doctest::Approx(expected_var * std::sqrt(alpha_bar_prev) / (1.0 - alpha_bar_prev))
                .epsilon(1e-5));
      CHECK(log_var[t] == doctest::Approx(std::log(expected_var)).epsilon(1e-5));
    } else {
      CHECK(coef1[0] == doctest::Approx(1.0));  // given x_1, the posterior of x_0 is x_0
      CHECK(coef2[0] == doctest::Approx(0.0));
      CHECK(log_var[0] == log_var[1]);  // log 0 clipped to log β̃_1
    }
    alpha_bar_prev *= alpha;
  }
}

TEST_CASE("posterior mean of the predicted x0 is the reverse step's mean") {
  // μ̃(x̂_0(x_t, ε̂), x_t) == (x_t - β/√(1-ᾱ) ε̂)/√α: eq. 7 with eq. 4 substituted is eq. 11.
  NoiseScheduler s(24, 1e-4, 0.6);
  Tensor t = expected("step.t");
  Tensor x0_hat = s.predict_x0(expected("step.x_t"), expected("step.eps_hat"), t);
  Tensor mean = s.posterior_mean(x0_hat, expected("step.x_t"), t);
  CHECK_CLOSE(mean, expected("step.mean"), 1e-5, 1e-4);
  // predict_x0 inverts add_noise.
  Tensor x0 = expected("q_sample.x0"), noise = expected("q_sample.noise"),
         tq = expected("q_sample.t");
  CHECK_CLOSE(s.predict_x0(s.add_noise(x0, noise, tq), noise, tq), x0, 1e-5, 1e-4);
}

TEST_CASE("one reverse step matches PyTorch (fixed inputs and z)") {
  NoiseScheduler s(24, 1e-4, 0.6);
  DDPMSampler sampler(s), beta_sampler(s, ReverseVariance::Beta);
  Tensor x_t = expected("step.x_t"), eps_hat = expected("step.eps_hat"), z = expected("step.z"),
         t = expected("step.t");
  CHECK_CLOSE(sampler.step_with_noise(eps_hat, t, x_t, z), expected("step.x_prev_posterior"), 1e-5,
              1e-5);
  CHECK_CLOSE(beta_sampler.step_with_noise(eps_hat, t, x_t, z), expected("step.x_prev_beta"), 1e-5,
              1e-5);
  // At t = 0 no noise is added: sample 0 (t = 0) is the mean whatever z is.
  Tensor other_z = z * 3.0f;
  Tensor a = slice(sampler.step_with_noise(eps_hat, t, x_t, z), 0, 0, 1);
  Tensor b = slice(sampler.step_with_noise(eps_hat, t, x_t, other_z), 0, 0, 1);
  CHECK_CLOSE(a, b, 0.0, 0.0);
  CHECK_CLOSE(a, slice(expected("step.mean"), 0, 0, 1), 1e-5, 1e-5);
  // step() with a generator draws z itself: same generator state, same result.
  Generator g1(5), g2(5);
  CHECK_CLOSE(sampler.step(eps_hat, t, x_t, &g1), sampler.step(eps_hat, t, x_t, &g2), 0.0, 0.0);
  Generator g3(5);
  Tensor z_drawn = randn(x_t.shape(), Device::cpu(), &g3);
  Generator g4(5);
  CHECK_CLOSE(sampler.step(eps_hat, t, x_t, &g4), sampler.step_with_noise(eps_hat, t, x_t, z_drawn),
              0.0, 0.0);
  // The integer-t form equals the tensor form.
  Generator g5(9), g6(9);
  CHECK_CLOSE(sampler.step(eps_hat, 7, x_t, &g5),
              sampler.step(eps_hat, s.timesteps(3, 7), x_t, &g6), 0.0, 0.0);
  CHECK_THROWS_WITH_AS(sampler.step_with_noise(eps_hat, t, x_t, zeros({3, 3, 4})),
                       doctest::Contains("z and x_t"), Error);
}

TEST_CASE("constants move between devices") {
  NoiseScheduler s(10, 1e-4, 0.02);
  if (!test::gpu_available_or_say("NoiseScheduler::to(cuda)")) {
    CHECK(s.device() == Device::cpu());
    return;
  }
  NoiseScheduler g(10, 1e-4, 0.02, BetaSchedule::Linear, Device::cuda());
  CHECK(g.alpha_bar.device() == Device::cuda());
  CHECK_CLOSE(g.alpha_bar.cpu(), s.alpha_bar, 0.0, 0.0);
  Tensor x0 = full({2, 3}, 0.5f), noise = full({2, 3}, 0.25f);
  Tensor expected = s.add_noise(x0, noise, from_vector({1.f, 9.f}));
  Tensor got = g.add_noise(x0.to(Device::cuda()), noise.to(Device::cuda()),
                           from_vector({1.f, 9.f}, Device::cuda()));
  CHECK_CLOSE(got.cpu(), expected, 1e-6, 1e-6);
}

TEST_CASE("check_marginals: the walk and the jump agree with eq. 4's mean and variance") {
  Generator gen(7);
  const NoiseScheduler scheduler(24, 1e-4, 0.6);
  const Tensor x0 = rand({1, 3, 16, 16}, Device::cpu(), &gen) * 2.0f - 1.0f;
  const MarginalCheck check = check_marginals(x0, scheduler, 4, &gen);
  REQUIRE(check.fits.size() == 24);
  CHECK(check.values == doctest::Approx(4 * 3 * 16 * 16));
  const std::vector<float> ab = scheduler.alpha_bar.to_vector();
  for (const MarginalFit& f : check.fits) {
    const double a = ab[size_t(f.steps - 1)];
    CHECK(f.sqrt_alpha_bar == doctest::Approx(std::sqrt(a)));
    CHECK(f.one_minus_alpha_bar == doctest::Approx(1 - a));
    for (double v : {f.variance_walk, f.variance_jump})  // 5 standard errors of (1-ᾱ)√(2/n)
      CHECK(std::fabs(v - (1 - a)) < 5 * (1 - a) * std::sqrt(2.0 / check.values));
  }
  CHECK(check.worst < 5);
  CHECK(check.worst > 0.1);  // estimates from noise are never exact
}

TEST_CASE("MarginalCheck::table: a header and the rows for t = 1, every T/4-th step and T") {
  MarginalCheck check;
  for (int64_t k = 1; k <= 8; ++k) check.fits.push_back({k, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75});
  const std::string table = check.table();
  int lines = 0;
  for (char c : table) lines += c == '\n';
  CHECK(lines == 1 + 5);  // t = 1, 2, 4, 6, 8
  CHECK(table.find("sqrt(ab)") != std::string::npos);
  CHECK(table.find("\n       2    0.50000") != std::string::npos);
  CHECK(table.find("\n       3 ") == std::string::npos);
}

TEST_CASE("signal_and_noise: what is left of x_0, and the noise, after k steps") {
  // The DDPM step: √ᾱ_k and √(1-ᾱ_k), from (1, 0); the variances add up to 1.
  const SignalAndNoise ddpm = signal_and_noise(std::vector<float>{0.19f, 0.19f});
  REQUIRE(ddpm.signal.size() == 3);
  CHECK(ddpm.signal[0] == 1.0);
  CHECK(ddpm.noise[0] == 0.0);
  CHECK(ddpm.signal[2] == doctest::Approx(0.81));  // √(0.81²)
  for (size_t k = 0; k < 3; ++k)
    CHECK(ddpm.signal[k] * ddpm.signal[k] + ddpm.noise[k] * ddpm.noise[k] == doctest::Approx(1));
  // x_k = a x_{k-1} + b ε: a^k and b √((1 - a^{2k})/(1 - a²)).
  const SignalAndNoise scaled = signal_and_noise(0.5, 0.1, 4);
  REQUIRE(scaled.noise.size() == 5);
  CHECK(scaled.signal[4] == doctest::Approx(0.0625));
  CHECK(scaled.noise[4] == doctest::Approx(0.1 * std::sqrt((1 - std::pow(0.5, 8)) / 0.75)));
  CHECK(signal_and_noise(1.0, 0.1, 4).noise[4] == doctest::Approx(0.2));  // a = 1: b √k
  // The figure: two panels, one series per process on each.
  const std::string svg = signal_and_noise_figure({{"ddpm", ddpm}, {"scaled", scaled}}).svg();
  CHECK(svg.find("<title>ddpm</title>") != std::string::npos);
  const std::string schedules = schedules_figure(50, 1e-4, 0.02).svg();
  for (BetaSchedule kind : kBetaSchedules)
    CHECK(schedules.find(std::string("<title>") + beta_schedule_name(kind) + "</title>") !=
          std::string::npos);
}
