// overfit.cpp — see overfit.h.
#include "diffusion/training/overfit.h"

#include <algorithm>
#include <cstdio>

#include "autograd/ops.h"
#include "diffusion/objectives/ddpm_loss.h"

namespace drift {
namespace diffusion {

TrainingOptions adam_for(int64_t iterations, double lr) {
  TrainingOptions options;
  options.iterations = iterations;
  options.lr = lr;
  options.log_every = std::max<int64_t>(1, iterations / 10);
  return options;
}

void overfit_one_picture(NoisePredictor& model, const NoiseScheduler& scheduler, const Tensor& x0,
                         int64_t batch, const TrainingOptions& options, const std::string& out_dir,
                         const std::string& part, const RunSettings& settings,
                         Generator* generator) {
  std::printf("%s    Adam lr %g, batch %lld noisy copies, %lld iterations\n",
              model.summary().c_str(), options.lr, static_cast<long long>(batch),
              static_cast<long long>(options.iterations));
  const Tensor x0_batch = x0 * ones({batch, 1, 1, 1}, x0.device());
  Trainer trainer(model, options, out_dir, settings, part + "_", generator,
                  "training (" + part + ")");
  while (trainer.running()) trainer.step(ddpm_loss(model, scheduler, x0_batch, generator));
  trainer.finish();
}

}  // namespace diffusion
}  // namespace drift
