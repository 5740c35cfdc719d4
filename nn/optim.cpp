// optim.cpp — the optimizer classes: bookkeeping (state, checks, loading) here; the update
// formulas are in tensor/optim_math.h and run as one kernel per parameter.
#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/optim_math.h"

namespace drift {
namespace nn {

namespace {

// Splits "<index>.<rest>" into its parts; false when the name has another form.
bool split_indexed(const std::string& name, size_t& index, std::string& rest) {
  size_t dot = name.find('.');
  if (dot == 0 || dot == std::string::npos || dot + 1 == name.size()) return false;
  for (size_t i = 0; i < dot; ++i)
    if (name[i] < '0' || name[i] > '9') return false;
  if (dot > 9) return false;  // more parameters than anyone has
  index = static_cast<size_t>(std::stoul(name.substr(0, dot)));
  rest = name.substr(dot + 1);
  return true;
}

bool is_whole_number(double x) {
  return std::isfinite(x) && x >= 0.0 && std::floor(x) == x && x < 9.0e15;
}

double required(const std::map<std::string, double>& values, const std::string& key,
                const std::string& source, const std::string& prefix) {
  auto it = values.find(key);
  DRIFT_CHECK(it != values.end(), source << ": missing value '" << prefix << key << "'");
  DRIFT_CHECK(std::isfinite(it->second),
              source << ": value '" << prefix << key << "' is not finite: " << it->second);
  return it->second;
}

}  // namespace

// ---- Optimizer: parameters, step counts, state ----------------------------------------

Optimizer::Optimizer(std::string type, std::vector<Tensor> params, double lr)
    : lr_(lr), type_(std::move(type)), params_(std::move(params)) {
  DRIFT_CHECK(!params_.empty(), type_ << ": the parameter list is empty");
  std::set<TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    DRIFT_CHECK(p.defined(), type_ << ": parameter " << i << " is undefined");
    DRIFT_CHECK(p.is_leaf(), type_ << ": parameter " << i << " (" << describe(p)
                                   << ") is not a leaf: it was computed by an op, so an "
                                      "update would not reach the tensor it came from");
    DRIFT_CHECK(seen.insert(p.impl()).second,
                type_ << ": parameter " << i << " appears twice in the parameter list");
  }
  states_.resize(params_.size());
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  DRIFT_CHECK(std::isfinite(lr) && lr >= 0.0, type_ << ": invalid learning rate " << lr);
  lr_ = lr;
}

void Optimizer::step() {
  ++step_count_;
  const std::vector<std::string> names = buffer_names(hyper_parameters());
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& param = params_[i];
    const Tensor grad = param.grad();
    if (!grad.defined()) continue;  // not reached by backward(): skipped, as in PyTorch
    DRIFT_CHECK(grad.shape() == param.shape() && grad.device() == param.device(),
                type_ << ": parameter " << i << " is " << describe(param) << " but its gradient is "
                      << describe(grad));
    ParamState& state = states_[i];
    if (state.buffers.empty()) {
      for (size_t b = 0; b < names.size(); ++b) state.buffers.push_back(zeros_like(param));
    } else {
      for (Tensor& buffer : state.buffers)  // the model moved (Module::to) since the last step
        if (buffer.device() != param.device()) buffer = buffer.to(param.device());
    }
    ++state.step;
    if (param.numel() > 0) update(param, grad, state);
  }
}

OptimizerState Optimizer::state() const {
  OptimizerState out;
  out.type = type_;
  out.scalars = hyper_parameters();
  out.scalars["step"] = static_cast<double>(step_count_);
  out.scalars["num_parameters"] = static_cast<double>(params_.size());
  const std::vector<std::string> names = buffer_names(out.scalars);
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamState& state = states_[i];
    if (state.step == 0) continue;  // never updated: no state, as in PyTorch
    const std::string index = std::to_string(i);
    out.scalars[index + ".step"] = static_cast<double>(state.step);
    for (size_t b = 0; b < names.size(); ++b)
      out.tensors.emplace_back(index + "." + names[b], state.buffers[b]);
  }
  return out;
}

