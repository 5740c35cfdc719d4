// optim.h — optimizers (SGD with momentum, Adam, AdamW) and gradient-norm clipping.
//
//   nn::AdamW optimizer(model.parameters(), /*lr=*/1e-3);
//   for (int64_t step = 0; step < steps; ++step) {
//     optimizer.zero_grad();
//     Tensor loss = mse_loss(model.forward(x), target);
//     loss.backward();
//     nn::clip_grad_norm_(model.parameters(), 1.0);
//     optimizer.set_lr(schedule.lr_at(step));   // optional (nn/lr_schedule.h)
//     optimizer.step();
//   }
//
// The update formulas are PyTorch 1.13's (torch.optim.SGD / Adam / AdamW), written out with
// their equations in tensor/optim_math.h; each step is one fused kernel per parameter
// (Backend::adam_step / sgd_step), on the parameter's own device.
//
// Like PyTorch, an optimizer keeps per-parameter state — a step count and buffers (Adam's
// moments, SGD's momentum) — created lazily, on the parameter's device, at the parameter's
// first update. Parameters without a gradient are skipped: their state does not advance.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace drift {
namespace nn {

// Everything an optimizer needs to resume, as checkpoints store it (nn/checkpoint.h).
//   tensors: per-parameter buffers named "<index>.<buffer>", e.g. "0.exp_avg", "3.momentum_buffer"
//            (index = position in the optimizer's parameter list, as in PyTorch's state_dict)
//   scalars: the hyper-parameters ("lr", "beta1", ...), "step" (calls to step()),
//            "num_parameters", and "<index>.step" for every parameter that has state.
struct OptimizerState {
  std::string type;  // "SGD", "Adam" or "AdamW"
  NamedTensors tensors;
  std::map<std::string, double> scalars;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& type() const { return type_; }

  // Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)): the next
  // backward() starts from nothing, and a parameter it does not reach is skipped by step().
  void zero_grad();
  // Updates every parameter that has a gradient.
  void step();

  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t step_count() const { return step_count_; }  // calls to step() so far
  const std::vector<Tensor>& parameters() const { return params_; }

  // The state as named tensors (handles to the live buffers, not copies) and scalars.
  OptimizerState state() const;
  // Restores hyper-parameters, step counts and buffers (copied, onto each parameter's
  // device). Everything is checked first (type, parameter count, every name and shape);
  // on any problem it throws naming `source` and the entry (written with `prefix`, e.g.
  // "optimizer." in a checkpoint) and changes nothing.
  void load_state(const OptimizerState& state, const std::string& source = "optimizer state",
                  const std::string& prefix = "");
  // The checks of load_state alone.
  void check_state(const OptimizerState& state, const std::string& source = "optimizer state",
                   const std::string& prefix = "") const;

  // The hyper-parameters by name, "lr" included (what state() saves).
  virtual std::map<std::string, double> hyper_parameters() const = 0;

 protected:
  // Per-parameter state, created at the parameter's first update.
  struct ParamState {
    int64_t step = 0;             // updates this parameter has received
    std::vector<Tensor> buffers;  // named by buffer_names(); empty until the first update
  };

  Optimizer(std::string type, std::vector<Tensor> params, double lr);

  // The names of the per-parameter buffers under the given hyper-parameters (SGD has a
  // momentum buffer only when momentum is not 0).
  virtual std::vector<std::string> buffer_names(
      const std::map<std::string, double>& hyper_parameters) const = 0;
  // Throws (naming `source`) when a value is out of range; used by constructors and loading.
  virtual void check_hyper_parameters(const std::map<std::string, double>& values,
                                      const std::string& source) const = 0;
  // Sets the hyper-parameters from already checked values.
  virtual void set_hyper_parameters(const std::map<std::string, double>& values) = 0;
  // One update of `param` with `grad`; `state.step` is already incremented and its buffers
  // exist on the parameter's device.
  virtual void update(Tensor& param, const Tensor& grad, ParamState& state) = 0;

  double lr_;

 private:
  std::string type_;
  std::vector<Tensor> params_;
  std::vector<ParamState> states_;
  int64_t step_count_ = 0;
};

// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
// L2 weight decay (torch.optim.SGD; the arguments after weight_decay are extras).
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0, double weight_decay = 0.0,
      double dampening = 0.0, bool nesterov = false);
  std::map<std::string, double> hyper_parameters() const override;

 protected:
  std::vector<std::string> buffer_names(
      const std::map<std::string, double>& hyper_parameters) const override;
  void check_hyper_parameters(const std::map<std::string, double>& values,
                              const std::string& source) const override;
  void set_hyper_parameters(const std::map<std::string, double>& values) override;
  void update(Tensor& param, const Tensor& grad, ParamState& state) override;

 private:
  double momentum_, weight_decay_, dampening_;
  bool nesterov_;
};

struct AdamBetas {
  double beta1 = 0.9;    // decay of the first moment (the running mean of g)
  double beta2 = 0.999;  // decay of the second moment (the running mean of g^2)
};

// Adam (torch.optim.Adam): weight decay is L2 regularisation added to the gradient.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, AdamBetas betas = {}, double eps = 1e-8,
       double weight_decay = 0.0);
  std::map<std::string, double> hyper_parameters() const override;

 protected:
  Adam(std::string type, std::vector<Tensor> params, double lr, AdamBetas betas, double eps,
       double weight_decay, bool decoupled_weight_decay);
  std::vector<std::string> buffer_names(
      const std::map<std::string, double>& hyper_parameters) const override;
  void check_hyper_parameters(const std::map<std::string, double>& values,
                              const std::string& source) const override;
  void set_hyper_parameters(const std::map<std::string, double>& values) override;
  void update(Tensor& param, const Tensor& grad, ParamState& state) override;

 private:
  AdamBetas betas_;
  double eps_, weight_decay_;
  bool decoupled_weight_decay_;
};

// AdamW (torch.optim.AdamW): the weights decay directly, p *= 1 - lr * weight_decay, before
// the Adam update, instead of through the gradient.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, double lr = 1e-3, AdamBetas betas = {}, double eps = 1e-8,
        double weight_decay = 1e-2);
};

// Scales the gradients of `params` in place so that their global L2 norm
//   total = sqrt(sum over every gradient element of g^2)
// is at most max_norm: when coef = max_norm / (total + 1e-6) is below 1, every gradient is
// multiplied by coef (torch.nn.utils.clip_grad_norm_). Parameters without a gradient are
// ignored. Returns the total norm before clipping. Norms are computed by a backend kernel on
// the gradients' own device.
float clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);

}  // namespace nn
}  // namespace drift
