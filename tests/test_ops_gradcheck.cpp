// test_ops_gradcheck.cpp — every differentiable op's backward against central finite
// differences (autograd/gradcheck.h), on inputs away from kinks.
//
// The elementwise ops are checked from one table per op family, keyed by the lists of
// tensor/elementwise_ops.h (UnaryOp, BinaryOp): each op says how the public API reaches it
// and on which inputs. The tests walk kAllUnaryOps / kAllBinaryOps, so an op added to a list
// without an entry here fails, naming the op and this file.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <string>

#include "autograd/node.h"
#include "nn/functional.h"
#include "tensor/backend.h"
#include "tests/helpers.h"

using namespace drift;
namespace F = drift::nn::F;

namespace {

Tensor input(const Shape& shape, uint64_t seed, float scale = 1.0f) {
  Generator g(seed);
  return (randn(shape, Device::cpu(), &g) * scale).detach().set_requires_grad(true);
}

Tensor positive_input(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return (rand(shape, Device::cpu(), &g) * 2.0f + 0.5f).detach().set_requires_grad(true);
}

// Values with |x| >= 0.2 so a finite-difference step never crosses a kink at 0.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  std::vector<float> v = input(shape, seed).to_vector();
  for (float& x : v)
    if (std::fabs(x) < 0.2f) x += x < 0 ? -0.2f : 0.2f;
  return from_vector(v, shape).set_requires_grad(true);
}

using Fn = GradcheckFn;
using Inputs = std::vector<Tensor>;

// ---- the elementwise op tables ------------------------------------------------------------

// The inputs a check runs on: the op's valid (and kink-free) domain, named for the report.
struct Domain {
  const char* name;
  std::function<Inputs()> make;
};

// One gradcheck: the public call that reaches the op, written as in C++, and its inputs.
struct Check {
  const char* call;
  Domain domain;
  Fn fn;
};

// An op's entry: the checks that reach it through the public API. `note` says what else
// there is to know (an op reached only indirectly, a derivative no gradient ever asks for).
struct Entry {
  std::vector<Check> checks;
  const char* note = nullptr;
};

// The domains of the unary checks.
const Domain kAny{"any x (randn [4, 5])", [] { return Inputs{input({4, 5}, 11)}; }};
const Domain kPositive{"x in [0.5, 2.5)", [] { return Inputs{positive_input({4, 5}, 12)}; }};
const Domain kAwayFromKink{"|x| >= 0.2 (no kink at 0 within a step)", [] {
                             return Inputs{away_from_zero({4, 5}, 13)};
                           }};
// clamp: values chosen away from the bounds -1 and 1 by more than a step.
const Domain kClampValues{"x in {-2, -1.1, -0.3, 0.1, 0.45, 0.9, 1.6, 3}", [] {
                            std::vector<float> v = {-2.0f, -1.1f, -0.3f, 0.1f,
                                                    0.45f, 0.9f,  1.6f,  3.0f};
                            return Inputs{from_vector(v).set_requires_grad(true)};
                          }};
// The pointwise losses: any pair, and a pair whose difference keeps |d| >= 0.2 (l1 and
// huber have kinks at d = 0, and huber's slope changes at |d| = delta).
const Domain kLossPair{"input, target (randn [4, 5])", [] {
                         return Inputs{input({4, 5}, 51), input({4, 5}, 52)};
                       }};
const Domain kLossPairApart{"input, target with |input - target| >= 0.2", [] {
                              Tensor base = input({4, 5}, 53);
                              Tensor offset = away_from_zero({4, 5}, 54);
                              return Inputs{(base + offset).detach().set_requires_grad(true),
                                            base.detach().set_requires_grad(true)};
                            }};
const Domain kPositiveFive{"x in [0.5, 2.5) ([5])", [] { return Inputs{positive_input({5}, 9)}; }};

