// engine.cpp — reverse-mode automatic differentiation: recording nodes and running backward.
//
// backward(L) computes dL/dx for every leaf x that requires a gradient:
//   1. Topological sort: walk the graph from L's node through each node's input edges
//      (iteratively, with an explicit stack, so deep graphs cannot overflow the call stack)
//      and list the nodes so that every node comes after all nodes that used its output.
//   2. Seed dL/dL = 1 (or the given output gradient).
//   3. In that order, hand each node's finished output gradient to its backward closure and
//      add the results into the gradients of the node's inputs (the chain rule; a tensor used
//      twice receives the sum of both contributions — the multivariate chain rule).
//   4. Leaves accumulate into .grad (added to what is already there, like PyTorch).
// Each node is released as soon as it has run: its saved tensors are freed at once (the graph
// itself holds no tensor values, see node.h), and a second backward() through the same graph
// is an error rather than a silent wrong answer.
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

// Destroying a node destroys what it owns: its closure (saved tensors, which may own nodes)
// and its edges' nodes, each of which would destroy its own in turn — one nested destructor
// per node of a chain. Instead, nodes about to die are moved onto a stack and emptied one
// at a time, so every destructor call finds nothing left to recurse into.
Node::~Node() {
  std::vector<std::shared_ptr<Node>> dying;
  auto take_inputs = [&dying](Node& node) {
    node.backward = nullptr;  // saved tensors go first: they may hold a second reference
    for (Edge& edge : node.inputs)
      if (edge.node && edge.node.use_count() == 1) dying.push_back(std::move(edge.node));
    node.inputs.clear();  // what is left here is shared with someone else: no recursion
  };
  take_inputs(*this);
  while (!dying.empty()) {
    std::shared_ptr<Node> node = std::move(dying.back());
    dying.pop_back();
    take_inputs(*node);
  }  // `node` dies here with no closure and no edges
}

bool is_grad_enabled() {
  return grad_enabled;
}
void set_grad_enabled(bool enabled) {
  grad_enabled = enabled;
}

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
  node->inputs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    Edge& edge = node->inputs[i];
    if (!t.defined() || !t.requires_grad()) continue;
    edge.requires_grad = true;
    edge.shape = t.shape();
    edge.device = t.device();
    if (t.grad_fn())
      edge.node = t.grad_fn();
    else
      edge.leaf = t.impl_ptr();
  }
  node->backward = std::move(backward);
  output.impl()->requires_grad = true;
  output.set_grad_fn(std::move(node));
  return output;
}

namespace {

// a + b into a new tensor: gradients still flowing through the graph may be shared (add's
// backward returns the same tensor for both inputs), so they are never written in place.
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
  backend(existing.device())
      .axpby(1.0f, existing.data(), 1.0f, grad.data(), existing.data(), existing.numel());
}

// Nodes reachable from `root` through input edges, each listed after every node that used
// its output (reverse post-order of a depth-first walk).
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> post_order;
  std::unordered_set<Node*> visited;
  // Explicit stack of (node, index of the next input to visit).
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack;
  stack.emplace_back(root, 0);
  visited.insert(root.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const std::shared_ptr<Node>& input = node->inputs[next++].node;
      if (input && !visited.count(input.get())) {
        visited.insert(input.get());
        stack.emplace_back(input, 0);
      }
      continue;
    }
    post_order.push_back(node);
    stack.pop_back();
  }
  return {post_order.rbegin(), post_order.rend()};
}

}  // namespace

void Tensor::backward(const Tensor& grad_output) const {
  check_defined("backward");
  DRIFT_CHECK(requires_grad(), "backward: this tensor ("
                                   << describe(*this)
                                   << ") does not require grad: no input of the computation "
                                      "that made it has requires_grad set");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    DRIFT_CHECK(numel() == 1,
                "backward: a gradient can be created implicitly only for a "
                "one-element output; this output is "
                    << describe(*this) << ", pass backward(grad_output)");
    seed = ones(shape(), device());
  } else {
    check_same_shape(*this, seed, "backward (output and grad_output)");
    check_same_device(*this, seed, "backward (output and grad_output)");
  }

  NoGradGuard no_grad;  // backward formulas are plain computations, not recorded
  if (!grad_fn()) {     // the output is itself a leaf
    accumulate_into_leaf(impl(), seed);
    return;
  }
  // The gradient flowing into each node's output, and into each leaf (summed over every use,
  // added to .grad at the end). Each node's entry is taken out when the node runs, so a
  // gradient lives only from its first contribution until its node has used it.
  std::unordered_map<Node*, Tensor> grads;
  std::unordered_map<TensorImpl*, std::pair<std::shared_ptr<TensorImpl>, Tensor>> leaf_grads;
  grads[grad_fn().get()] = seed;
  for (const std::shared_ptr<Node>& node_ptr : topological_order(grad_fn())) {
    Node& node = *node_ptr;
    auto found = grads.find(&node);
    if (found == grads.end()) continue;  // nothing flowed here (e.g. only an unused input)
    Tensor gy = std::move(found->second);
    grads.erase(found);
    DRIFT_CHECK(
        !node.released,
        "backward: the graph through '"
            << node.name
            << "' was already freed by an "
               "earlier backward(); run the forward computation again before a second backward");
    std::vector<Tensor> input_grads = node.backward(gy);
    gy = Tensor();
    DRIFT_CHECK(input_grads.size() == node.inputs.size(),
                "backward: '" << node.name << "' returned " << input_grads.size()
                              << " gradients for " << node.inputs.size() << " inputs");
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Edge& edge = node.inputs[i];
      const Tensor& g = input_grads[i];
      if (!edge.requires_grad || !g.defined()) continue;
      DRIFT_CHECK(g.shape() == edge.shape && g.device() == edge.device,
                  "backward: '" << node.name << "' produced a gradient " << describe(g)
                                << " for input " << i << " shaped " << edge.shape << " on "
                                << edge.device);
      if (edge.node) {
        auto slot = grads.find(edge.node.get());
        if (slot == grads.end())
          grads.emplace(edge.node.get(), g);
        else
          slot->second = add_gradients(slot->second, g);
      } else {
        auto slot = leaf_grads.find(edge.leaf.get());
        if (slot == leaf_grads.end())
          leaf_grads.emplace(edge.leaf.get(), std::make_pair(edge.leaf, g));
        else
          slot->second.second = add_gradients(slot->second.second, g);
      }
    }
    // Free what the node saved; mark it so a second backward reports the problem.
    node.backward = nullptr;
    node.inputs.clear();
    node.released = true;
  }
  for (auto& entry : leaf_grads)
    if (entry.second.first->requires_grad) accumulate_into_leaf(entry.first, entry.second.second);
}

}  // namespace drift
