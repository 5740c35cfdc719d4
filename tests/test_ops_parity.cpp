// test_ops_parity.cpp — every differentiable op against PyTorch: the same inputs and upstream
// gradient (tests/fixtures/ops.safetensors, made by tests/fixtures/generate.py) must give
// the same output and the same input gradients. Every op of the lists in
// tensor/elementwise_ops.h must be exercised by at least one case (elementwise_op_cases).
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nn/functional.h"
#include "tensor/backend.h"
#include "tests/helpers.h"

using namespace drift;
namespace F = drift::nn::F;

namespace {

using OpFn = std::function<Tensor(const std::vector<Tensor>&, const SafetensorsData&)>;

// Case name in the fixture -> how to run it here.
const std::map<std::string, OpFn>& parity_cases() {
  static const std::map<std::string, OpFn> cases = {
      {"add", [](auto& x, auto&) { return x[0] + x[1]; }},
      {"sub", [](auto& x, auto&) { return x[0] - x[1]; }},
      {"mul", [](auto& x, auto&) { return x[0] * x[1]; }},
      {"div", [](auto& x, auto&) { return x[0] / x[1]; }},
      {"add_scalar", [](auto& x, auto&) { return x[0] + 2.5f; }},
      {"mul_scalar", [](auto& x, auto&) { return x[0] * -1.5f; }},
      {"rsub_scalar", [](auto& x, auto&) { return 1.0f - x[0]; }},
      {"rdiv_scalar", [](auto& x, auto&) { return 2.0f / x[0]; }},
      {"neg", [](auto& x, auto&) { return neg(x[0]); }},
      {"exp", [](auto& x, auto&) { return exp(x[0]); }},
      {"log", [](auto& x, auto&) { return log(x[0]); }},
      {"sqrt", [](auto& x, auto&) { return sqrt(x[0]); }},
      {"abs", [](auto& x, auto&) { return abs(x[0]); }},
      {"sin", [](auto& x, auto&) { return sin(x[0]); }},
      {"cos", [](auto& x, auto&) { return cos(x[0]); }},
      {"pow", [](auto& x, auto&) { return pow(x[0], 2.5f); }},
      {"pow_int", [](auto& x, auto&) { return pow(x[0], 3.0f); }},
      {"square", [](auto& x, auto&) { return square(x[0]); }},
      {"clamp", [](auto& x, auto&) { return clamp(x[0], -0.5f, 0.7f); }},
      {"relu", [](auto& x, auto&) { return relu(x[0]); }},
      {"silu", [](auto& x, auto&) { return silu(x[0]); }},
      {"gelu", [](auto& x, auto&) { return gelu(x[0]); }},
      {"sigmoid", [](auto& x, auto&) { return sigmoid(x[0]); }},
      {"tanh", [](auto& x, auto&) { return tanh(x[0]); }},
      {"sum_all", [](auto& x, auto&) { return sum(x[0]); }},
      {"sum_dims",
       [](auto& x, auto&) {
         return sum(x[0], {0, 2});
       }},
      {"sum_keepdim", [](auto& x, auto&) { return sum(x[0], {1}, true); }},
      {"mean_all", [](auto& x, auto&) { return mean(x[0]); }},
      {"mean_dims",
       [](auto& x, auto&) {
         return mean(x[0], {-1, -2}, true);
       }},
      {"max_all", [](auto& x, auto&) { return max(x[0]); }},
      {"max_dim", [](auto& x, auto&) { return max(x[0], 1); }},
      {"max_keepdim", [](auto& x, auto&) { return max(x[0], 0, true); }},
      {"softmax_last", [](auto& x, auto&) { return softmax(x[0], -1); }},
      {"softmax_mid", [](auto& x, auto&) { return softmax(x[0], 1); }},
      {"log_softmax_last", [](auto& x, auto&) { return log_softmax(x[0], -1); }},
      {"log_softmax_first", [](auto& x, auto&) { return log_softmax(x[0], 0); }},
      {"reshape",
       [](auto& x, auto&) {
         return reshape(x[0], {4, -1});
       }},
      {"transpose", [](auto& x, auto&) { return transpose(x[0], 0, 2); }},
      {"permute",
       [](auto& x, auto&) {
         return permute(x[0], {2, 0, 3, 1});
       }},
      {"cat",
       [](auto& x, auto&) {
         return cat({x[0], x[1], x[2]}, 1);
       }},
      {"slice", [](auto& x, auto&) { return slice(x[0], 1, 1, 4); }},
      {"index_select",
       [](auto& x, auto& f) { return index_select(x[0], 1, f.at("index_select.index")); }},
      {"gather", [](auto& x, auto& f) { return gather(x[0], 1, f.at("gather.index")); }},
      {"matmul_2d", [](auto& x, auto&) { return matmul(x[0], x[1]); }},
      {"matmul_batched", [](auto& x, auto&) { return matmul(x[0], x[1]); }},
      {"matmul_batched_2d", [](auto& x, auto&) { return matmul(x[0], x[1]); }},
      {"matmul_2d_batched", [](auto& x, auto&) { return matmul(x[0], x[1]); }},
      {"matmul_4d", [](auto& x, auto&) { return matmul(x[0], x[1]); }},
      {"mse", [](auto& x, auto&) { return mse_loss(x[0], x[1]); }},
      {"mse_sum", [](auto& x, auto&) { return mse_loss(x[0], x[1], Reduction::Sum); }},
      {"mse_none", [](auto& x, auto&) { return mse_loss(x[0], x[1], Reduction::None); }},
      {"l1", [](auto& x, auto&) { return l1_loss(x[0], x[1]); }},
      {"huber", [](auto& x, auto&) { return huber_loss(x[0], x[1]); }},
      {"huber_half", [](auto& x, auto&) { return huber_loss(x[0], x[1], 0.5f); }},
      {"cross_entropy",
       [](auto& x, auto& f) { return cross_entropy(x[0], f.at("cross_entropy.target")); }},
      {"cross_entropy_none",
       [](auto& x, auto& f) {
         return cross_entropy(x[0], f.at("cross_entropy_none.target"), Reduction::None);
       }},
      {"l1_sum", [](auto& x, auto&) { return l1_loss(x[0], x[1], Reduction::Sum); }},
      {"l1_none", [](auto& x, auto&) { return l1_loss(x[0], x[1], Reduction::None); }},
      {"huber_sum", [](auto& x, auto&) { return huber_loss(x[0], x[1], 1.0f, Reduction::Sum); }},
      {"huber_none", [](auto& x, auto&) { return huber_loss(x[0], x[1], 0.5f, Reduction::None); }},
      {"cross_entropy_sum",
       [](auto& x, auto& f) {
         return cross_entropy(x[0], f.at("cross_entropy_sum.target"), Reduction::Sum);
       }},
      // The fixture's mask is drift's Philox stream for seed 5 (see gen_core.py).
      {"dropout",
       [](auto& x, auto&) {
         Generator gen(5);
         return F::dropout(x[0], 0.25f, true, &gen);
       }},
  };
  return cases;
}

// The fixture cases that exercise each op of tensor/elementwise_ops.h's lists, directly or
// as a building block (l1_loss's penalty is abs, 2 / x is pow(x, -1) times 2, ...).
// To add an op: a case in tests/fixtures/gen_core.py, its entry in parity_cases() above and
// its row here.
const std::map<UnaryOp, std::vector<std::string>>& unary_op_cases() {
  static const std::map<UnaryOp, std::vector<std::string>> cases = {
      {UnaryOp::Neg, {"neg", "rsub_scalar"}},
      {UnaryOp::Exp, {"exp"}},
      {UnaryOp::Log, {"log"}},
      {UnaryOp::Sqrt, {"sqrt"}},
      {UnaryOp::Abs, {"abs", "l1"}},
      {UnaryOp::Sin, {"sin"}},
      {UnaryOp::Cos, {"cos"}},
      {UnaryOp::Relu, {"relu"}},
      {UnaryOp::Silu, {"silu"}},
      {UnaryOp::Gelu, {"gelu"}},
      {UnaryOp::Sigmoid, {"sigmoid"}},
      {UnaryOp::Tanh, {"tanh"}},
      {UnaryOp::Pow, {"pow", "pow_int", "rdiv_scalar"}},
      {UnaryOp::Square, {"square", "mse", "mse_sum", "mse_none"}},
      {UnaryOp::Clamp, {"clamp"}},
      {UnaryOp::AddScalar, {"add_scalar", "rsub_scalar"}},
      {UnaryOp::MulScalar, {"mul_scalar", "rdiv_scalar"}},
      {UnaryOp::Huber, {"huber", "huber_half"}},
      {UnaryOp::Step, {"dropout"}},  // dropout's mask
  };
  return cases;
}

const std::map<BinaryOp, std::vector<std::string>>& binary_op_cases() {
  static const std::map<BinaryOp, std::vector<std::string>> cases = {
      {BinaryOp::Add, {"add"}},
      {BinaryOp::Sub, {"sub"}},
      {BinaryOp::Mul, {"mul", "dropout"}},
      {BinaryOp::Div, {"div"}},
  };
  return cases;
}

// Checks that `op` has a row naming cases that exist, both here and in the fixture file.
template <class Op>
void check_op_has_cases(const std::map<Op, std::vector<std::string>>& table, Op op,
                        const std::string& name, const SafetensorsData& f) {
  auto it = table.find(op);
  if (it == table.end() || it->second.empty()) {
    FAIL_CHECK("op " << name
                     << " has no PyTorch parity case: add one to "
                        "tests/fixtures/gen_core.py (then regenerate) and name it for "
                     << name << " in tests/test_ops_parity.cpp");
    return;
  }
  for (const std::string& c : it->second) {
    INFO("op " << name << ": case " << c);
    CHECK_MESSAGE(parity_cases().count(c) == 1, "not a case of parity_cases()");
    CHECK_MESSAGE(f.find(c + ".out") != nullptr, "not a case of tests/fixtures/ops.safetensors");
  }
}

}  // namespace

