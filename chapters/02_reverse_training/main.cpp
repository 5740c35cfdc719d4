// Chapter 2 — the reverse process, part one: teaching a network to see the noise.
//
// We cannot undo the forward process of chapter 1 exactly: the noise was random. But given a
// noisy picture x_t and its step t, a network can learn to predict the noise ε that was mixed
// in. This chapter trains the tutorial's toy model to do that on the mandrill:
//
//   repeat 1000 times (Ho et al. 2020, Algorithm 1):
//     ε ~ N(0, I),  t ~ Uniform{0, ..., 23}
//     x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε                        (chapter 1's closed form)
//     loss = ‖ε − ε_θ(x_t, t)‖², averaged over pixels     (eq. 14)
//     one Adam step on the loss
//
// and writes the loss curve, the trained weights (for chapter 3) and a resumable checkpoint.
//
// Run:  ./build/chapters/02_reverse_training            (outputs in out/02_reverse_training/)
//       ./build/chapters/02_reverse_training --resume   (continue an interrupted run)
//       ./build/chapters/02_reverse_training --help     (every flag, with the tutorial's values)
// The lecture companion is chapters/02_reverse_training/README.md.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/models/toy.h"
#include "diffusion/objectives/ddpm_loss.h"
#include "diffusion/process/schedule.h"
#include "diffusion/tools/cli.h"
#include "diffusion/tools/html_index.h"
#include "diffusion/tools/image.h"
#include "diffusion/tools/picture_flags.h"
#include "diffusion/tools/plot.h"
#include "diffusion/tools/strip.h"
#include "diffusion/training/schedule_flags.h"
#include "diffusion/training/trainer.h"
#include "nn/checkpoint.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// ---- how hard each timestep is ------------------------------------------------------------------

// The trained model's loss at every timestep t, averaged over `draws` noise draws. Small t
// is the hard end: x_t is almost the clean picture and the little noise in it is buried under
// the fur; at large t, x_t is almost pure noise and "predict the noise" means "copy the input".
std::vector<double> loss_by_timestep(ToyModel& model, const NoiseScheduler& scheduler,
                                     const Tensor& x0, int64_t draws) {
  NoGradGuard no_grad;
  Tensor x0_draws = x0 * ones({draws, 1, 1, 1}, x0.device());
  std::vector<double> losses;
  for (int64_t t_index = 0; t_index < scheduler.steps(); ++t_index) {
    Tensor t = scheduler.timesteps(draws, t_index);
    Tensor noise = randn(x0_draws.shape(), x0.device());
    Tensor x_t = scheduler.add_noise(x0_draws, noise, t);
    losses.push_back(mse_loss(model.forward(x_t, t), noise).item());
  }
  return losses;
}

// ---- what the trained model does with a noisy picture ------------------------------------------

// For a few timesteps: the noisy x_t, and the clean picture the model's noise prediction
// implies, x̂_0 = (x_t − √(1-ᾱ_t) ε̂)/√ᾱ_t (NoiseScheduler::predict_x0). One row each.
void save_denoising_figure(const std::string& path, ToyModel& model,
                           const NoiseScheduler& scheduler, const Tensor& x0, int64_t tile) {
  NoGradGuard no_grad;
  const int64_t T = scheduler.steps();
  std::vector<int64_t> shown;
  for (int64_t i = 0; i < 5; ++i) shown.push_back(i * (T - 1) / 4);  // 0, ..., T-1
  std::vector<Tensor> noisy, denoised;
  for (int64_t t_index : shown) {
    Tensor t = scheduler.timesteps(1, t_index);
    Tensor x_t = scheduler.add_noise(x0, randn(x0.shape(), x0.device()), t);
    Tensor eps_hat = model.forward(x_t, t);
    noisy.push_back(as_tiles(x_t, {1, tile}));
    denoised.push_back(as_tiles(scheduler.predict_x0(x_t, eps_hat, t), {1, tile}));
  }
  save_png(path, tile_rows({noisy, denoised}));
  std::printf("    -> %s\n       top: x_t at t =", path.c_str());
  for (int64_t t_index : shown) std::printf(" %lld", static_cast<long long>(t_index));
  std::printf("; bottom: the x_0 the predicted noise implies\n");
}

