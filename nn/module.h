// module.h — the base of every layer and model, like torch.nn.Module.
//
// A Module owns named parameters (tensors the optimizer trains), named buffers (state that
// is saved but not trained, e.g. a fixed embedding table) and named child modules. Names
// compose into dotted paths — "down.0.block1.conv.weight" — which are also the keys of the
// checkpoint files, so a model's state reads the same here and in PyTorch.
//
//   class ToyModel : public nn::Module {
//    public:
//     ToyModel() {
//       conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(3, 16, 3, 1, 1));
//       conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(16, 3, 3, 1, 1));
//     }
//     Tensor forward(const Tensor& x) override { return conv2->forward(relu(conv1->forward(x))); }
//     std::shared_ptr<nn::Conv2d> conv1, conv2;
//   };
//
// Parameters are Tensor handles shared between the module's fields and its registry, so an
// optimizer updating them in place, or to(device) moving them, is seen everywhere.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace drift {
namespace nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The single-input forward used by Sequential and most layers. Models whose forward
  // takes more inputs (x and t, say) define their own and leave this one throwing.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // A one-line description for summaries, e.g. "Conv2d(3, 16, kernel=3, padding=1)".
  virtual std::string describe() const { return "Module"; }

  // ---- parameters, buffers and children (recursive, in registration order) -------------
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const {
    return children_;
  }
  int64_t num_parameters() const;  // total number of trainable scalars

  // Everything a checkpoint stores: parameters and buffers by dotted name.
  NamedTensors state_dict() const;
  // Copies values in by name. Every name must exist with the same shape, and every
  // parameter/buffer must be given; otherwise an Error names the tensor (and `source`).
  void load_state_dict(const NamedTensors& state, const std::string& source = "state dict");
  // The checks of load_state_dict alone, changing nothing: callers that load several parts
  // (a checkpoint: model, optimizer, EMA) check every part before applying any. `prefix` is
  // how the names appear in `source` (e.g. "model."), for the messages.
  void check_state_dict(const NamedTensors& state, const std::string& source,
                        const std::string& prefix = "") const;

  // ---- modes and devices --------------------------------------------------------------
  void train(bool training = true);  // recursive; Dropout and friends read is_training()
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void to(Device device);            // moves every parameter and buffer (in place)
  Device device() const;             // the device of the first parameter or buffer (cpu if none)
  void zero_grad();                  // drops every parameter's .grad

  // A table: one row per parameter (name, shape, count) under each module's description,
  // and the total — print(model) and torchinfo in one.
  std::string summary() const;

 protected:
  // Registers a parameter (requires_grad is switched on) and returns the same handle.
  Tensor register_parameter(const std::string& name, Tensor value);
  Tensor register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, NamedTensors& out, bool parameters,
               bool buffers) const;
  void summarize(const std::string& prefix, int depth, std::string& out) const;

  NamedTensors parameters_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace nn
}  // namespace drift
