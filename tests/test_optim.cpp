// test_optim.cpp — optimizers against torch.optim (10 steps, every parameter after every step),
// their state and its checks, clip_grad_norm_ against torch, and CPU-vs-CUDA parity of the
// optimizer kernels.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "nn/optim.h"
#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"  // num_threads
#include "tensor/error.h"
#include "tensor/optim_math.h"
#include "tests/helpers.h"
#include "tests/tiny_mlp.h"

using namespace drift;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<nn::Optimizer>(std::vector<Tensor>)>;

struct OptimConfig {
  const char* name;  // the fixture's configuration (tests/fixtures/gen_optim.py, CONFIGS)
  MakeOptimizer make;
  bool skip_and_decay = false;  // even steps: first.weight has no gradient; lr = 0.02 * 0.8^k
};

std::vector<OptimConfig> configs() {
  using P = std::vector<Tensor>;
  return {
      {"sgd", [](P p) { return std::make_unique<nn::SGD>(p, 0.1); }},
      {"sgd_momentum_wd", [](P p) { return std::make_unique<nn::SGD>(p, 0.1, 0.9, 0.01); }},
      {"sgd_nesterov",
       [](P p) { return std::make_unique<nn::SGD>(p, 0.05, 0.9, 0.01, 0.0, /*nesterov=*/true); }},
      {"sgd_dampening", [](P p) { return std::make_unique<nn::SGD>(p, 0.1, 0.8, 0.0, 0.3); }},
      {"adam", [](P p) { return std::make_unique<nn::Adam>(p, 0.01); }},
      {"adam_wd",
       [](P p) {
         return std::make_unique<nn::Adam>(p, 0.01, nn::AdamBetas{0.8, 0.99}, 1e-6, 0.1);
       }},
      {"adamw",
       [](P p) { return std::make_unique<nn::AdamW>(p, 0.01, nn::AdamBetas{}, 1e-8, 0.1); }},
      {"adam_skip_decay", [](P p) { return std::make_unique<nn::Adam>(p, 0.02); }, true},
  };
}

// One training step of the fixture's loop; returns the loss.
float train_step(test::TinyMLP& model, nn::Optimizer& optimizer, int step, bool skip_and_decay) {
  const SafetensorsData& fx = test::fixture("optim");
  optimizer.zero_grad();
  Tensor loss = mse_loss(model.forward(fx.at("x")), fx.at("target"));
  loss.backward();
  if (skip_and_decay) {
    if (step % 2 == 0) model.first->weight.zero_grad();
    optimizer.set_lr(0.02 * std::pow(0.8, step));
  }
  optimizer.step();
  return loss.item();
}

Tensor step_slice(const Tensor& history, int step) {  // history [STEPS, ...] -> [...]
  std::vector<int64_t> dims(history.shape().begin() + 1, history.shape().end());
  return reshape(slice(history, 0, step, step + 1), Shape(dims));
}

}  // namespace

TEST_CASE("optimizers match torch.optim for 10 steps on a two-layer MLP") {
  const SafetensorsData& fx = test::fixture("optim");
  for (const OptimConfig& config : configs()) {
    SUBCASE(config.name) {
      test::TinyMLP model;
      test::load_fixture_init(model);
      std::unique_ptr<nn::Optimizer> optimizer = config.make(model.parameters());
      const std::string prefix = config.name;
      Tensor expected_losses = fx.at(prefix + ".loss");
      for (int step = 0; step < 10; ++step) {
        float loss = train_step(model, *optimizer, step, config.skip_and_decay);
        INFO("step " << step);
        CHECK(loss == doctest::Approx(expected_losses.at({step})).epsilon(1e-6));
        for (const auto& [name, param] : model.named_parameters()) {
          INFO("parameter " << name);
          CHECK_CLOSE(param, step_slice(fx.at(prefix + "." + name), step), 2e-7, 2e-6);
        }
      }
      CHECK(optimizer->step_count() == 10);
    }
  }
}

