// sampling_figures.h — the pictures of a sampling run, written onto a chapter's page.
//
//   Strip strip{strip_levels(T, 100), 4, {}};             // kept by the sampling loop
//   save_overfit_figures(page, out, "c", x0, samples, strip, 8);
//   // -> c_target.png, c_samples.png, c_steps.png, and c_loss_history.svg shown on the page
#pragma once

#include <cstdint>
#include <string>

#include "diffusion/tools/html_index.h"
#include "diffusion/tools/strip.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// A model overfitted to one picture (chapter 3 (b), (c)), sampled: in `dir`,
// <part>_target.png (the training picture [1, C, H, W]), <part>_samples.png (the samples
// [N, C, H, W], four per row) and <part>_steps.png (the strip, one row per sample), all
// enlarged `scale` times; then the training loss the Trainer wrote, <part>_loss_history.svg.
void save_overfit_figures(IndexPage& page, const std::string& dir, const std::string& part,
                          const Tensor& picture, const Tensor& samples, const Strip& strip,
                          int64_t scale);

}  // namespace diffusion
}  // namespace drift
