// checkpoint.h — saving and loading models and whole training runs (safetensors files).
//
// Two kinds of file, both safetensors (tensor/io/safetensors.h), both written atomically
// (a temporary file, flushed, then renamed over the target: a crash mid-save leaves the
// previous file intact):
//
// * Weights: the module's state dict under its own dotted names ("down.0.conv.weight"),
//   float32, metadata {"format": "pt"}. In PyTorch (the `safetensors` package; our tests use
//   a writer of our own to the same specification, see tensor/io/safetensors.h):
//       model.load_state_dict(safetensors.torch.load_file("model.safetensors"))
//   and the other way round: a file PyTorch saved from a model with the same names loads here.
//
// * Checkpoints: everything a run needs to resume exactly where it stopped:
//       model.<name>               the model's state dict
//       optimizer.<i>.<buffer>     the optimizer's per-parameter buffers (nn/optim.h)
//       ema.<name>                 the EMA shadow, if an EMA is given (nn/ema.h)
//   and in __metadata__ (all values are strings):
//       drift_checkpoint_version   "1"
//       step                       TrainingState::step
//       rng.seed, rng.offset       drift's default_generator() (tensor/random.h)
//       optimizer.type, optimizer.<scalar>   hyper-parameters and step counts
//       ema.<scalar>               decay, warm-up, number of updates
//       extra.<key>                TrainingState::extra
//   Numbers are written in the shortest form that reads back to the same double.
//
// Loading checks everything before changing anything — the safetensors structure (truncation,
// header length, offsets, dtypes), every tensor name and shape, every metadata value — and
// throws drift::Error naming the file and the tensor or key at fault.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nn/ema.h"
#include "nn/module.h"
#include "nn/optim.h"

namespace drift {
namespace nn {

constexpr int kCheckpointVersion = 1;

// The run's own progress, saved with a checkpoint.
struct TrainingState {
  int64_t step = 0;                          // training iterations completed
  std::map<std::string, std::string> extra;  // free-form values (saved as "extra.<key>")
};

// `settings` (e.g. the noise schedule the model was trained with) are stored in the metadata
// as "setting.<key>", so that whoever loads the weights can check they fit.
void save_weights(const std::string& path, const Module& module,
                  const std::map<std::string, std::string>& settings = {});
// Every parameter and buffer must be in the file with its shape, and nothing else.
// Returns the settings saved with the weights (empty for a file without any).
std::map<std::string, std::string> load_weights(const std::string& path, Module& module);

// `optimizer` and `ema` may be null (then their parts are not written).
void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const TrainingState& state, const EMA* ema = nullptr);
// Restores the model, the optimizer and the EMA when given (a null one's part of the file is
// skipped; a part the file lacks is an error), and unless restore_rng is false the global
// random generator, so the next random numbers are those the saved run would have drawn.
// Returns the saved TrainingState.
TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer,
                              EMA* ema = nullptr, bool restore_rng = true);

}  // namespace nn
}  // namespace drift