TEST_CASE("parameters without a gradient are skipped and get no state") {
  test::TinyMLP model;
  Tensor unused = zeros({2});
  unused.set_requires_grad(true);
  std::vector<Tensor> params = model.parameters();
  params.push_back(unused);
  nn::Adam adam(params, 0.1);
  CHECK(adam.state().tensors.empty());  // moments are created lazily
  Tensor before = model.first->weight.clone();
  for (int i = 0; i < 3; ++i) {
    adam.zero_grad();
    sum(model.forward(ones({2, 4}))).backward();
    adam.step();
  }
  CHECK(unused.to_vector() == std::vector<float>{0.0f, 0.0f});
  CHECK(model.first->weight.to_vector() != before.to_vector());
  nn::OptimizerState state = adam.state();
  CHECK(state.tensors.size() == 8);  // exp_avg and exp_avg_sq of the 4 used parameters
  CHECK(state.scalars.at("0.step") == 3.0);
  CHECK(state.scalars.count("4.step") == 0);
  CHECK(state.scalars.at("step") == 3.0);
  CHECK(state.tensors[0].first == "0.exp_avg");
  CHECK(state.tensors[1].first == "0.exp_avg_sq");
  CHECK(state.tensors[0].second.device() == Device::cpu());
}

TEST_CASE("optimizer state round trip resumes bit-exactly") {
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    auto make = [kind](std::vector<Tensor> p, double lr) -> std::unique_ptr<nn::Optimizer> {
      if (kind == 0) return std::make_unique<nn::SGD>(p, lr, 0.9, 1e-3);
      if (kind == 1) return std::make_unique<nn::Adam>(p, lr, nn::AdamBetas{0.8, 0.95});
      return std::make_unique<nn::AdamW>(p, lr);
    };
    test::TinyMLP a, b;
    test::load_fixture_init(a);
    auto opt_a = make(a.parameters(), 0.05);
    for (int step = 0; step < 3; ++step) train_step(a, *opt_a, step, false);
    b.load_state_dict(a.state_dict());
    auto opt_b = make(b.parameters(), 0.5);  // other hyper-parameters: the state overrides them
    opt_b->load_state(opt_a->state());
    CHECK(opt_b->lr() == 0.05);
    CHECK(opt_b->step_count() == 3);
    for (int step = 3; step < 6; ++step) {
      CHECK(train_step(a, *opt_a, step, false) == train_step(b, *opt_b, step, false));
    }
    for (size_t i = 0; i < a.parameters().size(); ++i)
      CHECK(a.parameters()[i].to_vector() == b.parameters()[i].to_vector());
  }
}

