// noise_error.cpp — see noise_error.h.
#include "diffusion/metrics/noise_error.h"

#include <cstdio>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

Tensor noise_error_by_pixel(NoisePredictor& model, const NoiseScheduler& scheduler,
                            const Tensor& x0, int64_t draws, int64_t every, Generator* generator) {
  DRIFT_CHECK(x0.defined() && x0.ndim() == 4 && x0.size(0) == 1,
              "noise_error_by_pixel: expected one picture [1, C, H, W]");
  DRIFT_CHECK(draws >= 1 && every >= 1,
              "noise_error_by_pixel: draws and every must be >= 1, got " << draws << ", " << every);
  NoGradGuard no_grad;
  const Tensor x0s = x0 * ones({draws, 1, 1, 1}, x0.device());
  Tensor total = zeros({x0.size(2), x0.size(3)});
  int64_t count = 0;
  for (int64_t t = 0; t < scheduler.steps(); t += every, ++count) {
    const Tensor eps = randn(x0s.shape(), x0.device(), generator);
    const Tensor t_batch = scheduler.timesteps(draws, t);
    const Tensor error = model.forward(scheduler.add_noise(x0s, eps, t_batch), t_batch) - eps;
    total = total + mean(error * error, {0, 1}).cpu();  // over draws and channels
  }
  return total * (1.0f / static_cast<float>(count));
}

std::string BorderSplit::describe() const {
  char text[120];
  std::snprintf(text, sizeof text,
                "squared error of eps_hat: corners %.3f, edges %.3f, inside %.3f", corners, edges,
                inside);
  return text;
}

BorderSplit split_by_border(const Tensor& map) {
  DRIFT_CHECK(map.defined() && map.ndim() == 2 && map.size(0) >= 3 && map.size(1) >= 3,
              "split_by_border: expected a map [H, W] of at least 3x3");
  const int64_t H = map.size(0), W = map.size(1);
  const std::vector<float> v = map.cpu().to_vector();
  double sum[3] = {0, 0, 0};
  int64_t n[3] = {0, 0, 0};
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j) {
      const int on_border = (i == 0 || i == H - 1) + (j == 0 || j == W - 1);  // 2: a corner
      const int which = on_border == 2 ? 0 : on_border == 1 ? 1 : 2;
      sum[which] += v[static_cast<size_t>(i * W + j)];
      ++n[which];
    }
  return {sum[0] / n[0], sum[1] / n[1], sum[2] / n[2]};
}

}  // namespace diffusion
}  // namespace drift
