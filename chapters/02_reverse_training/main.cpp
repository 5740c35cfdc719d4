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
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/tools/cli.h"
#include "diffusion/tools/data.h"
#include "diffusion/objectives/ddpm_loss.h"
#include "diffusion/tools/image.h"
#include "diffusion/models/toy.h"
#include "diffusion/tools/plot.h"
#include "diffusion/tools/progress.h"
#include "diffusion/process/schedule.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "tensor/error.h"
#include "tensor/io/safetensors.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// ---- the run's settings, which a resumed run must share -----------------------------------------

// The flags that shape the training, as text, stored in the checkpoint (TrainingState::extra)
// so that --resume can refuse to continue a run with different settings.
using Settings = std::map<std::string, std::string>;

std::string exact(double x) {  // enough digits to read back the same double
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", x);
  return buffer;
}

void check_same_settings(const Settings& saved, const Settings& now, const std::string& path) {
  for (const auto& [key, value] : now) {
    auto it = saved.find(key);
    DRIFT_CHECK(it != saved.end(),
                "cannot resume from " << path << ": it does not record --" << key);
    DRIFT_CHECK(it->second == value, "cannot resume from "
                                         << path << ": it was trained with --" << key << " "
                                         << it->second << ", this run has --" << key << " " << value
                                         << " (use the same flags, or start afresh without "
                                            "--resume)");
  }
}

// ---- the loss history, a CSV file beside the checkpoint ---------------------------------------

void save_losses(const std::string& path, const std::vector<double>& losses) {
  std::ostringstream csv;
  csv << "iteration,loss\n";
  char line[64];
  for (size_t i = 0; i < losses.size(); ++i) {
    std::snprintf(line, sizeof line, "%zu,%.9g\n", i, losses[i]);
    csv << line;
  }
  write_file_atomically(path, csv.str());
}

// The first `count` losses of a history written by save_losses; fewer if the file is shorter,
// missing or damaged (the caller says so: the history only feeds the plot).
std::vector<double> load_losses(const std::string& path, int64_t count) {
  std::vector<double> losses;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // the header
  while (static_cast<int64_t>(losses.size()) < count && std::getline(in, line)) {
    const size_t comma = line.find(',');
    if (comma == std::string::npos) break;
    const char* text = line.c_str() + comma + 1;
    char* end = nullptr;
    const double loss = std::strtod(text, &end);
    if (end == text) break;  // not a number: keep what came before
    losses.push_back(loss);
  }
  return losses;
}

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
  auto as_tile = [&](const Tensor& x) {
    Tensor picture = unnormalize_to_zero_to_one(x).cpu();
    if (tile > 0 && tile < picture.size(-1))
      picture = resize(picture, tile, tile, ResizeFilter::Nearest);
    return picture;
  };
  for (int64_t t_index : shown) {
    Tensor t = scheduler.timesteps(1, t_index);
    Tensor x_t = scheduler.add_noise(x0, randn(x0.shape(), x0.device()), t);
    Tensor eps_hat = model.forward(x_t, t);
    noisy.push_back(as_tile(x_t));
    denoised.push_back(as_tile(scheduler.predict_x0(x_t, eps_hat, t)));
  }
  std::vector<Tensor> tiles = noisy;
  tiles.insert(tiles.end(), denoised.begin(), denoised.end());
  save_png(path, make_grid(cat(tiles, 0), static_cast<int64_t>(shown.size()), 2, 1.0f));
  std::printf("    -> %s\n       top: x_t at t =", path.c_str());
  for (int64_t t_index : shown) std::printf(" %lld", static_cast<long long>(t_index));
  std::printf("; bottom: the x_0 the predicted noise implies\n");
}