TEST_CASE("load_state checks everything and changes nothing on error") {
  test::TinyMLP model;
  test::load_fixture_init(model);
  nn::Adam adam(model.parameters(), 0.01);
  train_step(model, adam, 0, false);
  const nn::OptimizerState good = adam.state();
  nn::Adam other(model.parameters(), 0.123);
  auto reject = [&](nn::OptimizerState state, const std::string& expected) {
    CHECK_THROWS_WITH_AS(other.load_state(state, "ckpt.safetensors", "optimizer."),
                         doctest::Contains(expected.c_str()), Error);
    CHECK(other.lr() == 0.123);  // unchanged
    CHECK(other.step_count() == 0);
    CHECK(other.state().tensors.empty());
  };
  {
    nn::OptimizerState s = good;
    s.type = "SGD";
    reject(s, "ckpt.safetensors: the state is of a SGD optimizer, not Adam");
  }
  {
    nn::OptimizerState s = good;
    s.tensors.erase(s.tensors.begin() + 1);
    reject(s, "ckpt.safetensors: missing tensor 'optimizer.0.exp_avg_sq' (shape [6, 4])");
  }
  {
    nn::OptimizerState s = good;
    s.tensors[2].second = zeros({5});
    reject(s, "tensor 'optimizer.1.exp_avg' has shape [5] but parameter 1 has shape [6]");
  }
  {
    nn::OptimizerState s = good;
    s.tensors.emplace_back("7.exp_avg", zeros({1}));
    reject(s, "unexpected tensor 'optimizer.7.exp_avg'");
  }
  {
    nn::OptimizerState s = good;
    s.tensors.emplace_back("0.momentum_buffer", zeros({6, 4}));
    reject(s, "unexpected tensor 'optimizer.0.momentum_buffer'");
  }
  {
    nn::OptimizerState s = good;
    s.scalars.erase("beta2");
    reject(s, "ckpt.safetensors: missing value 'optimizer.beta2'");
  }
  {
    nn::OptimizerState s = good;
    s.scalars["beta1"] = 1.5;
    reject(s, "invalid beta1 1.5");
  }
  {
    nn::OptimizerState s = good;
    s.scalars["num_parameters"] = 5;
    reject(s, "the state is for 5 parameters but this Adam has 4");
  }
  {
    nn::OptimizerState s = good;
    s.scalars["0.step"] = 2.5;
    reject(s, "value 'optimizer.0.step' must be a whole number");
  }
  {
    nn::OptimizerState s = good;
    s.scalars["surprise"] = 1.0;
    reject(s, "unexpected value 'optimizer.surprise'");
  }
  {
    nn::OptimizerState s = good;
    s.scalars.erase("2.step");
    reject(s, "tensor 'optimizer.2.exp_avg' is given but 'optimizer.2.step' is missing");
  }
  other.load_state(good);
  CHECK(other.step_count() == 1);
}

