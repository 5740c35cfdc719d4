// saved_weights.h — using one chapter's trained weights in another.
//
// nn::save_weights stores the settings a model was trained with beside its weights (the
// schedule: steps, schedule, beta-start, beta-end). A model only undoes the noise of the
// schedule it was trained on, so the chapter that loads the weights checks them against its
// own flags instead of sampling with the wrong schedule.
#pragma once

#include <string>

#include "diffusion/tools/cli.h"
#include "diffusion/training/trainer.h"  // RunSettings
#include "nn/module.h"

namespace drift {
namespace diffusion {

// Where another chapter's output is, given this chapter's --out folder: the sibling folder.
// ("out/03_sampling", "02_reverse_training/toy_model.safetensors")
//   -> "out/02_reverse_training/toy_model.safetensors"
std::string beside_output_dir(const std::string& out_dir, const std::string& relative);

// Loads `path` into `model` and compares the settings stored with it to `expected`: a value
// that differs is an error naming the flag ("... was trained with --steps 24 but ..."), one
// the file does not record is a printed warning.
void load_trained_weights(const std::string& path, nn::Module& model, const RunSettings& expected);

// --weights PATH: another chapter's trained weights, by default where that chapter writes
// them beside this one's --out folder.
//
//   WeightsFlag weights(cli, "(a) the toy model's weights",
//   "02_reverse_training/toy_model.safetensors"); cli.parse(argc, argv); weights.check(); // an
//   explicit PATH must exist const std::string path = weights.path(out_dir);    // PATH, or
//   out/02_reverse_training/...
class WeightsFlag {
 public:
  WeightsFlag(Cli& cli, const std::string& what, std::string default_relative);
  // After parse: a --weights that does not exist is an error, before any work is done. (The
  // default file may be missing: the chapter then says what it does without it.)
  void check() const;
  std::string path(const std::string& out_dir) const;

 private:
  std::string& given_;
  std::string default_relative_;
};

}  // namespace diffusion
}  // namespace drift
