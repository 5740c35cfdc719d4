// tensor.h — the Tensor: float32, row-major, contiguous, on the CPU or a CUDA GPU.
//
// A Tensor is a cheap handle (a shared pointer) to a TensorImpl, which holds
//   * a Storage (the memory, possibly shared with other tensors: reshape and detach share it),
//   * a Shape,
//   * the autograd fields: requires_grad, the accumulated .grad of a leaf, and grad_fn, the
//     graph node that produced the tensor (defined in autograd/node.h).
// Copying a Tensor copies the handle, not the data (like PyTorch); `clone()` copies data.
//
// The differentiable operations (add, matmul, relu, ...) are free functions declared in
// autograd/ops.h. This file has only what every layer needs: construction, shape queries,
// moving data between devices and to/from std::vector, and printing.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/random.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace drift {

struct Node;  // a recorded operation in the autograd graph (autograd/node.h)

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient (leaves only)
  std::shared_ptr<Node> grad_fn;     // the op that made this tensor (null for leaves)
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no storage); defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialised memory of the given shape (kernels overwrite it). Prefer zeros()/empty().
  static Tensor empty(const Shape& shape, Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t ndim() const { return shape().ndim(); }
  int64_t size(int64_t dim) const;  // negative dims count from the end
  int64_t numel() const { return shape().numel(); }
  Device device() const;

  // Raw data pointer on the tensor's own device (for kernels).
  float* data();
  const float* data() const;

  // Data access from the host. These copy from the GPU when needed.
  std::vector<float> to_vector() const;
  float item() const;                            // the value of a one-element tensor
  float at(std::initializer_list<int64_t> index) const;  // one element, bounds-checked

  Tensor to(Device device) const;  // same tensor if already there, else a copy
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor clone() const;            // a copy of the data, not attached to any graph
  Tensor detach() const;           // shares the data, cut from the graph, requires_grad false
  // Same data viewed with a new shape of equal numel (no copy, no graph). The differentiable
  // version is reshape() in autograd/ops.h.
  Tensor view_as_shape(const Shape& shape) const;

  // In-place writes, only for tensors outside the graph (optimizer updates, initialisation).
  Tensor& fill_(float value);
  Tensor& copy_(const Tensor& source);  // same shape; may cross devices
  // Makes this tensor use `source`'s storage and shape while keeping its identity (its
  // grad, requires_grad and every handle to it): how Module::to() moves parameters.
  void set_data(const Tensor& source);

  // ---- autograd fields --------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool requires = true);  // only on leaves
  bool is_leaf() const;                             // no grad_fn
  Tensor grad() const;                              // undefined until a backward reaches it
  void set_grad(const Tensor& grad);
  void zero_grad();                                  // drops the accumulated gradient
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> node);
  void backward(const Tensor& grad_output = Tensor()) const;  // see autograd/engine.cpp

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }  // same object

 private:
  void check_defined(const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

// ---- creation ------------------------------------------------------------------------
Tensor zeros(const Shape& shape, Device device = Device::cpu());
Tensor ones(const Shape& shape, Device device = Device::cpu());
Tensor full(const Shape& shape, float value, Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
// 0, 1, ..., n-1 and start, start+step, ... (< end), like torch.arange.
Tensor arange(int64_t n, Device device = Device::cpu());
Tensor arange(double start, double end, double step = 1.0, Device device = Device::cpu());
// `steps` evenly spaced values from start to end inclusive, like torch.linspace.
Tensor linspace(double start, double end, int64_t steps, Device device = Device::cpu());
// Values copied from the host; `shape` defaults to 1-D.
Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                   Device device = Device::cpu());
Tensor from_vector(const std::vector<float>& values, Device device = Device::cpu());
Tensor scalar_tensor(float value, Device device = Device::cpu());

// Random tensors (tensor/random.h has the Philox generator). Without a generator they draw
// from the global one, seeded by manual_seed().
Tensor rand(const Shape& shape, Device device = Device::cpu(), Generator* gen = nullptr);
Tensor randn(const Shape& shape, Device device = Device::cpu(), Generator* gen = nullptr);
// Whole numbers uniform in [low, high), stored as float32 (our index type).
Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device = Device::cpu(),
               Generator* gen = nullptr);

// Prints like PyTorch: values (abbreviated when large), shape, device, requires_grad.
std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string to_string(const Tensor& t);

// "add: [2, 3] on cpu" — how error messages describe an operand.
std::string describe(const Tensor& t);

// Errors for user input: same device / same shape / defined, naming `op`.
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);
// Indices are float32 tensors holding whole numbers. Checks (on the host) that every value of
// `index` is an integer in [0, x.size(dim)) and that index is on x's device.
void check_index_tensor(const Tensor& index, const Tensor& x, int64_t dim, const char* op);

}  // namespace drift
