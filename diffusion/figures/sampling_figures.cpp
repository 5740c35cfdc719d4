// sampling_figures.cpp — see sampling_figures.h.
#include "diffusion/figures/sampling_figures.h"

namespace drift {
namespace diffusion {

void save_overfit_figures(IndexPage& page, const std::string& dir, const std::string& part,
                          const Tensor& picture, const Tensor& samples, const Strip& strip,
                          int64_t scale) {
  const TileStyle style{scale, 0};
  const std::string times = ", enlarged " + std::to_string(scale) + "x";
  page.save_png(dir, part + "_target.png", as_tiles(picture, style),
                "the training picture" + times);
  page.save_png(dir, part + "_samples.png", make_grid(as_tiles(samples, style), 4, 2, 1.0f),
                std::to_string(samples.size(0)) + " samples from pure noise" + times);
  page.save_png(dir, part + "_steps.png", strip.image(style),
                "one row per sample, " + strip.describe());
  page.figure(part + "_loss_history.svg", "the training loss");
}

}  // namespace diffusion
}  // namespace drift
