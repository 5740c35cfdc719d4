// test_layers_parity.cpp — the layers against PyTorch (tests/fixtures/nn.safetensors, made by
// tests/fixtures/gen_nn.py): the same inputs, weights and upstream gradient must give the same
// output and the same gradient of every input, weight and bias.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <set>

#include "nn/functional.h"
#include "nn/layers.h"
#include "tests/helpers.h"

using namespace drift;
namespace F = drift::nn::F;

namespace {

using FunctionalCase = std::function<Tensor(const std::vector<Tensor>&, const SafetensorsData&)>;

// Functional case name in the fixture -> how to run it here (x[0] input, x[1] weight, ...).
const std::map<std::string, FunctionalCase>& functional_cases() {
  static const std::map<std::string, FunctionalCase> cases = {
      {"linear", [](auto& x, auto&) { return F::linear(x[0], x[1], x[2]); }},
      {"linear_nobias", [](auto& x, auto&) { return F::linear(x[0], x[1]); }},
      {"conv2d_3x3_pad1", [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2], 1, 1); }},
      {"conv2d_3x3_stride2_pad1",
       [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2], 2, 1); }},
      {"conv2d_3x3_nopad", [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2]); }},
      {"conv2d_4x4_stride2_pad1",
       [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2], 2, 1); }},
      {"conv2d_7x7_pad3", [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2], 1, 3); }},
      {"conv2d_1x1", [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2]); }},
      {"conv2d_1x1_nobias", [](auto& x, auto&) { return F::conv2d(x[0], x[1]); }},
      {"conv2d_1x1_stride2", [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2], 2); }},
      {"conv2d_groups2", [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2], 1, 1, 2); }},
      {"conv2d_depthwise", [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2], 1, 1, 3); }},
      {"conv2d_depthwise_x2",
       [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2], 2, 1, 3); }},
      {"conv2d_asymmetric",
       [](auto& x, auto&) { return F::conv2d(x[0], x[1], x[2], {2, 1}, {1, 0}); }},
      {"conv_transpose2d_4x4_stride2_pad1",
       [](auto& x, auto&) { return F::conv_transpose2d(x[0], x[1], x[2], 2, 1); }},
      {"conv_transpose2d_3x3_stride2_outpad1",
       [](auto& x, auto&) { return F::conv_transpose2d(x[0], x[1], x[2], 2, 1, 1); }},
      {"conv_transpose2d_2x2_stride2",
       [](auto& x, auto&) { return F::conv_transpose2d(x[0], x[1], x[2], 2); }},
      {"conv_transpose2d_3x3_pad1_nobias",
       [](auto& x, auto&) { return F::conv_transpose2d(x[0], x[1], Tensor(), 1, 1); }},
      {"group_norm_1group", [](auto& x, auto&) { return F::group_norm(x[0], 1, x[1], x[2]); }},
      {"group_norm_2groups", [](auto& x, auto&) { return F::group_norm(x[0], 2, x[1], x[2]); }},
      {"group_norm_4groups_of_2",
       [](auto& x, auto&) { return F::group_norm(x[0], 4, x[1], x[2]); }},
      {"group_norm_per_channel",
       [](auto& x, auto&) { return F::group_norm(x[0], 4, x[1], x[2]); }},
      {"group_norm_3d", [](auto& x, auto&) { return F::group_norm(x[0], 2, x[1], x[2]); }},
      {"group_norm_noaffine", [](auto& x, auto&) { return F::group_norm(x[0], 2); }},
      // The fused op against PyTorch's F.silu(F.group_norm(...)).
      {"group_norm_silu", [](auto& x, auto&) { return F::group_norm_silu(x[0], 2, x[1], x[2]); }},
      {"group_norm_silu_noaffine", [](auto& x, auto&) { return F::group_norm_silu(x[0], 3); }},
      {"layer_norm", [](auto& x, auto&) { return F::layer_norm(x[0], 8, x[1], x[2]); }},
      {"layer_norm_noaffine", [](auto& x, auto&) { return F::layer_norm(x[0], 6); }},
      {"embedding",
       [](auto& x, auto& f) { return F::embedding(f.at("embedding.index"), x[0]); }},
      {"max_pool2d_k2", [](auto& x, auto&) { return F::max_pool2d(x[0], 2); }},
      {"max_pool2d_k3_stride2_pad1", [](auto& x, auto&) { return F::max_pool2d(x[0], 3, 2, 1); }},
      {"max_pool2d_k3_stride1", [](auto& x, auto&) { return F::max_pool2d(x[0], 3, 1); }},
      {"avg_pool2d_k2", [](auto& x, auto&) { return F::avg_pool2d(x[0], 2); }},
      {"avg_pool2d_k3_stride2_pad1", [](auto& x, auto&) { return F::avg_pool2d(x[0], 3, 2, 1); }},
      {"avg_pool2d_k3_stride1_pad1", [](auto& x, auto&) { return F::avg_pool2d(x[0], 3, 1, 1); }},
      {"upsample_nearest2d_x2", [](auto& x, auto&) { return F::upsample_nearest2d(x[0], 2); }},
      {"upsample_nearest2d_x3", [](auto& x, auto&) { return F::upsample_nearest2d(x[0], 3); }},
      {"sinusoidal_embedding", [](auto& x, auto&) { return F::sinusoidal_embedding(x[0], 16); }},
      {"scaled_dot_product_attention",
       [](auto& x, auto&) { return F::scaled_dot_product_attention(x[0], x[1], x[2]); }},
      {"linear_attention",
       [](auto& x, auto&) { return F::linear_attention(x[0], x[1], x[2], 0.5f); }},
  };
  return cases;
}