int run(int argc, char** argv) {
  Cli cli("02_reverse_training",
          "Chapter 2: trains the toy model eps_theta(x_t, t) to predict the noise added to the\n"
          "mandrill (the DDPM training objective), then writes the loss curve, the weights\n"
          "(chapter 3 samples with them) and a checkpoint that --resume continues exactly.");
  std::string& image_path =
      cli.add_string("image", "", "picture to train on (default: the mandrill, found via --data)");
  int64_t& size = cli.add_int("size", 512, "the picture is resized to SIZE x SIZE pixels", 4, 4096);
  int64_t& iterations = cli.add_int("iterations", 1000, "training iterations in all", 1, 100000000);
  int64_t& batch = cli.add_int("batch", 1, "noisy copies of the picture per iteration", 1, 4096);
  double& lr = cli.add_float("lr", 1e-3, "Adam learning rate", 1e-9, 10.0);
  int64_t& steps = cli.add_int("steps", 24, "T, the number of noising steps", 2, 100000);
  double& beta_start =
      cli.add_float("beta-start", 1e-4, "first beta of the linear schedule", 1e-8, 0.999);
  double& beta_end =
      cli.add_float("beta-end", 0.6, "last beta of the linear schedule", 1e-8, 0.999);
  std::string& schedule =
      cli.add_choice("schedule", "linear", {"linear", "cosine", "quadratic", "sigmoid"},
                     "beta schedule (cosine ignores --beta-start and --beta-end)");
  int64_t& hidden = cli.add_int("hidden", 16, "hidden channels of the toy model", 1, 4096);
  int64_t& log_every =
      cli.add_int("log-every", 100, "print the loss every N iterations", 1, 100000000);
  int64_t& checkpoint_every =
      cli.add_int("checkpoint-every", 100,
                  "write the checkpoint every N iterations (and at the end)", 1, 100000000);
  int64_t& smooth =
      cli.add_int("smooth", 50, "window of the loss curve's moving average", 1, 1000000);
  int64_t& tile =
      cli.add_int("tile", 256, "size of each picture in denoising.png, px (0 = full)", 0, 4096);
  bool& resume = cli.add_switch("resume", "continue from the checkpoint in --out");
  cli.parse(argc, argv);
  if (beta_start > beta_end) cli.usage_error("--beta-start must not exceed --beta-end");

  const Device device = cli.device();
  const std::string out = make_output_dir(cli.out_dir());
  const std::string weights_path = out + "/toy_model.safetensors";
  const std::string checkpoint_path = out + "/checkpoint.safetensors";
  const std::string losses_path = out + "/losses.csv";
  if (resume)
    DRIFT_CHECK(std::filesystem::exists(checkpoint_path),
                "--resume: no checkpoint to continue at " << checkpoint_path
                                                          << " (run without --resume to start)");
  std::printf("Chapter 2: training the toy noise predictor (device %s, seed %llu)\n",
              device.str().c_str(), static_cast<unsigned long long>(cli.seed()));

  // ---- the data: one picture, in [-1, 1] --------------------------------------------------------
  std::string path = image_path;
  if (path.empty()) {
    DataLocation found = find_mandrill(DataSearch::defaults(cli.data_dir()));
    path = found.path;
    std::printf("picture: %s (found via %s)\n", path.c_str(), found.origin.c_str());
  } else {
    std::printf("picture: %s\n", path.c_str());
  }
  Tensor x0 = load_picture(path, size, 3, device);  // [1, 3, size, size]
  // The batch: `batch` copies of the same picture (each gets its own noise and timestep).
  Tensor x0_batch = batch == 1 ? x0 : x0 * ones({batch, 1, 1, 1}, device);

  // ---- the schedule, the model, the optimizer ---------------------------------------------------
  NoiseScheduler scheduler(steps, beta_start, beta_end, parse_beta_schedule(schedule), device);
  // Weights are drawn from the global generator, which --seed seeded: the same seed, the same
  // model. Every random number of the training comes from it too, and a checkpoint saves its
  // position, so a resumed run draws exactly the numbers the uninterrupted one would have.
  ToyModel model(3, hidden);
  model.to(device);
  nn::Adam optimizer(model.parameters(), lr);
  std::printf("%s", model.summary().c_str());
  std::printf("schedule: T = %lld, beta %s %g -> %g; Adam lr %g; batch %lld; %lld iterations\n",
              static_cast<long long>(steps), schedule.c_str(), beta_start, beta_end, lr,
              static_cast<long long>(batch), static_cast<long long>(iterations));

  const Settings settings = {{"image", path},
                             {"size", std::to_string(size)},
                             {"batch", std::to_string(batch)},
                             {"lr", exact(lr)},
                             {"steps", std::to_string(steps)},
                             {"schedule", schedule},
                             {"beta-start", exact(beta_start)},
                             {"beta-end", exact(beta_end)},
                             {"hidden", std::to_string(hidden)}};
  std::vector<double> losses;  // one per iteration
  int64_t first_iteration = 0;
  if (resume) {
    nn::TrainingState state = nn::load_checkpoint(checkpoint_path, model, &optimizer);
    check_same_settings(state.extra, settings, checkpoint_path);
    first_iteration = state.step;
    losses = load_losses(losses_path, first_iteration);
    std::printf("resuming from %s at iteration %lld\n", checkpoint_path.c_str(),
                static_cast<long long>(first_iteration));
    if (static_cast<int64_t>(losses.size()) < first_iteration) {
      std::printf(
          "    note: %s holds only %zu of the %lld earlier losses; the curve misses the rest\n",
          losses_path.c_str(), losses.size(), static_cast<long long>(first_iteration));
      losses.resize(static_cast<size_t>(first_iteration), std::nan(""));  // gaps in the plot
    }
    if (first_iteration >= iterations)
      std::printf("    the checkpoint is already at --iterations %lld: nothing left to train\n",
                  static_cast<long long>(iterations));
  } else if (std::filesystem::exists(checkpoint_path)) {
    std::printf("starting afresh: %s will be overwritten (--resume continues it instead)\n",
                checkpoint_path.c_str());
  }

  auto save_training_checkpoint = [&](int64_t completed) {
    nn::TrainingState state;
    state.step = completed;
    state.extra = settings;
    nn::save_checkpoint(checkpoint_path, model, &optimizer, state);
    save_losses(losses_path, losses);
  };

  // ---- training: Algorithm 1 --------------------------------------------------------------------
  std::printf("\nTraining: loss = mean (eps - eps_theta(x_t, t))^2 over the pixels\n");
  // The progress line counts this run's iterations (its rate and ETA are this run's).
  Progress progress(first_iteration > 0 ? "training (resumed)" : "training",
                    std::max<int64_t>(iterations - first_iteration, 1));
  for (int64_t it = first_iteration; it < iterations; ++it) {
    optimizer.zero_grad();
    // ε ~ N(0, I), t ~ U{0..T-1}, x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, loss = ‖ε − ε_θ(x_t, t)‖² / n
    Tensor loss = ddpm_loss(model, scheduler, x0_batch);
    const double loss_value = loss.item();
    DRIFT_CHECK(std::isfinite(loss_value), "the loss became "
                                               << loss_value << " at iteration " << it
                                               << " (training diverged; try a smaller --lr)");
    losses.push_back(loss_value);
    loss.backward();
    optimizer.step();

    if (it % log_every == 0 || it + 1 == iterations) {
      // The mean of the last log_every losses (a resumed run may have gaps: NaN, skipped).
      const int64_t window = std::min<int64_t>(log_every, it + 1);
      const double recent = moving_average(losses, window).back();
      char line[160];
      std::snprintf(line, sizeof line, "iteration %5lld  loss %.4f  (mean of the last %lld: %.4f)",
                    static_cast<long long>(it), loss_value, static_cast<long long>(window), recent);
      progress.note(line);
    }
    progress.step(loss_value);
    if ((it + 1) % checkpoint_every == 0 && it + 1 < iterations) save_training_checkpoint(it + 1);
  }
  if (first_iteration < iterations) progress.finish();
  save_training_checkpoint(std::max(iterations, first_iteration));

  // ---- outputs ----------------------------------------------------------------------------------
  std::printf("\nOutputs\n");
  nn::save_weights(weights_path, model);
  std::printf("    -> %s (the trained weights; chapter 3 samples with them)\n",
              weights_path.c_str());
  std::printf("    -> %s (model, Adam state, random generator, step: --resume continues it)\n",
              checkpoint_path.c_str());
  std::printf("    -> %s (the loss of every iteration)\n", losses_path.c_str());
  const int64_t draws = 4;
  const std::vector<double> by_timestep = loss_by_timestep(model, scheduler, x0, draws);
  Figure figure(1, 2);
  figure.panel(0) =
      loss_plot(losses, smooth, "training loss (batch " + std::to_string(batch) + ")");
  LinePlot& per_t = figure.panel(1);
  per_t.title = "trained model: loss at each timestep";
  per_t.xlabel = "timestep t";
  per_t.ylabel = "loss (log scale)";
  per_t.log_y = per_t.grid = true;
  per_t.legend = LegendLocation::None;
  per_t.add("mean of " + std::to_string(draws) + " draws", by_timestep).markers = true;
  figure.title = "Chapter 2: the toy model learns to predict the noise";
  const std::string plot_path = out + "/loss_history.svg";
  figure.save(plot_path);
  std::printf(
      "    -> %s (left: the loss curve and its moving average; right: the loss at each t)\n",
      plot_path.c_str());
  std::printf("       loss at t =");
  for (size_t t_index = 0; t_index < by_timestep.size();
       t_index += std::max<size_t>(1, by_timestep.size() / 6))
    std::printf(" %zu: %.3f,", t_index, by_timestep[t_index]);
  std::printf(" %zu: %.3f\n", by_timestep.size() - 1, by_timestep.back());
  save_denoising_figure(out + "/denoising.png", model, scheduler, x0, tile);

  std::printf("\nDone. Chapter 3 samples with these weights: ./build/chapters/03_sampling\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, run);
}