void Optimizer::check_state(const OptimizerState& state, const std::string& source,
                            const std::string& prefix) const {
  DRIFT_CHECK(state.type == type_,
              source << ": the state is of a " << state.type << " optimizer, not " << type_);
  // Scalars: the hyper-parameters, the step counts and the parameter count.
  const std::map<std::string, double> mine = hyper_parameters();
  std::map<std::string, double> hyper;
  for (const auto& entry : mine)
    hyper[entry.first] = required(state.scalars, entry.first, source, prefix);
  check_hyper_parameters(hyper, source);
  const double num_parameters = required(state.scalars, "num_parameters", source, prefix);
  DRIFT_CHECK(num_parameters == static_cast<double>(params_.size()),
              source << ": the state is for " << num_parameters << " parameters but this " << type_
                     << " has " << params_.size());
  const double step = required(state.scalars, "step", source, prefix);
  DRIFT_CHECK(is_whole_number(step),
              source << ": value '" << prefix << "step' must be a whole number, got " << step);
  for (const auto& [key, value] : state.scalars) {
    if (mine.count(key) || key == "step" || key == "num_parameters") continue;
    size_t index = 0;
    std::string rest;
    DRIFT_CHECK(split_indexed(key, index, rest) && rest == "step" && index < params_.size(),
                source << ": unexpected value '" << prefix << key << "'");
    DRIFT_CHECK(is_whole_number(value) && value >= 1.0 && value <= step,
                source << ": value '" << prefix << key << "' must be a whole number in [1, " << step
                       << "], got " << value);
  }
  // Tensors: exactly the buffers of every parameter that has a step count.
  const std::vector<std::string> names = buffer_names(hyper);
  std::set<std::string> given;
  for (const auto& [name, tensor] : state.tensors) {
    DRIFT_CHECK(given.insert(name).second,
                source << ": tensor '" << prefix << name << "' is given twice");
    size_t index = 0;
    std::string buffer;
    bool known = split_indexed(name, index, buffer) && index < params_.size() &&
                 std::find(names.begin(), names.end(), buffer) != names.end();
    DRIFT_CHECK(known, source << ": unexpected tensor '" << prefix << name << "' ("
                              << describe(tensor) << "): a " << type_ << " over " << params_.size()
                              << " parameters has no such buffer");
    DRIFT_CHECK(state.scalars.count(std::to_string(index) + ".step"),
                source << ": tensor '" << prefix << name << "' is given but '" << prefix << index
                       << ".step' is missing");
    DRIFT_CHECK(tensor.shape() == params_[index].shape(),
                source << ": tensor '" << prefix << name << "' has shape " << tensor.shape()
                       << " but parameter " << index << " has shape " << params_[index].shape());
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!state.scalars.count(std::to_string(i) + ".step")) continue;
    for (const std::string& buffer : names) {
      const std::string name = std::to_string(i) + "." + buffer;
      DRIFT_CHECK(given.count(name), source << ": missing tensor '" << prefix << name << "' (shape "
                                            << params_[i].shape() << ")");
    }
  }
}

void Optimizer::load_state(const OptimizerState& state, const std::string& source,
                           const std::string& prefix) {
  check_state(state, source, prefix);
  std::map<std::string, double> hyper;
  for (const auto& entry : hyper_parameters()) hyper[entry.first] = state.scalars.at(entry.first);
  set_hyper_parameters(hyper);
  step_count_ = static_cast<int64_t>(state.scalars.at("step"));
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, tensor] : state.tensors) given[name] = &tensor;
  const std::vector<std::string> names = buffer_names(hyper);
  for (size_t i = 0; i < params_.size(); ++i) {
    ParamState fresh;
    auto step = state.scalars.find(std::to_string(i) + ".step");
    if (step != state.scalars.end()) {
      fresh.step = static_cast<int64_t>(step->second);
      for (const std::string& buffer : names) {
        Tensor copy = Tensor::empty(params_[i].shape(), params_[i].device());
        copy.copy_(*given.at(std::to_string(i) + "." + buffer));  // never shared with `state`
        fresh.buffers.push_back(copy);
      }
    }
    states_[i] = std::move(fresh);
  }
}

// ---- SGD -------------------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay,
         double dampening, bool nesterov)
    : Optimizer("SGD", std::move(params), lr),
      momentum_(momentum),
      weight_decay_(weight_decay),
      dampening_(dampening),
      nesterov_(nesterov) {
  check_hyper_parameters(hyper_parameters(), "SGD");
}

std::map<std::string, double> SGD::hyper_parameters() const {
  return {{"lr", lr_},
          {"momentum", momentum_},
          {"weight_decay", weight_decay_},
          {"dampening", dampening_},
          {"nesterov", nesterov_ ? 1.0 : 0.0}};
}

std::vector<std::string> SGD::buffer_names(const std::map<std::string, double>& hyper) const {
  if (hyper.at("momentum") == 0.0) return {};
  return {"momentum_buffer"};
}

void SGD::check_hyper_parameters(const std::map<std::string, double>& v,
                                 const std::string& source) const {
  DRIFT_CHECK(v.at("lr") >= 0.0, source << ": invalid learning rate " << v.at("lr"));
  DRIFT_CHECK(v.at("momentum") >= 0.0, source << ": invalid momentum " << v.at("momentum"));
  DRIFT_CHECK(v.at("weight_decay") >= 0.0,
              source << ": invalid weight_decay " << v.at("weight_decay"));
  DRIFT_CHECK(v.at("dampening") >= 0.0 && v.at("dampening") <= 1.0,
              source << ": invalid dampening " << v.at("dampening") << " (need [0, 1])");
  DRIFT_CHECK(v.at("nesterov") == 0.0 || v.at("nesterov") == 1.0,
              source << ": nesterov must be 0 or 1, got " << v.at("nesterov"));
  DRIFT_CHECK(v.at("nesterov") == 0.0 || (v.at("momentum") > 0.0 && v.at("dampening") == 0.0),
              source << ": Nesterov momentum requires a momentum > 0 and zero dampening");
}