// Looser tolerances where float32 meets large arguments: sin(t * f) with t up to 600 carries
// the float32 rounding of the angle (~600 * 6e-8) into the result.
double atol_for(const std::string& name) { return name == "sinusoidal_embedding" ? 3e-4 : 2e-5; }

using ModuleFactory = std::function<std::shared_ptr<nn::Module>()>;

// Module case name in the fixture -> the same model built from our layers.
const std::map<std::string, ModuleFactory>& module_cases() {
  static const std::map<std::string, ModuleFactory> cases = {
      {"self_attention", [] { return std::make_shared<nn::SelfAttention2d>(6, 3, 4); }},
      {"linear_attention_module",
       [] { return std::make_shared<nn::LinearAttention2d>(6, 2, 4); }},
      {"sequential",
       [] {
         return std::make_shared<nn::Sequential>(
             std::make_shared<nn::Conv2d>(2, 4, 3, 1, 1), std::make_shared<nn::GroupNorm>(2, 4),
             std::make_shared<nn::SiLU>(), std::make_shared<nn::Conv2d>(4, 4, 4, 2, 1),
             std::make_shared<nn::GELU>(), std::make_shared<nn::ConvTranspose2d>(4, 3, 4, 2, 1),
             std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
             std::make_shared<nn::Upsample>(2), std::make_shared<nn::AvgPool2d>(2),
             std::make_shared<nn::LayerNorm>(3), std::make_shared<nn::Conv2d>(3, 2, 1));
       }},
      {"time_mlp",
       [] {
         return std::make_shared<nn::Sequential>(
             std::make_shared<nn::SinusoidalEmbedding>(8), std::make_shared<nn::Linear>(8, 16),
             std::make_shared<nn::GELU>(), std::make_shared<nn::Linear>(16, 16));
       }},
      {"embedding_module", [] { return std::make_shared<nn::Embedding>(10, 4); }},
  };
  return cases;
}

// The "<prefix>.param.<name>" tensors of a fixture case as a state dict.
nn::NamedTensors params_from_fixture(const SafetensorsData& f, const std::string& prefix) {
  nn::NamedTensors state;
  const std::string marker = prefix + ".param.";
  for (const auto& [key, tensor] : f.tensors)
    if (key.rfind(marker, 0) == 0) state.emplace_back(key.substr(marker.size()), tensor);
  return state;
}