TEST_CASE("every op matches PyTorch: output and input gradients") {
  const SafetensorsData& f = test::fixture("ops");
  int checked = 0;
  for (const auto& [name, fn] : parity_cases()) {
    SUBCASE(name.c_str()) {
      std::vector<Tensor> inputs = test::case_inputs(f, name);
      REQUIRE_FALSE(inputs.empty());
      Tensor out = fn(inputs, f);
      CHECK_CLOSE(out, f.at(name + ".out"), 1e-5, 1e-4);
      out.backward(f.at(name + ".grad_out"));
      for (size_t i = 0; i < inputs.size(); ++i) {
        INFO("gradient of input " << i);
        CHECK_CLOSE(inputs[i].grad(), f.at(name + ".grad" + std::to_string(i)), 1e-5, 1e-4);
      }
      ++checked;
    }
  }
  // Every case in the fixture file has an entry here (no reference value goes unchecked).
  for (const auto& [key, tensor] : f.tensors) {
    std::string name = key.substr(0, key.find('.'));
    INFO("fixture case without a C++ counterpart: " << name);
    CHECK(parity_cases().count(name) == 1);
  }
}

TEST_CASE("every elementwise op of tensor/elementwise_ops.h has a PyTorch parity case") {
  const SafetensorsData& f = test::fixture("ops");
  for (UnaryOp op : kAllUnaryOps) check_op_has_cases(unary_op_cases(), op, unary_op_name(op), f);
  for (BinaryOp op : kAllBinaryOps)
    check_op_has_cases(binary_op_cases(), op, binary_op_name(op), f);
}
