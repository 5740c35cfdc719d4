// node.h — one recorded operation in the autograd graph.
//
// Autograd here is "define by run", like PyTorch and micrograd: every differentiable op,
// as it computes its output, records a Node holding
//   * the op's inputs (the edges of the graph, pointing back towards the leaves), and
//   * a backward closure: given dL/d(output), it returns dL/d(input) for each input.
// The output tensor points at its Node through `grad_fn`. Calling backward() on a scalar
// walks these edges in reverse topological order (autograd/engine.cpp).
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
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;            // the op's name, for error messages ("matmul", "conv2d", ...)
  std::vector<Tensor> inputs;  // edges to the inputs
  BackwardFn backward;         // released (set empty) once backward has run through the node
  bool released = false;
};

// Attaches a Node to `output` when gradients are being recorded and some input needs one;
// otherwise returns `output` untouched and drops `backward`. Every differentiable op ends
// with `return record("name", output, {inputs...}, [captures](const Tensor& grad) {...});`
Tensor record(const char* name, Tensor output, std::vector<Tensor> inputs, BackwardFn backward);

// True when at least one input requires a gradient and recording is on (see grad_mode.h):
// ops use it to skip saving what only backward needs.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);

}  // namespace drift
