// ema.h — an exponential moving average (EMA) of a model's parameters.
//
// Diffusion models are sampled with averaged weights: after every optimizer step,
//   shadow <- decay * shadow + (1 - decay) * param
// for each parameter, and samples come from a copy of the model holding the shadow values
// (DDPM, Ho et al. 2020, uses decay 0.9999). The average smooths the noise of the last
// steps out of the weights.
//
//   nn::EMA ema(model, /*decay=*/0.999);
//   ... optimizer.step(); ema.update(model);
//   ema.copy_to(sampling_model);   // a second instance of the same model
//
// Optional warm-up (as in TensorFlow's ExponentialMovingAverage(num_updates) and the
// latent-diffusion LitEma code): update number n (1, 2, ...) uses
//   decay_n = min(decay, (1 + n) / (10 + n)),
// so early averages are not dominated by the random initial weights (0.18 at n = 1, 0.5 at
// n = 8, 0.9 at n = 80, 0.99 at n = 890).
//
// Only parameters are averaged; buffers are not (copy_to leaves them alone).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nn/module.h"

namespace drift {
namespace nn {

// What a checkpoint stores: the shadow tensors under the parameters' names and the scalars
// "decay", "warmup" (0 or 1) and "num_updates".
struct EmaState {
  NamedTensors shadow;
  std::map<std::string, double> scalars;
};

class EMA {
 public:
  // The shadow starts as a copy of the model's parameters, on their device.
  explicit EMA(const Module& model, double decay = 0.9999, bool warmup = false);

  // shadow <- d * shadow + (1 - d) * param, d = decay_at(num_updates() + 1).
  void update(const Module& model);
  // Copies the shadow values into the model's parameters.
  void copy_to(Module& model) const;

  // The decay used by update number n (1-based): `decay`, or with warm-up
  // min(decay, (1 + n) / (10 + n)).
  double decay_at(int64_t n) const;
  double decay() const { return decay_; }
  bool warmup() const { return warmup_; }
  int64_t num_updates() const { return num_updates_; }
  const NamedTensors& shadow() const { return shadow_; }

  EmaState state() const;  // handles to the live shadow tensors
  // Checks everything first (names, shapes, scalars) and throws naming `source` and the entry
  // (written with `prefix`, e.g. "ema."), changing nothing; then copies the values in.
  void load_state(const EmaState& state, const std::string& source = "EMA state",
                  const std::string& prefix = "");
  void check_state(const EmaState& state, const std::string& source = "EMA state",
                   const std::string& prefix = "") const;

 private:
  // Throws unless `model` has exactly the shadowed parameters (names and shapes, in order).
  void check_model(const Module& model, const char* what) const;

  NamedTensors shadow_;
  double decay_;
  bool warmup_;
  int64_t num_updates_ = 0;
};

}  // namespace nn
}  // namespace drift
