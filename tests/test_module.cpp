// test_module.cpp — the Module system: registration, dotted names, state dicts, modes.
#include <doctest/doctest.h>

#include "nn/module.h"
#include "tensor/error.h"
#include "tests/helpers.h"

using namespace drift;

namespace {

// A tiny two-level model built directly from tensors (no layers needed).
struct Affine : nn::Module {
  Affine(int64_t in, int64_t out) {
    weight = register_parameter("weight", randn({in, out}));
    bias = register_parameter("bias", zeros({out}));
  }
  Tensor forward(const Tensor& x) override { return matmul(x, weight) + bias; }
  std::string describe() const override { return "Affine"; }
  Tensor weight, bias;
};

struct TwoLayer : nn::Module {
  TwoLayer() {
    first = register_module("first", std::make_shared<Affine>(3, 4));
    second = register_module("second", std::make_shared<Affine>(4, 2));
    scale = register_buffer("scale", full({1}, 2.0f));
  }
  Tensor forward(const Tensor& x) override { return second->forward(relu(first->forward(x))) * scale; }
  std::shared_ptr<Affine> first, second;
  Tensor scale;
};

}  // namespace

TEST_CASE("parameters get dotted names in registration order") {
  TwoLayer m;
  nn::NamedTensors named = m.named_parameters();
  REQUIRE(named.size() == 4);
  CHECK(named[0].first == "first.weight");
  CHECK(named[3].first == "second.bias");
  CHECK(m.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2);
  CHECK(m.named_buffers().at(0).first == "scale");
  CHECK(m.state_dict().size() == 5);
  for (const Tensor& p : m.parameters()) CHECK(p.requires_grad());
  // The registry and the field are the same tensor.
  CHECK(m.named_parameters()[0].second.same(m.first->weight));
}

TEST_CASE("duplicate or dotted names are rejected") {
  struct Bad : nn::Module {
    void add_twice() {
      register_parameter("w", zeros({1}));
      register_parameter("w", zeros({1}));
    }
    void add_dotted() { register_buffer("a.b", zeros({1})); }
  } bad;
  CHECK_THROWS_WITH_AS(bad.add_twice(), doctest::Contains("'w' is already registered"), Error);
  CHECK_THROWS_WITH_AS(bad.add_dotted(), doctest::Contains("invalid name 'a.b'"), Error);
}

TEST_CASE("state dict round trip and its errors") {
  TwoLayer a, b;
  b.load_state_dict(a.state_dict());
  Tensor x = randn({5, 3});
  CHECK(a.forward(x).to_vector() == b.forward(x).to_vector());
  nn::NamedTensors state = a.state_dict();
  nn::NamedTensors missing;
  for (const auto& entry : state)
    if (entry.first != "first.weight") missing.push_back(entry);
  CHECK_THROWS_WITH_AS(b.load_state_dict(missing, "ckpt.safetensors"),
                       doctest::Contains("ckpt.safetensors: missing tensor 'first.weight'"), Error);
  nn::NamedTensors extra = state;
  extra.emplace_back("third.weight", zeros({1}));
  CHECK_THROWS_WITH_AS(b.load_state_dict(extra), doctest::Contains("unexpected tensor 'third.weight'"),
                       Error);
  nn::NamedTensors wrong = state;
  for (auto& entry : wrong)
    if (entry.first == "first.bias") entry.second = zeros({5});
  CHECK_THROWS_WITH_AS(b.load_state_dict(wrong),
                       doctest::Contains("'first.bias' has shape [5] but the model expects [4]"),
                       Error);
}

TEST_CASE("train/eval propagate; zero_grad clears; summary lists every parameter") {
  TwoLayer m;
  m.eval();
  CHECK_FALSE(m.first->is_training());
  m.train();
  CHECK(m.second->is_training());
  sum(m.forward(randn({2, 3}))).backward();
  CHECK(m.first->weight.grad().defined());
  m.zero_grad();
  CHECK_FALSE(m.first->weight.grad().defined());
  std::string s = m.summary();
  CHECK(s.find("first: Affine") != std::string::npos);
  CHECK(s.find("[3, 4]") != std::string::npos);
  CHECK(s.find("total trainable parameters: 26") != std::string::npos);
  CHECK_THROWS_WITH_AS(nn::Module().forward(zeros({1})), doctest::Contains("no single-input"), Error);
}

TEST_CASE("to(device) keeps parameter identity") {
  TwoLayer m;
  Tensor handle = m.first->weight;
  m.to(Device::cpu());
  CHECK(handle.same(m.named_parameters()[0].second));
  CHECK(m.device() == Device::cpu());
  if (!test::gpu_available_or_say("module to(cuda)")) return;
  m.to(Device::cuda());
  CHECK(handle.device() == Device::cuda());
  CHECK(m.first->weight.device() == Device::cuda());
}