// Every op of DRIFT_UNARY_OPS. To add an op: its entry here, reached through the public API.
const std::map<UnaryOp, Entry>& unary_gradchecks() {
  static const std::map<UnaryOp, Entry> table = {
      {UnaryOp::Neg, {{{"neg(x)", kAny, [](auto& x) { return neg(x[0]); }}}}},
      {UnaryOp::Exp, {{{"exp(x)", kAny, [](auto& x) { return exp(x[0]); }}}}},
      {UnaryOp::Log, {{{"log(x)", kPositive, [](auto& x) { return log(x[0]); }}}}},
      {UnaryOp::Sqrt, {{{"sqrt(x)", kPositive, [](auto& x) { return sqrt(x[0]); }}}}},
      {UnaryOp::Abs,
       {{{"abs(x)", kAwayFromKink, [](auto& x) { return abs(x[0]); }},
         {"l1_loss(input, target)", kLossPairApart, [](auto& t) { return l1_loss(t[0], t[1]); }}}}},
      {UnaryOp::Sin, {{{"sin(x)", kAny, [](auto& x) { return sin(x[0]); }}}}},
      {UnaryOp::Cos, {{{"cos(x)", kAny, [](auto& x) { return cos(x[0]); }}}}},
      {UnaryOp::Relu, {{{"relu(x)", kAwayFromKink, [](auto& x) { return relu(x[0]); }}}}},
      {UnaryOp::Silu, {{{"silu(x)", kAny, [](auto& x) { return silu(x[0]); }}}}},
      {UnaryOp::Gelu, {{{"gelu(x)", kAny, [](auto& x) { return gelu(x[0]); }}}}},
      {UnaryOp::Sigmoid, {{{"sigmoid(x)", kAny, [](auto& x) { return sigmoid(x[0]); }}}}},
      {UnaryOp::Tanh, {{{"tanh(x)", kAny, [](auto& x) { return tanh(x[0]); }}}}},
      // Exponents: a fractional one (x must be positive), a whole one (any x), and -1, which
      // is how the public API divides a scalar by a tensor (2 / x = pow(x, -1) * 2).
      {UnaryOp::Pow,
       {{{"pow(x, 2.5)", kPositive, [](auto& x) { return pow(x[0], 2.5f); }},
         {"pow(x, 3)", kAny, [](auto& x) { return pow(x[0], 3.0f); }},
         {"2 / x", kPositiveFive, [](auto& x) { return 2.0f / x[0]; }}}}},
      // square(x), and mse_loss, whose penalty it is.
      {UnaryOp::Square,
       {{{"square(x)", kAny, [](auto& x) { return square(x[0]); }},
         {"mse_loss(input, target)", kLossPair, [](auto& t) { return mse_loss(t[0], t[1]); }},
         {"mse_loss(input, target, Sum)", kLossPair,
          [](auto& t) { return mse_loss(t[0], t[1], Reduction::Sum); }},
         {"mse_loss(input, target, None)", kLossPair,
          [](auto& t) { return mse_loss(t[0], t[1], Reduction::None); }}}}},
      {UnaryOp::Clamp,
       {{{"clamp(x, -1, 1)", kClampValues, [](auto& x) { return clamp(x[0], -1.0f, 1.0f); }}}}},
      // x + s, x - s, s - x (neg, then + s) and the scalar operators in one expression.
      {UnaryOp::AddScalar,
       {{{"x + 1", kAny, [](auto& x) { return x[0] + 1.0f; }},
         {"x - 2.5", kAny, [](auto& x) { return x[0] - 2.5f; }},
         {"1 - x", kAny, [](auto& x) { return 1.0f - x[0]; }},
         {"2 / x - 3 x + 1 - x / 4", kPositiveFive,
          [](auto& x) { return 2.0f / x[0] - 3.0f * x[0] + 1.0f - x[0] / 4.0f; }}}}},
      {UnaryOp::MulScalar,
       {{{"x * -1.5", kAny, [](auto& x) { return x[0] * -1.5f; }},
         {"3 * x", kAny, [](auto& x) { return 3.0f * x[0]; }},
         {"x / 4", kAny, [](auto& x) { return x[0] / 4.0f; }}}}},
      // Huber is huber_loss's penalty, with delta = p0: a small delta (the linear part
      // everywhere) and a large one (the quadratic part everywhere).
      {UnaryOp::Huber,
       {{{"huber_loss(input, target, 0.1)", kLossPairApart,
          [](auto& t) { return huber_loss(t[0], t[1], 0.1f); }},
         {"huber_loss(input, target, 5)", kLossPairApart,
          [](auto& t) { return huber_loss(t[0], t[1], 5.0f); }}}}},
      // Step builds dropout's mask from uniform draws. A fixed generator gives the same mask
      // at every finite difference, so this checks dropout's gradient dx = dy * mask.
      {UnaryOp::Step,
       {{{"F::dropout(x, 0.3, training, Generator(5))",
          {"x (randn [4, 6])",
           [] {
             return Inputs{input({4, 6}, 14)};
           }},
          [](auto& x) {
            Generator gen(5);
            return F::dropout(x[0], 0.3f, true, &gen);
          }}},
        "Step's own derivative (0) is never asked for by autograd: the mask is a constant "
        "factor of mul. tests/test_elementwise_kernels.cpp checks that kernel directly."}},
  };
  return table;
}