void SGD::set_hyper_parameters(const std::map<std::string, double>& v) {
  lr_ = v.at("lr");
  momentum_ = v.at("momentum");
  weight_decay_ = v.at("weight_decay");
  dampening_ = v.at("dampening");
  nesterov_ = v.at("nesterov") != 0.0;
}

void SGD::update(Tensor& param, const Tensor& grad, ParamState& state) {
  // The momentum buffer starts as the first step's gradient (see optim_math.h).
  const SgdScalars scalars = optim_math::sgd_scalars(lr_, momentum_, dampening_, weight_decay_,
                                                     nesterov_, /*first_step=*/state.step == 1);
  float* momentum_buffer = state.buffers.empty() ? nullptr : state.buffers[0].data();
  backend(param.device())
      .sgd_step(param.data(), grad.data(), momentum_buffer, param.numel(), scalars);
}

// ---- Adam and AdamW ----------------------------------------------------------------------

Adam::Adam(std::vector<Tensor> params, double lr, AdamBetas betas, double eps, double weight_decay)
    : Adam("Adam", std::move(params), lr, betas, eps, weight_decay, false) {}

Adam::Adam(std::string type, std::vector<Tensor> params, double lr, AdamBetas betas, double eps,
           double weight_decay, bool decoupled_weight_decay)
    : Optimizer(std::move(type), std::move(params), lr),
      betas_(betas),
      eps_(eps),
      weight_decay_(weight_decay),
      decoupled_weight_decay_(decoupled_weight_decay) {
  check_hyper_parameters(hyper_parameters(), this->type());
}

AdamW::AdamW(std::vector<Tensor> params, double lr, AdamBetas betas, double eps,
             double weight_decay)
    : Adam("AdamW", std::move(params), lr, betas, eps, weight_decay, true) {}

std::map<std::string, double> Adam::hyper_parameters() const {
  return {{"lr", lr_},
          {"beta1", betas_.beta1},
          {"beta2", betas_.beta2},
          {"eps", eps_},
          {"weight_decay", weight_decay_}};
}

std::vector<std::string> Adam::buffer_names(const std::map<std::string, double>&) const {
  return {"exp_avg", "exp_avg_sq"};  // m and v, PyTorch's names
}

void Adam::check_hyper_parameters(const std::map<std::string, double>& v,
                                  const std::string& source) const {
  DRIFT_CHECK(v.at("lr") >= 0.0, source << ": invalid learning rate " << v.at("lr"));
  DRIFT_CHECK(v.at("beta1") >= 0.0 && v.at("beta1") < 1.0,
              source << ": invalid beta1 " << v.at("beta1") << " (need [0, 1))");
  DRIFT_CHECK(v.at("beta2") >= 0.0 && v.at("beta2") < 1.0,
              source << ": invalid beta2 " << v.at("beta2") << " (need [0, 1))");
  DRIFT_CHECK(v.at("eps") >= 0.0, source << ": invalid eps " << v.at("eps"));
  DRIFT_CHECK(v.at("weight_decay") >= 0.0,
              source << ": invalid weight_decay " << v.at("weight_decay"));
}

void Adam::set_hyper_parameters(const std::map<std::string, double>& v) {
  lr_ = v.at("lr");
  betas_ = {v.at("beta1"), v.at("beta2")};
  eps_ = v.at("eps");
  weight_decay_ = v.at("weight_decay");
}

void Adam::update(Tensor& param, const Tensor& grad, ParamState& state) {
  const AdamScalars scalars = optim_math::adam_scalars(
      lr_, betas_.beta1, betas_.beta2, eps_, weight_decay_, decoupled_weight_decay_, state.step);
  backend(param.device())
      .adam_step(param.data(), grad.data(), state.buffers[0].data(), state.buffers[1].data(),
                 param.numel(), scalars);
}

// ---- gradient clipping -------------------------------------------------------------------

float clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  DRIFT_CHECK(std::isfinite(max_norm) && max_norm > 0.0,
              "clip_grad_norm_: max_norm must be positive, got " << max_norm);
  // total^2 = sum over gradients of sum_i g_i^2 (PyTorch takes the norm of the per-gradient
  // norms; the same number up to rounding).
  double total_squared = 0.0;
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor g = p.grad();
    grads.push_back(g);
    if (g.numel() > 0) total_squared += backend(g.device()).sum_of_squares(g.data(), g.numel());
  }
  const float total_norm = static_cast<float>(std::sqrt(total_squared));
  // clip_coef = max_norm / (total + 1e-6), in float32 like PyTorch's tensor arithmetic.
  const float clip_coef = static_cast<float>(max_norm) / (total_norm + 1e-6f);
  // A NaN norm (a NaN somewhere in the gradients) makes every gradient NaN, as PyTorch's
  // clamp(clip_coef, max=1) does: the NaN is not hidden from whatever checks for it next.
  if (std::isnan(clip_coef) || clip_coef < 1.0f)
    for (Tensor& g : grads)
      if (g.numel() > 0)
        backend(g.device())
            .unary(UnaryOp::MulScalar, g.data(), g.data(), g.numel(), clip_coef, 0.0f);
  return total_norm;
}

}  // namespace nn
}  // namespace drift