TEST_CASE("optimizer arguments are checked") {
  test::TinyMLP model;
  CHECK_THROWS_WITH_AS(nn::Adam({}, 0.1), doctest::Contains("Adam: the parameter list is empty"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::SGD({model.first->weight * 2.0f}, 0.1),
                       doctest::Contains("SGD: parameter 0 ([6, 4] on cpu) is not a leaf"), Error);
  CHECK_THROWS_WITH_AS(nn::SGD({model.first->weight, model.first->weight}, 0.1),
                       doctest::Contains("parameter 1 appears twice"), Error);
  CHECK_THROWS_WITH_AS(nn::Adam(model.parameters(), 1e-3, {0.9, 1.0}),
                       doctest::Contains("Adam: invalid beta2 1"), Error);
  CHECK_THROWS_WITH_AS(nn::AdamW(model.parameters(), -1.0),
                       doctest::Contains("AdamW: invalid learning rate -1"), Error);
  CHECK_THROWS_WITH_AS(nn::SGD(model.parameters(), 0.1, 0.0, 0.0, 0.0, true),
                       doctest::Contains("Nesterov momentum requires a momentum > 0"), Error);
  nn::SGD sgd(model.parameters(), 0.1);
  CHECK_THROWS_WITH_AS(sgd.set_lr(NAN), doctest::Contains("SGD: invalid learning rate"), Error);
  CHECK(sgd.type() == "SGD");
  CHECK(nn::AdamW(model.parameters()).hyper_parameters().at("weight_decay") == 0.01);
}

TEST_CASE("the optimizer math: first steps in closed form") {
  // Adam's first step moves every element by lr * g / (|g| + eps/...) ~ lr * sign(g).
  AdamScalars s = optim_math::adam_scalars(0.1, 0.9, 0.999, 1e-8, 0.0, false, 1);
  float p = 1.0f, m = 0.0f, v = 0.0f;
  optim_math::adam_update(p, 0.5f, m, v, s);
  CHECK(m == doctest::Approx(0.05));
  CHECK(v == doctest::Approx(0.00025));
  CHECK(p == doctest::Approx(0.9).epsilon(1e-6));
  // AdamW decays the weight before the update: p = 2 (1 - 0.1 * 0.5) - 0.1 sign(g).
  s = optim_math::adam_scalars(0.1, 0.9, 0.999, 1e-8, 0.5, true, 1);
  p = 2.0f, m = 0.0f, v = 0.0f;
  optim_math::adam_update(p, -3.0f, m, v, s);
  CHECK(p == doctest::Approx(1.9 + 0.1).epsilon(1e-6));
  // SGD with momentum: buf = d on the first step, then momentum * buf + d.
  SgdScalars first = optim_math::sgd_scalars(0.1, 0.9, 0.0, 0.0, false, true);
  SgdScalars later = optim_math::sgd_scalars(0.1, 0.9, 0.0, 0.0, false, false);
  float q = 1.0f, buf = 123.0f;
  optim_math::sgd_momentum_update(q, 2.0f, buf, first);
  CHECK(buf == 2.0f);
  CHECK(q == doctest::Approx(0.8));
  optim_math::sgd_momentum_update(q, 2.0f, buf, later);
  CHECK(buf == doctest::Approx(3.8));
  CHECK(q == doctest::Approx(0.8 - 0.38));
}

TEST_CASE("clip_grad_norm_ matches torch.nn.utils.clip_grad_norm_") {
  const SafetensorsData& fx = test::fixture("optim");
  for (int max_norm : {1, 100}) {
    CAPTURE(max_norm);
    std::vector<Tensor> params;
    for (int i = 0; i < 3; ++i) {
      Tensor grad = fx.at("clip.grad" + std::to_string(i));
      Tensor p = zeros(grad.shape()).set_requires_grad(true);
      p.set_grad(grad.clone());
      params.push_back(p);
    }
    Tensor no_grad = zeros({3}).set_requires_grad(true);  // ignored
    params.push_back(no_grad);
    const std::string tag = "clip.max" + std::to_string(max_norm);
    float total = nn::clip_grad_norm_(params, max_norm);
    CHECK(total == doctest::Approx(fx.at(tag + ".total").item()).epsilon(1e-6));
    for (int i = 0; i < 3; ++i)
      CHECK_CLOSE(params[i].grad(), fx.at(tag + ".grad" + std::to_string(i)), 1e-7, 1e-6);
    if (max_norm == 100)  // below the limit: the gradients are not touched at all
      CHECK(params[0].grad().to_vector() == fx.at("clip.grad0").to_vector());
    CHECK_FALSE(no_grad.grad().defined());
  }
  CHECK(nn::clip_grad_norm_({zeros({2}).set_requires_grad(true)}, 1.0) == 0.0f);
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm_({}, 0.0), doctest::Contains("max_norm must be positive"),
                       Error);
}

TEST_CASE("sum_of_squares is exact enough and independent of the thread count") {
  Tensor x = randn({100003});
  double expected = 0.0;
  for (float v : x.to_vector()) expected += static_cast<double>(v) * v;
  double got = backend(Device::cpu()).sum_of_squares(x.data(), x.numel());
  CHECK(got == doctest::Approx(expected).epsilon(1e-12));
  const int threads = num_threads();
  set_num_threads(1);
  double one_thread = backend(Device::cpu()).sum_of_squares(x.data(), x.numel());
  set_num_threads(threads);
  CHECK(one_thread == got);
}

// ---- CPU vs CUDA ---------------------------------------------------------------------------