// Every op of DRIFT_BINARY_OPS, with broadcasting shapes.
const std::map<BinaryOp, Entry>& binary_gradchecks() {
  static const std::map<BinaryOp, Entry> table = {
      {BinaryOp::Add,
       {{{"a + b",
          {"a [2, 3, 4], b [3, 1]",
           [] {
             return Inputs{input({2, 3, 4}, 1), input({3, 1}, 2)};
           }},
          [](auto& x) { return x[0] + x[1]; }}}}},
      {BinaryOp::Sub,
       {{{"a - b",
          {"a [4, 1], b [1, 5]",
           [] {
             return Inputs{input({4, 1}, 3), input({1, 5}, 4)};
           }},
          [](auto& x) { return x[0] - x[1]; }}}}},
      {BinaryOp::Mul,
       {{{"a * b",
          {"a [2, 3, 4], b [4]",
           [] {
             return Inputs{input({2, 3, 4}, 5), input({4}, 6)};
           }},
          [](auto& x) { return x[0] * x[1]; }}}}},
      {BinaryOp::Div,
       {{{"a / b",
          {"a [3, 4], b [3, 1] in [0.5, 2.5)",
           [] {
             return Inputs{input({3, 4}, 7), positive_input({3, 1}, 8)};
           }},
          [](auto& x) { return x[0] / x[1]; }}}}},
  };
  return table;
}

// Runs an op's entry; an op without one fails, naming the op and this file.
template <class Op>
void run_entry(const std::map<Op, Entry>& table, Op op, const std::string& name) {
  auto it = table.find(op);
  if (it == table.end()) {
    FAIL_CHECK("add a gradcheck entry for " << name << " in tests/test_ops_gradcheck.cpp");
    return;
  }
  const Entry& entry = it->second;
  INFO("op " << name << (entry.note ? ". " + std::string(entry.note) : std::string()));
  CHECK_MESSAGE(!entry.checks.empty(), "the gradcheck entry for " << name << " has no check");
  for (const Check& check : entry.checks) {
    INFO(std::string(check.call) << " on " << std::string(check.domain.name));
    CHECK_GRADCHECK(check.fn, check.domain.make());
  }
}

}  // namespace

TEST_CASE("gradcheck: every unary op of tensor/elementwise_ops.h") {
  for (UnaryOp op : kAllUnaryOps) run_entry(unary_gradchecks(), op, unary_op_name(op));
}

TEST_CASE("gradcheck: every binary op of tensor/elementwise_ops.h, with broadcasting") {
  for (BinaryOp op : kAllBinaryOps) run_entry(binary_gradchecks(), op, binary_op_name(op));
}

