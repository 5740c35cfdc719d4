// test_schedule_ema.cpp — learning-rate schedules (against PyTorch's schedulers and closed
// forms) and the exponential moving average of weights.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/ema.h"
#include "nn/lr_schedule.h"
#include "tensor/error.h"
#include "tests/helpers.h"
#include "tests/tiny_mlp.h"

using namespace drift;

namespace {

void check_schedule(const nn::LrSchedule& schedule, const Tensor& expected) {
  INFO(schedule.describe());
  for (int64_t step = 0; step < expected.numel(); ++step) {
    INFO("step " << step);
    CHECK(schedule.lr_at(step) == doctest::Approx(expected.at({step})).epsilon(1e-6));
  }
}

}  // namespace

TEST_CASE("learning-rate schedules match PyTorch's schedulers") {
  const SafetensorsData& fx = test::fixture("optim");
  // LambdaLR(lambda s: min(1, s / 10)), base 1e-3.
  check_schedule(nn::LinearWarmup(1e-3f, 10), fx.at("schedule.warmup"));
  // CosineAnnealingLR(T_max=20, eta_min=1e-5), base 1e-3.
  check_schedule(nn::CosineDecay(1e-3f, 20, 1e-5f), fx.at("schedule.cosine"));
  // Warm-up 5 steps, cosine to 1e-5 at step 25, then flat (LambdaLR with the formula).
  check_schedule(nn::CosineDecay(1e-3f, 25, 1e-5f, 5), fx.at("schedule.warmup_cosine"));
}

TEST_CASE("learning-rate schedules in closed form") {
  nn::ConstantLr constant(3e-4f);
  CHECK(constant.lr_at(0) == 3e-4f);
  CHECK(constant.lr_at(1000000) == 3e-4f);

  nn::LinearWarmup warmup(1e-3f, 100);
  CHECK(warmup.lr_at(0) == 0.0f);  // the first update is a zero step, as in PyTorch's LambdaLR
  CHECK(warmup.lr_at(50) == doctest::Approx(5e-4));
  CHECK(warmup.lr_at(99) == doctest::Approx(9.9e-4));
  CHECK(warmup.lr_at(100) == 1e-3f);
  CHECK(warmup.lr_at(5000) == 1e-3f);
  CHECK(nn::LinearWarmup(1e-3f, 0).lr_at(0) == 1e-3f);

  nn::CosineDecay cosine(1e-3f, 1100, 1e-4f, 100);
  CHECK(cosine.lr_at(0) == 0.0f);
  CHECK(cosine.lr_at(100) == 1e-3f);                               // cos(0) = 1
  CHECK(cosine.lr_at(600) == doctest::Approx((1e-3 + 1e-4) / 2));  // cos(pi/2) = 0
  CHECK(cosine.lr_at(350) == doctest::Approx(1e-4 + 9e-4 * (1 + std::sqrt(0.5)) / 2));
  CHECK(cosine.lr_at(1100) == 1e-4f);
  CHECK(cosine.lr_at(99999) == 1e-4f);
  for (int64_t s = 101; s < 1100; ++s) CHECK(cosine.lr_at(s) <= cosine.lr_at(s - 1));

  CHECK_THROWS_WITH_AS(warmup.lr_at(-1), doctest::Contains("LinearWarmup: lr_at(-1)"), Error);
  CHECK_THROWS_WITH_AS(nn::CosineDecay(1e-3f, 10, 0.0f, 10),
                       doctest::Contains("need 0 <= warmup_steps < total_steps"), Error);
  CHECK_THROWS_WITH_AS(nn::CosineDecay(1e-3f, 10, 1e-2f),
                       doctest::Contains("min_lr 0.01 must be in [0, base_lr"), Error);
  CHECK_THROWS_WITH_AS(nn::LinearWarmup(-1.0f, 3), doctest::Contains("invalid base learning rate"),
                       Error);
}

TEST_CASE("EMA: shadow = decay * shadow + (1 - decay) * param") {
  test::TinyMLP model;
  Tensor p0 = model.first->bias.clone();
  nn::EMA ema(model, 0.9);
  CHECK(ema.shadow().size() == 4);
  CHECK(ema.shadow()[1].first == "first.bias");
  CHECK(ema.shadow()[1].second.to_vector() == p0.to_vector());  // starts as a copy
  CHECK_FALSE(ema.shadow()[1].second.same(model.first->bias));

  Tensor p1 = randn(p0.shape()), p2 = randn(p0.shape());
  model.first->bias.copy_(p1);
  ema.update(model);
  CHECK_CLOSE(ema.shadow()[1].second, p0 * 0.9f + p1 * 0.1f, 1e-7, 1e-6);
  model.first->bias.copy_(p2);
  ema.update(model);
  // After two updates: 0.81 p0 + 0.09 p1 + 0.1 p2.
  CHECK_CLOSE(ema.shadow()[1].second, p0 * 0.81f + p1 * 0.09f + p2 * 0.1f, 1e-6, 1e-5);
  CHECK(ema.num_updates() == 2);

  test::TinyMLP target;
  ema.copy_to(target);
  CHECK(target.first->bias.to_vector() == ema.shadow()[1].second.to_vector());
  CHECK(target.second->weight.to_vector() == ema.shadow()[2].second.to_vector());
}

