// ema.cpp — the exponential moving average of ema.h; the update is one axpby kernel per
// parameter on the parameter's device.
#include "nn/ema.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace drift {
namespace nn {

namespace {

void check_decay(double decay, const std::string& source) {
  DRIFT_CHECK(std::isfinite(decay) && decay >= 0.0 && decay <= 1.0,
              source << ": invalid EMA decay " << decay << " (need [0, 1])");
}

}  // namespace

EMA::EMA(const Module& model, double decay, bool warmup) : decay_(decay), warmup_(warmup) {
  check_decay(decay, "EMA");
  for (const auto& [name, param] : model.named_parameters())
    shadow_.emplace_back(name, param.detach().clone());
  DRIFT_CHECK(!shadow_.empty(), "EMA: the model has no parameters");
}

double EMA::decay_at(int64_t n) const {
  if (!warmup_) return decay_;
  const double ramp = (1.0 + static_cast<double>(n)) / (10.0 + static_cast<double>(n));
  return std::min(decay_, ramp);  // decay_n = min(decay, (1 + n) / (10 + n))
}

void EMA::check_model(const Module& model, const char* what) const {
  NamedTensors params = model.named_parameters();
  DRIFT_CHECK(params.size() == shadow_.size(), what << ": the model has " << params.size()
                                                    << " parameters but the EMA shadows "
                                                    << shadow_.size());
  for (size_t i = 0; i < params.size(); ++i) {
    DRIFT_CHECK(params[i].first == shadow_[i].first,
                what << ": parameter " << i << " is '" << params[i].first
                     << "' but the EMA shadows '" << shadow_[i].first << "' there");
    DRIFT_CHECK(params[i].second.shape() == shadow_[i].second.shape(),
                what << ": parameter '" << params[i].first << "' has shape "
                     << params[i].second.shape() << " but its shadow has "
                     << shadow_[i].second.shape());
  }
}

void EMA::update(const Module& model) {
  check_model(model, "EMA::update");
  ++num_updates_;
  const double decay = decay_at(num_updates_);
  NamedTensors params = model.named_parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& param = params[i].second;
    Tensor& shadow = shadow_[i].second;
    if (shadow.device() != param.device()) shadow = shadow.to(param.device());  // model moved
    if (param.numel() == 0) continue;
    // shadow = decay * shadow + (1 - decay) * param
    backend(param.device())
        .axpby(static_cast<float>(decay), shadow.data(), static_cast<float>(1.0 - decay),
               param.data(), shadow.data(), param.numel());
  }
}

void EMA::copy_to(Module& model) const {
  check_model(model, "EMA::copy_to");
  NamedTensors params = model.named_parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].second.copy_(shadow_[i].second);
}

EmaState EMA::state() const {
  EmaState out;
  out.shadow = shadow_;
  out.scalars = {{"decay", decay_},
                 {"warmup", warmup_ ? 1.0 : 0.0},
                 {"num_updates", static_cast<double>(num_updates_)}};
  return out;
}

void EMA::check_state(const EmaState& state, const std::string& source,
                      const std::string& prefix) const {
  for (const char* key : {"decay", "warmup", "num_updates"})
    DRIFT_CHECK(state.scalars.count(key), source << ": missing value '" << prefix << key << "'");
  for (const auto& entry : state.scalars)
    DRIFT_CHECK(entry.first == "decay" || entry.first == "warmup" || entry.first == "num_updates",
                source << ": unexpected value '" << prefix << entry.first << "'");
  check_decay(state.scalars.at("decay"), source);
  const double warmup = state.scalars.at("warmup"), updates = state.scalars.at("num_updates");
  DRIFT_CHECK(warmup == 0.0 || warmup == 1.0,
              source << ": value '" << prefix << "warmup' must be 0 or 1, got " << warmup);
  DRIFT_CHECK(
      std::isfinite(updates) && updates >= 0.0 && std::floor(updates) == updates,
      source << ": value '" << prefix << "num_updates' must be a whole number, got " << updates);
  std::set<std::string> given;
  for (const auto& [name, tensor] : state.shadow) {
    DRIFT_CHECK(given.insert(name).second,
                source << ": tensor '" << prefix << name << "' is given twice");
    // `wanted`, not `name` itself: clang before 16 cannot capture a structured binding.
    auto mine = std::find_if(shadow_.begin(), shadow_.end(),
                             [&wanted = name](const auto& entry) { return entry.first == wanted; });
    DRIFT_CHECK(mine != shadow_.end(), source << ": unexpected tensor '" << prefix << name
                                              << "': the model has no such parameter");
    DRIFT_CHECK(tensor.shape() == mine->second.shape(),
                source << ": tensor '" << prefix << name << "' has shape " << tensor.shape()
                       << " but the parameter has shape " << mine->second.shape());
  }
  for (const auto& entry : shadow_)
    DRIFT_CHECK(given.count(entry.first), source << ": missing tensor '" << prefix << entry.first
                                                 << "' (shape " << entry.second.shape() << ")");
}

void EMA::load_state(const EmaState& state, const std::string& source, const std::string& prefix) {
  check_state(state, source, prefix);
  for (auto& [name, shadow] : shadow_)
    for (const auto& [given_name, tensor] : state.shadow)
      if (given_name == name) shadow.copy_(tensor);
  decay_ = state.scalars.at("decay");
  warmup_ = state.scalars.at("warmup") != 0.0;
  num_updates_ = static_cast<int64_t>(state.scalars.at("num_updates"));
}

}  // namespace nn
}  // namespace drift