TEST_CASE("gradcheck: reductions and softmax") {
  std::vector<Tensor> x = {input({3, 4, 5}, 21)};
  CHECK_GRADCHECK(Fn([](auto& t) { return sum(t[0]); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return sum(t[0], {0, 2}); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return sum(t[0], {1}, true); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return mean(t[0]); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return mean(t[0], {-1}, true); }), x);
  // max: distinct values spaced further apart than the finite-difference step.
  std::vector<float> spaced(60);
  for (size_t i = 0; i < spaced.size(); ++i) spaced[i] = static_cast<float>((i * 37) % 60) * 0.1f;
  std::vector<Tensor> distinct = {from_vector(spaced, {3, 4, 5}).set_requires_grad(true)};
  CHECK_GRADCHECK(Fn([](auto& t) { return max(t[0]); }), distinct);
  CHECK_GRADCHECK(Fn([](auto& t) { return max(t[0], 1); }), distinct);
  CHECK_GRADCHECK(Fn([](auto& t) { return max(t[0], 2, true); }), distinct);
  CHECK_GRADCHECK(Fn([](auto& t) { return softmax(t[0], -1); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return softmax(t[0], 1); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return log_softmax(t[0], -1); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return log_softmax(t[0], 0); }), x);
}

TEST_CASE("gradcheck: shape and indexing ops") {
  std::vector<Tensor> x = {input({2, 3, 4}, 31)};
  CHECK_GRADCHECK(Fn([](auto& t) { return reshape(t[0], {4, -1}) * 2.0f; }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return flatten(unsqueeze(t[0], 0), 2); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return squeeze(unsqueeze(t[0], 1), 1); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return transpose(t[0], 0, 2); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) { return permute(t[0], {1, 2, 0}); }), x);
  CHECK_GRADCHECK(Fn([](auto& t) {
                    return cat({t[0], t[1], t[0]}, 1);
                  }),
                  (std::vector<Tensor>{input({2, 1, 3}, 32), input({2, 4, 3}, 33)}));
  CHECK_GRADCHECK(Fn([](auto& t) { return slice(t[0], -2, 1, -1); }), x);
  Tensor index = from_vector({2, 0, 2, 1});
  CHECK_GRADCHECK(Fn([index](auto& t) { return index_select(t[0], 1, index); }), x);
  Tensor gather_index = from_vector({0, 2, 2, 1, 1, 0}, {2, 3});
  CHECK_GRADCHECK(Fn([gather_index](auto& t) { return gather(t[0], 1, gather_index); }),
                  (std::vector<Tensor>{input({2, 4}, 34)}));
}

TEST_CASE("gradcheck: matmul, 2-D and batched") {
  CHECK_GRADCHECK(Fn([](auto& t) { return matmul(t[0], t[1]); }),
                  (std::vector<Tensor>{input({3, 5}, 41), input({5, 4}, 42)}));
  CHECK_GRADCHECK(Fn([](auto& t) { return matmul(t[0], t[1]); }),
                  (std::vector<Tensor>{input({2, 3, 5}, 43), input({2, 5, 4}, 44)}));
  CHECK_GRADCHECK(Fn([](auto& t) { return matmul(t[0], t[1]); }),
                  (std::vector<Tensor>{input({2, 3, 5}, 45), input({5, 4}, 46)}));
  CHECK_GRADCHECK(Fn([](auto& t) { return matmul(t[0], t[1]); }),
                  (std::vector<Tensor>{input({3, 5}, 47), input({2, 5, 4}, 48)}));
}

TEST_CASE("gradcheck: cross-entropy") {
  // (mse_loss, l1_loss and huber_loss are in the unary table above, under their penalty op:
  // Square, Abs, Huber.)
  Tensor target = from_vector({1, 0, 3});
  CHECK_GRADCHECK(Fn([target](auto& t) { return cross_entropy(t[0], target); }),
                  (std::vector<Tensor>{input({3, 4}, 55, 2.0f)}));
  CHECK_GRADCHECK(Fn([target](auto& t) { return cross_entropy(t[0], target, Reduction::None); }),
                  (std::vector<Tensor>{input({3, 4}, 56, 2.0f)}));
}