TEST_CASE("EMA warm-up: decay_n = min(decay, (1 + n) / (10 + n))") {
  test::TinyMLP model;
  nn::EMA ema(model, 0.99, /*warmup=*/true);
  CHECK(ema.decay_at(1) == doctest::Approx(2.0 / 11.0));
  CHECK(ema.decay_at(8) == doctest::Approx(0.5));
  CHECK(ema.decay_at(10000) == 0.99);
  Tensor p0 = model.second->bias.clone(), p1 = randn(p0.shape());
  model.second->bias.copy_(p1);
  ema.update(model);
  const float d = 2.0f / 11.0f;
  CHECK_CLOSE(ema.shadow()[3].second, p0 * d + p1 * (1.0f - d), 1e-7, 1e-6);
  CHECK(nn::EMA(model, 0.99).decay_at(1) == 0.99);
}

TEST_CASE("EMA state round trip and its checks") {
  test::TinyMLP model;
  nn::EMA ema(model, 0.95, true);
  for (int i = 0; i < 3; ++i) {
    model.first->weight.copy_(randn({6, 4}));
    ema.update(model);
  }
  test::TinyMLP other_model;
  nn::EMA other(other_model, 0.5);
  other.load_state(ema.state());
  CHECK(other.decay() == 0.95);
  CHECK(other.warmup());
  CHECK(other.num_updates() == 3);
  for (size_t i = 0; i < 4; ++i)
    CHECK(other.shadow()[i].second.to_vector() == ema.shadow()[i].second.to_vector());
  CHECK_FALSE(other.shadow()[0].second.same(ema.shadow()[0].second));  // copied, not shared

  nn::EmaState bad = ema.state();
  bad.shadow.pop_back();
  CHECK_THROWS_WITH_AS(other.load_state(bad, "run.safetensors", "ema."),
                       doctest::Contains("run.safetensors: missing tensor 'ema.second.bias'"),
                       Error);
  bad = ema.state();
  bad.shadow[0].second = zeros({4, 6});
  CHECK_THROWS_WITH_AS(
      other.load_state(bad, "run.safetensors", "ema."),
      doctest::Contains(
          "tensor 'ema.first.weight' has shape [4, 6] but the parameter has shape [6, 4]"),
      Error);
  bad = ema.state();
  bad.scalars.erase("num_updates");
  CHECK_THROWS_WITH_AS(other.load_state(bad, "run.safetensors", "ema."),
                       doctest::Contains("missing value 'ema.num_updates'"), Error);
  bad = ema.state();
  bad.scalars["decay"] = 2.0;
  CHECK_THROWS_WITH_AS(other.load_state(bad, "run.safetensors", "ema."),
                       doctest::Contains("invalid EMA decay 2"), Error);

  struct Smaller : nn::Module {
    Smaller() { register_parameter("w", zeros({1})); }
  } smaller;
  CHECK_THROWS_WITH_AS(
      ema.update(smaller),
      doctest::Contains("EMA::update: the model has 1 parameters but the EMA shadows 4"), Error);
  CHECK_THROWS_WITH_AS(nn::EMA(model, 1.5), doctest::Contains("invalid EMA decay 1.5"), Error);
}

TEST_CASE("cuda: EMA of GPU parameters matches the CPU") {
  if (!test::gpu_available_or_say("cuda EMA")) return;
  test::TinyMLP cpu_model, gpu_model;
  gpu_model.load_state_dict(cpu_model.state_dict());
  gpu_model.to(Device::cuda());
  nn::EMA cpu_ema(cpu_model, 0.9, true), gpu_ema(gpu_model, 0.9, true);
  for (int i = 0; i < 3; ++i) {
    Tensor w = randn({6, 4});
    cpu_model.first->weight.copy_(w);
    gpu_model.first->weight.copy_(w);
    cpu_ema.update(cpu_model);
    gpu_ema.update(gpu_model);
  }
  CHECK(gpu_ema.shadow()[0].second.device() == Device::cuda());
  CHECK_CLOSE(gpu_ema.shadow()[0].second.cpu(), cpu_ema.shadow()[0].second, 1e-7, 1e-6);
}
