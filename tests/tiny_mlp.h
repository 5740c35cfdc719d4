// tiny_mlp.h — the small model the training tests share, built from raw parameters and
// autograd ops (no layers): y = second(tanh(first(x))) with PyTorch's Linear layout
// (weight [out, in], bias [out]), so its state dict has the names and shapes of
// tests/fixtures/gen_optim.py's TinyMLP and PyTorch files load into it.
#pragma once

#include <memory>
#include <string>

#include "autograd/ops.h"
#include "nn/module.h"
#include "tests/helpers.h"

namespace drift::test {

struct RawLinear : nn::Module {
  RawLinear(int64_t in, int64_t out) {
    weight = register_parameter("weight", randn({out, in}) * 0.5f);
    bias = register_parameter("bias", randn({out}) * 0.1f);
  }
  // y = x W^T + b
  Tensor forward(const Tensor& x) override { return matmul(x, transpose(weight, 0, 1)) + bias; }
  std::string describe() const override { return "RawLinear"; }
  Tensor weight, bias;
};

struct TinyMLP : nn::Module {
  TinyMLP() {
    first = register_module("first", std::make_shared<RawLinear>(4, 6));
    second = register_module("second", std::make_shared<RawLinear>(6, 3));
  }
  Tensor forward(const Tensor& x) override { return second->forward(tanh(first->forward(x))); }
  std::string describe() const override { return "TinyMLP"; }
  std::shared_ptr<RawLinear> first, second;
};

// The initial weights of the optimizer fixture (PyTorch's nn.Linear initialisation).
inline void load_fixture_init(TinyMLP& model) {
  const SafetensorsData& fx = fixture("optim");
  nn::NamedTensors init;
  for (const char* name : {"first.weight", "first.bias", "second.weight", "second.bias"})
    init.emplace_back(name, fx.at(std::string("init.") + name));
  model.load_state_dict(init, "optim fixture");
}

}  // namespace drift::test