TEST_CASE("gradcheck reports a wrong backward") {
  // A deliberately wrong derivative (d/dx x^3 claimed to be 2x^2) must be caught.
  Fn wrong = [](const std::vector<Tensor>& t) {
    Tensor x = t[0];
    Tensor y = pow(x.detach(), 3.0f);
    return record("wrong_cube", y, {x}, [x](const Tensor& gy) {
      return std::vector<Tensor>{gy * 2.0f * x.detach() * x.detach()};
    });
  };
  GradcheckResult r = gradcheck(wrong, {input({5}, 61)});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("FAILED") != std::string::npos);
  CHECK(r.message.find("input 0") != std::string::npos);
}

// Forward unchanged, gradient scaled by `factor`: y·factor − y·(factor − 1) with the second
// term cut from the graph. How a 1%-wrong backward of any op is made for the test below.
static Tensor scaled_gradient(const Tensor& y, float factor) {
  return y * factor - y.detach() * (factor - 1.0f);
}

TEST_CASE("gradcheck is sharp: a backward 1% wrong fails, the right one passes") {
  // A student's own op through the public record API: softplus, derivative sigmoid(x).
  auto softplus = [](float scale) {
    return Fn([scale](const std::vector<Tensor>& t) {
      Tensor x = t[0];
      Tensor y = log(exp(x.detach()) + 1.0f);
      return record("softplus", y, {x}, [x, scale](const Tensor& gy) {
        return std::vector<Tensor>{gy * sigmoid(x.detach()) * scale};
      });
    });
  };
  CHECK_GRADCHECK(softplus(1.0f), (std::vector<Tensor>{input({5}, 71)}));
  CHECK_FALSE(gradcheck(softplus(1.01f), {input({5}, 71)}).ok);

  const Tensor weight = input({3, 2, 3, 3}, 75, 0.5f);
  const std::map<std::string, std::function<Tensor(const std::vector<Tensor>&)>> ops = {
      {"elementwise tanh", [](auto& t) { return tanh(t[0]); }},
      {"reduction sum over dim 1", [](auto& t) { return sum(t[0] * t[0], {1}); }},
      {"matmul", [](auto& t) { return matmul(t[0], t[1]); }},
      {"conv2d", [weight](auto& t) {
         return F::conv2d(reshape(t[0], {1, 2, 4, 4}), weight, Tensor(), 1, 1);
       }}};
  for (const auto& [name, op] : ops) {
    INFO(name);
    const std::vector<Tensor> in = {input({4, 8}, 72), input({8, 3}, 73)};
    auto first = [&](const std::vector<Tensor>& t) {
      return name == "matmul" ? op(t) : op({t[0]});
    };
    const std::vector<Tensor> args = name == "matmul" ? in : std::vector<Tensor>{in[0]};
    CHECK_GRADCHECK(Fn(first), args);
    for (float factor : {1.01f, 0.99f}) {
      GradcheckResult r = gradcheck(
          [&](const std::vector<Tensor>& t) { return scaled_gradient(first(t), factor); }, args);
      INFO("gradient scaled by " << factor << ": " << r.message);
      CHECK_FALSE(r.ok);
    }
  }
}

TEST_CASE("gradcheck fails on NaN, on either side") {
  Fn nan_backward = [](const std::vector<Tensor>& t) {
    Tensor x = t[0];
    return record("nan_grad", x.detach() * 2.0f, {x},
                  [](const Tensor& gy) { return std::vector<Tensor>{gy * NAN}; });
  };
  GradcheckResult r = gradcheck(nan_backward, {input({3}, 81)});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("analytic nan") != std::string::npos);
  Fn nan_forward = [](const std::vector<Tensor>& t) { return log(t[0] - 100.0f); };  // all NaN
  r = gradcheck(nan_forward, {input({3}, 82)});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("FAILED") != std::string::npos);
}
