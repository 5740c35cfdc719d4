#include "nn/module.h"

#include <iomanip>
#include <map>
#include <sstream>

#include "tensor/error.h"

namespace drift {
namespace nn {

Tensor Module::forward(const Tensor&) {
  DRIFT_FAIL(describe() << ": this module has no single-input forward(x); call its own forward");
}

void Module::check_new_name(const std::string& name) const {
  DRIFT_CHECK(!name.empty() && name.find('.') == std::string::npos,
              describe() << ": invalid name '" << name << "' (non-empty, no dots)");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  DRIFT_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_),
              describe() << ": the name '" << name << "' is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  DRIFT_CHECK(value.defined() && value.is_leaf(),
              describe() << ": parameter '" << name << "' must be a defined leaf tensor");
  value.set_requires_grad(true);
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  DRIFT_CHECK(value.defined(), describe() << ": buffer '" << name << "' is undefined");
  buffers_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  DRIFT_CHECK(module != nullptr, describe() << ": child module '" << name << "' is null");
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool parameters,
                     bool buffers) const {
  if (parameters)
    for (const auto& [name, t] : parameters_) out.emplace_back(prefix + name, t);
  if (buffers)
    for (const auto& [name, t] : buffers_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", out, parameters, buffers);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out, true, false);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (const auto& entry : named_parameters()) out.push_back(entry.second);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", out, false, true);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t total = 0;
  for (const auto& entry : named_parameters()) total += entry.second.numel();
  return total;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", out, true, true);
  return out;
}

void Module::check_state_dict(const NamedTensors& state, const std::string& source,
                              const std::string& prefix) const {
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) {
    DRIFT_CHECK(!given.count(name), source << ": tensor '" << prefix << name << "' is given twice");
    given[name] = &t;
  }
  std::map<std::string, bool> known;
  for (const auto& [name, t] : state_dict()) {
    known[name] = true;
    auto it = given.find(name);
    DRIFT_CHECK(it != given.end(), source << ": missing tensor '" << prefix << name
                                          << "' (the model's has shape " << t.shape() << ")");
    DRIFT_CHECK(it->second->shape() == t.shape(),
                source << ": tensor '" << prefix << name << "' has shape " << it->second->shape()
                       << " but the model expects " << t.shape());
  }
  for (const auto& [name, t] : state)
    DRIFT_CHECK(known.count(name), source << ": unexpected tensor '" << prefix << name
                                          << "' (shape " << t.shape()
                                          << "): the model has no such parameter or buffer");
}

void Module::load_state_dict(const NamedTensors& state, const std::string& source) {
  check_state_dict(state, source);  // everything is checked before anything changes
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) given[name] = &t;
  for (auto& [name, t] : state_dict()) {
    Tensor target = t;  // a handle to the module's own tensor
    target.copy_(*given[name]);
  }
}

void Module::train(bool training) {
  training_ = training;
  for (auto& entry : children_) entry.second->train(training);
}

void Module::to(Device device) {
  for (auto& [name, t] : state_dict()) {
    if (t.device() == device) continue;
    Tensor handle = t;
    handle.set_data(t.to(device));
  }
}

Device Module::device() const {
  NamedTensors all = state_dict();
  return all.empty() ? Device::cpu() : all.front().second.device();
}

void Module::zero_grad() {
  for (auto& entry : named_parameters()) {
    Tensor p = entry.second;
    p.zero_grad();
  }
}

void Module::summarize(const std::string& prefix, int depth, std::string& out) const {
  std::ostringstream os;
  std::string indent(static_cast<size_t>(2 * depth), ' ');
  os << indent << (prefix.empty() ? "" : prefix + ": ") << describe() << "\n";
  for (const auto& [name, t] : parameters_)
    os << indent << "  " << std::left << std::setw(44 - 2 * depth) << name << std::setw(20)
       << t.shape().str() << std::right << std::setw(12) << t.numel() << "\n";
  for (const auto& [name, t] : buffers_)
    os << indent << "  " << std::left << std::setw(44 - 2 * depth) << (name + " (buffer)")
       << std::setw(20) << t.shape().str() << "\n";
  out += os.str();
  for (const auto& [name, child] : children_) child->summarize(name, depth + 1, out);
}

std::string Module::summary() const {
  std::string out;
  summarize("", 0, out);
  std::ostringstream total;
  total << "total trainable parameters: " << num_parameters() << "\n";
  return out + total.str();
}

}  // namespace nn
}  // namespace drift
