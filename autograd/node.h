// node.h — one recorded operation in the autograd graph.
//
// Autograd here is "define by run", like PyTorch and micrograd: every differentiable op,
// as it computes its output, records a Node holding
//   * one Edge per input (pointing back towards the leaves), and
//   * a backward closure: given dL/d(output), it returns dL/d(input) for each input.
// The output tensor points at its Node through `grad_fn`. Calling backward() on a scalar
// walks these edges in reverse topological order (autograd/engine.cpp).
//
// An edge does not hold the input tensor, only where its gradient goes (the input's own node,
// or the input itself when it is a leaf) and its shape: a tensor stays alive only while a
// closure keeps it because the backward formula needs its values (as PyTorch's saved
// tensors). Holding every input would keep every intermediate result of a forward pass alive
// until backward reaches it, conv outputs before a bias add included: a quarter more memory
// for the U-Net's training step.
//
// A closure may keep what its formula needs (inputs, the output's values, masks). It must not
// keep the output tensor itself — the output owns the node, and the node would own the output:
// a reference cycle that never frees. Keep `output.detach()` instead (same data, no grad_fn).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace drift {

// dL/d(output) -> { dL/d(input_0), dL/d(input_1), ... }; an undefined Tensor for an input
// that needs no gradient.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& gy)>;

// Where the gradient of one input of a node goes.
struct Edge {
  bool requires_grad = false;        // false: the input gets no gradient (or is undefined)
  std::shared_ptr<Node> node;        // the node that computed the input; null for a leaf
  std::shared_ptr<TensorImpl> leaf;  // the input itself when it is a leaf (its .grad)
  Shape shape;                       // for checking the gradient backward returns
  Device device;
};

struct Node {
  std::string name;          // the op's name, for error messages ("matmul", "conv2d", ...)
  std::vector<Edge> inputs;  // one per input of the op, in order
  BackwardFn backward;       // released (set empty) once backward has run through the node
  bool released = false;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Frees the nodes only this one keeps alive with an explicit stack, not by recursion: a
  // chain of a million nodes dropped without backward() must not overflow the call stack.
  ~Node();
};

// Attaches a Node to `output` when gradients are being recorded and some input needs one;
// otherwise returns `output` untouched and drops `backward`. Every differentiable op ends
// with `return record("name", output, {inputs...}, [captures](const Tensor& gy) {...});`
Tensor record(const char* name, Tensor output, std::vector<Tensor> inputs, BackwardFn backward);

// True when at least one input requires a gradient and recording is on (see grad_mode.h):
// ops use it to skip saving what only backward needs.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);

}  // namespace drift
