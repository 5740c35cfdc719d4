// engine.cpp — reverse-mode automatic differentiation: recording nodes and running backward.
//
// backward(L) computes dL/dx for every leaf x that requires a gradient:
//   1. Topological sort: walk the graph from L through each node's inputs (iteratively, with
//      an explicit stack, so deep graphs cannot overflow the call stack) and list the tensors
//      so that every tensor comes after all tensors computed from it.
//   2. Seed dL/dL = 1 (or the given output gradient).
//   3. In that order, hand each tensor's finished gradient to its node's backward closure and
//      add the results into the gradients of the node's inputs (the chain rule; a tensor used
//      twice receives the sum of both contributions — the multivariate chain rule).
//   4. Leaves accumulate into .grad (added to what is already there, like PyTorch).
// Each node is released as soon as it has run: its saved tensors are freed at once, and a
// second backward() through the same graph is an error rather than a silent wrong answer.
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {

namespace {
thread_local bool grad_enabled = true;
}

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

Tensor record(const char* name, Tensor output, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!is_grad_enabled()) return output;
  bool needed = false;
  for (const Tensor& t : inputs) needed = needed || (t.defined() && t.requires_grad());
  if (!needed) return output;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  output.impl()->requires_grad = true;
  output.set_grad_fn(std::move(node));
  return output;
}

namespace {

// `into` += `grad`, out of place for gradients still flowing through the graph (they may be
// shared), in place for a leaf's .grad (which the engine owns).
Tensor add_gradients(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(a.shape(), a.device());
  backend(a.device()).axpby(1.0f, a.data(), 1.0f, b.data(), out.data(), a.numel());
  return out;
}

void accumulate_into_leaf(TensorImpl* leaf, const Tensor& grad) {
  if (!leaf->grad) {
    // A copy: the same gradient tensor may be handed to several leaves (add's backward
    // returns `grad` for both inputs), and optimizers and clipping write .grad in place.
    leaf->grad = grad.clone().impl_ptr();
    return;
  }
  Tensor existing(leaf->grad);
  backend(existing.device()).axpby(1.0f, existing.data(), 1.0f, grad.data(), existing.data(),
                                   existing.numel());
}

// Tensors reachable from `root` through grad_fn edges, each listed after every tensor that
// was computed from it (reverse post-order of a depth-first walk).
std::vector<std::shared_ptr<TensorImpl>> topological_order(const std::shared_ptr<TensorImpl>& root) {
  std::vector<std::shared_ptr<TensorImpl>> post_order;
  std::unordered_set<TensorImpl*> visited;
  // Explicit stack of (tensor, index of the next input to visit).
  std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack;
  stack.emplace_back(root, 0);
  visited.insert(root.get());
  while (!stack.empty()) {
    auto& [impl, next] = stack.back();
    const std::shared_ptr<Node>& node = impl->grad_fn;
    if (node && next < node->inputs.size()) {
      const Tensor& input = node->inputs[next++];
      if (input.defined() && input.requires_grad() && !visited.count(input.impl())) {
        visited.insert(input.impl());
        stack.emplace_back(input.impl_ptr(), 0);
      }
      continue;
    }
    post_order.push_back(impl);
    stack.pop_back();
  }
  return {post_order.rbegin(), post_order.rend()};
}

}  // namespace

void Tensor::backward(const Tensor& grad_output) const {
  check_defined("backward");
  DRIFT_CHECK(requires_grad(), "backward: this tensor (" << describe(*this)
                                   << ") does not require grad: no input of the computation "
                                      "that made it has requires_grad set");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    DRIFT_CHECK(numel() == 1, "backward: a gradient can be created implicitly only for a "
                              "one-element output; this output is "
                                  << describe(*this) << ", pass backward(grad_output)");
    seed = ones(shape(), device());
  } else {
    check_same_shape(*this, seed, "backward (output and grad_output)");
    check_same_device(*this, seed, "backward (output and grad_output)");
  }

  NoGradGuard no_grad;  // backward formulas are plain computations, not recorded
  std::unordered_map<TensorImpl*, Tensor> grads;
  grads[impl()] = seed;
  for (const std::shared_ptr<TensorImpl>& impl : topological_order(impl_ptr())) {
    auto found = grads.find(impl.get());
    if (found == grads.end()) continue;  // nothing flowed here (e.g. only an unused input)
    Tensor grad = std::move(found->second);
    grads.erase(found);
    if (!impl->grad_fn) {
      if (impl->requires_grad) accumulate_into_leaf(impl.get(), grad);
      continue;
    }
    Node& node = *impl->grad_fn;
    DRIFT_CHECK(!node.released,
                "backward: the graph through '" << node.name << "' was already freed by an "
                "earlier backward(); run the forward computation again before a second backward");
    std::vector<Tensor> input_grads = node.backward(grad);
    DRIFT_CHECK(input_grads.size() == node.inputs.size(),
                "backward: '" << node.name << "' returned " << input_grads.size()
                              << " gradients for " << node.inputs.size() << " inputs");
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Tensor& input = node.inputs[i];
      const Tensor& g = input_grads[i];
      if (!input.defined() || !input.requires_grad() || !g.defined()) continue;
      DRIFT_CHECK(g.shape() == input.shape() && g.device() == input.device(),
                  "backward: '" << node.name << "' produced a gradient " << describe(g)
                                << " for input " << i << " of " << describe(input));
      auto slot = grads.find(input.impl());
      if (slot == grads.end()) {
        grads.emplace(input.impl(), g);
      } else {
        slot->second = add_gradients(slot->second, g);
      }
    }
    // Free what the node saved; mark it so a second backward reports the problem.
    node.backward = nullptr;
    node.inputs.clear();
    node.released = true;
  }
}

}  // namespace drift
