// overfit.h — training a noise predictor on a single picture: the experiment of chapter 3 (b)
// and (c), where the best possible model reproduces the picture, so its samples show at a
// glance whether training and sampling work (diffusion/metrics/distance.h measures them).
#pragma once

#include <cstdint>
#include <string>

#include "diffusion/models/noise_predictor.h"
#include "diffusion/process/schedule.h"
#include "diffusion/training/trainer.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// Plain Adam for `iterations` steps at `lr`, with a log line ten times per run.
TrainingOptions adam_for(int64_t iterations, double lr);

// Algorithm 1 of Ho et al. on batches of `batch` copies of x0 [1, C, H, W], each copy with its
// own noise and t, on the shared training loop. The files in `out_dir` get the part's letter:
// part "b" writes b_checkpoint.safetensors, b_losses.csv, b_loss_history.svg.
void overfit_one_picture(NoisePredictor& model, const NoiseScheduler& scheduler, const Tensor& x0,
                         int64_t batch, const TrainingOptions& options, const std::string& out_dir,
                         const std::string& part, const RunSettings& settings,
                         Generator* generator);

}  // namespace diffusion
}  // namespace drift