TEST_CASE("cuda: adam_step, sgd_step and sum_of_squares match the CPU") {
  if (!test::gpu_available_or_say("cuda optimizer kernels")) return;
  Device gpu = Device::cuda();
  const int64_t n = 100003;
  Tensor grad = randn({n}), param0 = randn({n}), m0 = randn({n}) * 0.1f, v0 = rand({n});
  for (bool decoupled : {false, true}) {
    CAPTURE(decoupled);
    AdamScalars s = optim_math::adam_scalars(1e-2, 0.9, 0.999, 1e-8, 0.1, decoupled, 7);
    Tensor p = param0.clone(), m = m0.clone(), v = v0.clone();
    Tensor pg = param0.to(gpu), mg = m0.to(gpu), vg = v0.to(gpu), gg = grad.to(gpu);
    backend(Device::cpu()).adam_step(p.data(), grad.data(), m.data(), v.data(), n, s);
    backend(gpu).adam_step(pg.data(), gg.data(), mg.data(), vg.data(), n, s);
    CHECK_CLOSE(pg.cpu(), p, 1e-6, 1e-5);
    CHECK_CLOSE(mg.cpu(), m, 1e-7, 1e-5);
    CHECK_CLOSE(vg.cpu(), v, 1e-7, 1e-5);
  }
  for (int variant = 0; variant < 4; ++variant) {
    CAPTURE(variant);
    const bool with_momentum = variant > 0, nesterov = variant == 2, first = variant == 3;
    SgdScalars s =
        optim_math::sgd_scalars(0.1, with_momentum ? 0.9 : 0.0, 0.0, 0.01, nesterov, first);
    Tensor p = param0.clone(), buf = m0.clone();
    Tensor pg = param0.to(gpu), bufg = m0.to(gpu), gg = grad.to(gpu);
    backend(Device::cpu())
        .sgd_step(p.data(), grad.data(), with_momentum ? buf.data() : nullptr, n, s);
    backend(gpu).sgd_step(pg.data(), gg.data(), with_momentum ? bufg.data() : nullptr, n, s);
    CHECK_CLOSE(pg.cpu(), p, 1e-6, 1e-5);
    CHECK_CLOSE(bufg.cpu(), buf, 1e-6, 1e-5);
  }
  Tensor xg = grad.to(gpu);
  const double cpu_sum = backend(Device::cpu()).sum_of_squares(grad.data(), n);
  const double gpu_sum = backend(gpu).sum_of_squares(xg.data(), n);
  CHECK(gpu_sum == doctest::Approx(cpu_sum).epsilon(1e-12));
  CHECK(backend(gpu).sum_of_squares(xg.data(), n) == gpu_sum);  // deterministic
}

TEST_CASE("cuda: optimizers and clipping on GPU parameters match the CPU") {
  if (!test::gpu_available_or_say("cuda optimizers")) return;
  Device gpu = Device::cuda();
  Tensor init = randn({257, 3});
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    Tensor p_cpu = init.clone().set_requires_grad(true);
    Tensor p_gpu = init.to(gpu).set_requires_grad(true);
    auto make = [kind](Tensor p) -> std::unique_ptr<nn::Optimizer> {
      if (kind == 0) return std::make_unique<nn::SGD>(std::vector<Tensor>{p}, 0.1, 0.9, 0.01);
      if (kind == 1) return std::make_unique<nn::Adam>(std::vector<Tensor>{p}, 0.01);
      return std::make_unique<nn::AdamW>(std::vector<Tensor>{p}, 0.01);
    };
    auto opt_cpu = make(p_cpu), opt_gpu = make(p_gpu);
    for (int step = 0; step < 3; ++step) {
      Tensor grad = randn({257, 3}) * 5.0f;
      p_cpu.set_grad(grad.clone());
      p_gpu.set_grad(grad.to(gpu));
      float norm_cpu = nn::clip_grad_norm_({p_cpu}, 1.0);
      float norm_gpu = nn::clip_grad_norm_({p_gpu}, 1.0);
      CHECK(norm_gpu == doctest::Approx(norm_cpu).epsilon(1e-6));
      opt_cpu->step();
      opt_gpu->step();
    }
    CHECK_CLOSE(p_gpu.cpu(), p_cpu, 1e-6, 1e-5);
    CHECK(opt_gpu->state().tensors.at(0).second.device() == gpu);
  }
}