int run(int argc, char** argv) {
  Cli cli("02_reverse_training",
          "Chapter 2: trains the toy model eps_theta(x_t, t) to predict the noise added to the "
          "mandrill (the DDPM training objective), then writes the loss curves, the weights "
          "(chapter 3 samples with them) and a checkpoint that --resume continues exactly.");
  PictureFlags picture(cli, "picture to train on", 512);
  int64_t& batch = cli.add_int("batch", 1, "noisy copies of the picture per iteration", 1, 4096);
  ScheduleFlags schedule(cli, {24, 1e-4, 0.6});  // the tutorial's: T = 24, beta 1e-4 -> 0.6
  int64_t& hidden = cli.add_int("hidden", 16, "hidden channels of the toy model", 1, 4096);
  int64_t& tile =
      cli.add_int("tile", 256, "size of each picture in denoising.png, px (0 = full)", 0, 4096);
  TrainingOptions defaults;  // the tutorial's: 1000 Adam steps at lr 1e-3, the loss every 100
  defaults.checkpoint_every = 100;
  TrainingFlags training(cli, defaults);
  cli.parse(argc, argv);
  schedule.check(cli);  // a first beta above the last: a usage error

  const Device device = cli.device();
  const TrainingOptions options = training.options();
  const std::string out = training_output_dir(cli.out_dir(), options);  // --resume: must exist
  std::printf("Chapter 2: training the toy noise predictor (device %s, seed %llu)\n",
              device.str().c_str(), static_cast<unsigned long long>(cli.seed()));

  // ---- the data: one picture in [-1, 1], `batch` copies (each gets its own noise and t) ---------
  const std::string path = picture.path();
  std::printf("picture: %s\n", path.c_str());
  const Tensor x0 = load_picture(path, picture.size(), 3, device);  // [1, 3, size, size]
  const Tensor x0_batch = batch == 1 ? x0 : x0 * ones({batch, 1, 1, 1}, device);

  // ---- the schedule and the model (its weights drawn from the --seed'ed generator) -------------
  const NoiseScheduler scheduler = schedule.scheduler(device);
  ToyModel model(3, hidden);
  model.to(device);
  std::printf("%s", model.summary().c_str());
  RunSettings settings = schedule.settings();  // steps, schedule, beta-start, beta-end
  settings.insert({{"image", path},
                   {"size", std::to_string(picture.size())},
                   {"batch", std::to_string(batch)},
                   {"hidden", std::to_string(hidden)}});

  // ---- training: Algorithm 1 of Ho et al., one batch per step --------------------------------
  std::printf("\nTraining: loss = mean (eps - eps_theta(x_t, t))^2 over the pixels\n");
  Trainer trainer(model, options, out, settings);
  while (trainer.running()) {  // --iterations steps, or until --minutes or Ctrl-C
    // ε ~ N(0, I), t ~ U{0..T-1}, x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, loss = ‖ε − ε_θ(x_t, t)‖² / n
    Tensor loss = ddpm_loss(model, scheduler, x0_batch);
    trainer.step(loss);  // backward, Adam, the loss history, the checkpoint
  }
  std::printf("\nOutputs\n");
  trainer.finish();

  // ---- what the trained model learned
  // ------------------------------------------------------------
  const std::string weights_path = out + "/toy_model.safetensors";
  nn::save_weights(weights_path, model, settings);  // the settings travel with the weights
  std::printf("    -> %s (the trained weights and their schedule; chapter 3 samples with them)\n",
              weights_path.c_str());
  const int64_t draws = 4;
  const std::vector<double> by_timestep = loss_by_timestep(model, scheduler, x0, draws);
  LinePlot per_t;
  per_t.title = "trained model: loss at each timestep";
  per_t.xlabel = "timestep t";
  per_t.ylabel = "loss (log scale)";
  per_t.log_y = per_t.grid = true;
  per_t.legend = LegendLocation::None;
  per_t.add("mean of " + std::to_string(draws) + " draws", by_timestep).markers = true;
  const std::string per_t_path = out + "/loss_by_timestep.svg";
  per_t.save(per_t_path);
  std::printf("    -> %s (the loss at each t: small t is the hard end)\n       loss at t =",
              per_t_path.c_str());
  for (size_t t_index = 0; t_index < by_timestep.size();
       t_index += std::max<size_t>(1, by_timestep.size() / 6))
    std::printf(" %zu: %.3f,", t_index, by_timestep[t_index]);
  std::printf(" %zu: %.3f\n", by_timestep.size() - 1, by_timestep.back());
  save_denoising_figure(out + "/denoising.png", model, scheduler, x0, tile);

  IndexPage page("Chapter 2: the reverse process, training",
                 "The toy model learns to predict the noise mixed into the mandrill.");
  page.figure("loss_history.svg", "the training loss and its moving average");
  page.figure("loss_by_timestep.svg", "the trained model's loss at each timestep t");
  page.figure("denoising.png", "top: x_t; bottom: the x_0 the predicted noise implies");
  page.file("toy_model.safetensors", "the trained weights (chapter 3 samples with them)");
  page.file("losses.csv", "the loss of every step");
  write_chapter_page(page, out);
  std::printf("\nDone. Chapter 3 samples with these weights: ./build/chapters/03_sampling\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, run);
}