// The chapter-2 toy model (tutorial, "Reverse process"): two convolutions for the image and
// a Linear(1, 16) embedding of t added to every pixel of the hidden channels.
struct ToyModel : nn::Module {
  ToyModel() {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(3, 16, 3, 1, 1));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(16, 3, 3, 1, 1));
    linear = register_module("linear", std::make_shared<nn::Linear>(1, 16));
  }
  using nn::Module::forward;
  Tensor forward(const Tensor& x, const Tensor& t) {
    Tensor h = relu(conv1->forward(x));
    h = h + reshape(linear->forward(t), {-1, 16, 1, 1});  // one value per channel
    return conv2->forward(h);
  }
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Linear> linear;
};

}  // namespace

TEST_CASE("nn functional ops match PyTorch: output and the gradients of every input") {
  const SafetensorsData& f = test::fixture("nn");
  for (const auto& [name, fn] : functional_cases()) {
    SUBCASE(name.c_str()) {
      std::vector<Tensor> inputs = test::case_inputs(f, name);
      REQUIRE_FALSE(inputs.empty());
      Tensor out = fn(inputs, f);
      CHECK_CLOSE(out, f.at(name + ".out"), atol_for(name), 1e-4);
      out.backward(f.at(name + ".grad_out"));
      for (size_t i = 0; i < inputs.size(); ++i) {
        INFO("gradient of input " << i << " (0 = input, 1 = weight, 2 = bias)");
        CHECK_CLOSE(inputs[i].grad(), f.at(name + ".grad" + std::to_string(i)), atol_for(name),
                    1e-4);
      }
    }
  }
}

TEST_CASE("nn modules match PyTorch: parameters load by PyTorch's names, same output and grads") {
  const SafetensorsData& f = test::fixture("nn");
  for (const auto& [name, make] : module_cases()) {
    SUBCASE(name.c_str()) {
      std::shared_ptr<nn::Module> module = make();
      nn::NamedTensors params = params_from_fixture(f, name);
      REQUIRE_FALSE(params.empty());
      module->load_state_dict(params, "nn.safetensors:" + name);  // names must match 1:1
      const bool input_grad = f.find(name + ".grad_x") != nullptr;
      Tensor x = f.at(name + ".x").clone().set_requires_grad(input_grad);
      Tensor out = module->forward(x);
      CHECK_CLOSE(out, f.at(name + ".out"), 2e-5, 1e-4);
      out.backward(f.at(name + ".grad_out"));
      if (input_grad) {
        INFO("input gradient");
        CHECK_CLOSE(x.grad(), f.at(name + ".grad_x"), 2e-5, 1e-4);
      }
      for (const auto& [param_name, param] : module->named_parameters()) {
        INFO("gradient of " << param_name);
        CHECK_CLOSE(param.grad(), f.at(name + ".grad." + param_name), 2e-5, 1e-4);
      }
    }
  }
}

TEST_CASE("compose: the chapter-2 toy model gives PyTorch's MSE loss and parameter gradients") {
  const SafetensorsData& f = test::fixture("nn");
  ToyModel model;
  model.load_state_dict(params_from_fixture(f, "toy"), "nn.safetensors:toy");
  CHECK(model.num_parameters() == 16 * 3 * 9 + 16 + 3 * 16 * 9 + 3 + 16 + 16);
  Tensor predicted = model.forward(f.at("toy.x"), f.at("toy.t"));
  CHECK(predicted.shape() == Shape{2, 3, 8, 8});
  Tensor loss = mse_loss(predicted, f.at("toy.noise"));
  CHECK_CLOSE(loss, f.at("toy.loss"), 1e-6, 1e-5);
  loss.backward();
  int checked = 0;
  for (const auto& [name, param] : model.named_parameters()) {
    INFO("gradient of " << name);
    CHECK_CLOSE(param.grad(), f.at("toy.grad." + name), 1e-6, 1e-4);
    ++checked;
  }
  CHECK(checked == 6);
}

TEST_CASE("every case in nn.safetensors has a C++ counterpart") {
  const SafetensorsData& f = test::fixture("nn");
  std::set<std::string> names;
  for (const auto& [key, tensor] : f.tensors) names.insert(key.substr(0, key.find('.')));
  for (const std::string& name : names) {
    INFO("fixture case without a C++ counterpart: " << name);
    CHECK((functional_cases().count(name) == 1 || module_cases().count(name) == 1 ||
           name == "toy"));
  }
}
