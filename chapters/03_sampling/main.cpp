// Chapter 3 — the reverse process, part two: sampling, from pure noise to a picture.
//
// A model that predicts the noise in x_t gives us the mean of the step back, and DDPM's
// sampler (Ho et al. 2020, Algorithm 2) walks from x_T ~ N(0, I) down to x_0:
//
//   x_{t-1} = (x_t − β_t/√(1-ᾱ_t) · ε_θ(x_t, t)) / √α_t + σ_t z,   z ~ N(0, I)     (eq. 11)
//   σ²_t = β̃_t = (1-ᾱ_{t-1})/(1-ᾱ_t) · β_t  (the posterior variance), and no noise at t = 0.
//
// Three experiments, each writing its final samples and a strip of the steps in between:
//   (a) sample the mandrill-trained toy model of chapter 2 (T = 24) at 512x512;
//   (b) overfit the toy model (one grey channel) to an 8x8 black picture with a white square,
//       then sample it: can a network that sees 5x5 pixels draw a square?
//   (c) overfit a small U-Net (T = 1000, learned time embedding, 16/32/64 channels) to one
//       small picture with batches of 128 noisy copies, then sample it.
//
// Run:  ./build/chapters/03_sampling              (outputs in out/03_sampling/; run chapter 2
// first)
//       ./build/chapters/03_sampling --parts b    (one experiment only)
//       ./build/chapters/03_sampling --help       (every flag, with the tutorial's values)
// The lecture companion is chapters/03_sampling/README.md.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/tools/cli.h"
#include "diffusion/tools/data.h"
#include "diffusion/objectives/ddpm_loss.h"
#include "diffusion/samplers/ddpm.h"
#include "diffusion/tools/html_index.h"
#include "diffusion/tools/image.h"
#include "diffusion/models/tiny_unet.h"
#include "diffusion/models/toy.h"
#include "diffusion/tools/plot.h"
#include "diffusion/tools/progress.h"
#include "diffusion/tools/strip.h"
#include "diffusion/training/trainer.h"
#include "diffusion/process/schedule.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "tensor/error.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// --weights' default: chapter 2's output, looked for beside this chapter's --out folder.
const char* const kDefaultWeights = "02_reverse_training/toy_model.safetensors";

// ---- Algorithm 2: sampling --------------------------------------------------------------------

// DDPM's sampler (Ho et al. 2020, Algorithm 2) as the loop it is: start from pure noise, and at
// each t ask the model for the noise in x_t and take one reverse step. The strip keeps a frame
// now and then. (DDPMSampler::sample in diffusion/samplers/ddpm.h is the same loop.)
Tensor sample(NoisePredictor& model, const DDPMSampler& sampler, const Shape& shape,
              Generator* generator, Strip& strip, const std::string& label) {
  NoGradGuard no_grad;  // sampling trains nothing: no graph
  const NoiseScheduler& scheduler = sampler.scheduler();
  const int64_t T = scheduler.steps();
  Progress progress(label, T);
  Tensor x = randn(shape, scheduler.device(), generator);  // line 1: x_T ~ N(0, I)
  strip.keep(T, x);
  for (int64_t t = T - 1; t >= 0; --t) {  // line 2: for t = T, ..., 1 (0-based here)
    Tensor eps_hat = model.forward(x, scheduler.timesteps(shape[0], t));  // ε_θ(x_t, t)
    // lines 3-4: x_{t-1} = (x_t − β_t/√(1-ᾱ_t) ε̂)/√α_t + σ_t z, z ~ N(0, I), no z at t = 0
    x = sampler.step(eps_hat, t, x, generator);
    strip.keep(t, x);
    progress.step();
  }
  progress.finish();
  return x;  // line 6: x_0
}

// Mean and standard deviation of all values (of a small host copy).
struct Stats {
  double mean, std;
};
Stats stats(const Tensor& x) {
  std::vector<float> v = x.to_vector();
  double sum = 0, sum_sq = 0;
  for (float f : v) sum += f, sum_sq += static_cast<double>(f) * f;
  const double n = static_cast<double>(v.size());
  return {sum / n, std::sqrt(std::max(sum_sq / n - (sum / n) * (sum / n), 0.0))};
}

// How close each sample is to the one picture the model was overfitted to: the root mean
// square difference in [0, 1] pixel units (after clamping), and how many samples are within
// `tolerance` of it.
void report_against_target(const Tensor& samples, const Tensor& target, double tolerance) {
  Tensor a = unnormalize_to_zero_to_one(samples).cpu();
  Tensor b = unnormalize_to_zero_to_one(target).cpu();
  const int64_t n = a.size(0), per = a.numel() / n;
  std::vector<float> av = a.to_vector(), bv = b.to_vector();
  int64_t close = 0;
  double worst = 0, total = 0;
  for (int64_t i = 0; i < n; ++i) {
    double sq = 0;
    for (int64_t j = 0; j < per; ++j) {
      const double d = av[static_cast<size_t>(i * per + j)] - bv[static_cast<size_t>(j)];
      sq += d * d;
    }
    const double rms = std::sqrt(sq / static_cast<double>(per));
    close += rms <= tolerance;
    worst = std::max(worst, rms);
    total += rms;
  }
  std::printf(
      "    distance to the training picture (RMS, pixels in [0, 1]): mean %.3f, worst %.3f; "
      "%lld of %lld samples within %.2f\n",
      total / static_cast<double>(n), worst, static_cast<long long>(close),
      static_cast<long long>(n), tolerance);
}

// ---- training on one picture (parts b and c) ----------------------------------------------------

// Algorithm 1 on a batch of `batch` copies of x0 (each with its own noise and timestep), with
// Adam, on the shared training loop; its files get the part's letter ("b_losses.csv", ...).
void overfit(NoisePredictor& model, const NoiseScheduler& scheduler, const Tensor& x0,
             int64_t batch, int64_t iterations, double lr, int64_t log_every,
             const std::string& out, const std::string& part, const RunSettings& settings,
             Generator* generator) {
  Tensor x0_batch = batch == 1 ? x0 : x0 * ones({batch, 1, 1, 1}, x0.device());
  TrainingOptions options;
  options.iterations = iterations;
  options.lr = lr;
  options.log_every = log_every;
  Trainer trainer(model, options, out, settings, part + "_", generator, "training (" + part + ")");
  while (trainer.running()) trainer.step(ddpm_loss(model, scheduler, x0_batch, generator));
  trainer.finish();
}

// ---- the parts ----------------------------------------------------------------------------------

struct Common {
  Device device;
  uint64_t seed;
  std::string out;
  ReverseVariance variance;  // σ²_t of every reverse step: β̃_t (posterior) or β_t
};

// (a) The toy model of chapter 2 run backwards from pure noise.
void part_a(const Common& c, const std::string& weights_flag, int64_t size, int64_t hidden,
            const NoiseScheduler& scheduler, const RunSettings& schedule_settings,
            int64_t strip_every, int64_t tile) {
  std::printf("\n(a) sampling the chapter-2 toy model: T = %lld, %lldx%lld RGB, from pure noise\n",
              static_cast<long long>(scheduler.steps()), static_cast<long long>(size),
              static_cast<long long>(size));
  Generator gen(c.seed);
  ToyModel model(3, hidden, 3, &gen);
  model.to(c.device);
  // An explicit --weights must exist; the default (chapter 2's output next to ours) may not.
  std::filesystem::path out_dir(c.out);
  if (!out_dir.has_filename()) out_dir = out_dir.parent_path();  // "out/03_sampling/"
  const std::string default_weights =
      (out_dir.parent_path() / "02_reverse_training" / "toy_model.safetensors").string();
  const bool given = weights_flag != kDefaultWeights;
  const std::string weights = given ? weights_flag : default_weights;
  if (given || std::filesystem::exists(weights)) {
    DRIFT_CHECK(std::filesystem::exists(weights), "--weights: no such file: '" << weights << "'");
    const RunSettings trained_with = nn::load_weights(weights, model);
    // A model only undoes the noise of the schedule it was trained on: check it is this one.
    for (const auto& [key, value] : schedule_settings) {
      auto it = trained_with.find(key);
      if (it == trained_with.end()) {
        std::printf("    WARNING: %s does not record its --%s; make sure it is %s\n",
                    weights.c_str(), key.c_str(), value.c_str());
        continue;
      }
      DRIFT_CHECK(it->second == value, weights << " was trained with --" << key << " "
                                                << it->second << " but (a) samples with --"
                                                << key << " " << value
                                                << ": give the same schedule flags");
    }
    std::printf("    model: TRAINED weights from %s\n", weights.c_str());
  } else {
    const std::string warning = "UNTRAINED model: no weights at " + weights +
                                " (run 02_reverse_training first, or give --weights); expect "
                                "noise: an untrained model predicts nothing useful";
    std::printf("    WARNING: %s\n", warning.c_str());
    std::fprintf(stderr, "03_sampling: warning: %s\n", warning.c_str());
  }

  Strip recorder{strip_levels(scheduler.steps(), strip_every), 1, {}};
  Tensor sample = ::sample(model, DDPMSampler(scheduler, c.variance), {1, 3, size, size}, &gen,
                           recorder, "sampling (a)");
  // How the spread of x_t evolves: from 1 (pure noise) towards the picture's own spread.
  std::printf("    std of x_t:");
  for (size_t i = 0; i < recorder.frames.size(); ++i)
    std::printf(" x_%lld %.2f%s", static_cast<long long>(recorder.levels[i]),
                stats(recorder.frames[i]).std, i + 1 < recorder.frames.size() ? "," : "\n");
  const Stats s = stats(sample);
  std::printf("    x_0: mean %.3f, std %.3f (the mandrill in [-1, 1] has about 0.0 and 0.44)\n",
              s.mean, s.std);
  const std::string final_path = c.out + "/a_sample.png";
  save_png(final_path, unnormalize_to_zero_to_one(sample));
  std::printf("    -> %s (x_0, %lldx%lld)\n", final_path.c_str(), static_cast<long long>(size),
              static_cast<long long>(size));
  const std::string strip_path = c.out + "/a_steps.png";
  recorder.save(strip_path, TileStyle{1, tile});
  std::printf("    -> %s (%s)\n", strip_path.c_str(), recorder.describe().c_str());
}

// The 8x8 black picture with a white square in rows and columns 2..5, in [-1, 1]: [1, 1, 8, 8].
Tensor white_square(Device device) {
  std::vector<float> pixels(64, -1.0f);
  for (int y = 2; y < 6; ++y)
    for (int x = 2; x < 6; ++x) pixels[static_cast<size_t>(y * 8 + x)] = 1.0f;
  return from_vector(pixels, Shape{1, 1, 8, 8}, device);
}

struct PartB {
  int64_t iterations, batch, hidden, kernel, samples, scale, strip_every, log_every;
  double lr;
};

// Parts (b) and (c) end alike: sample the overfitted model, compare the samples with the
// training picture, and write the picture, a grid of samples and a strip of their x_t.
// `part` names the files ("b" -> b_target.png, b_samples.png, b_steps.png).
void sample_and_save(const Common& c, const std::string& part, NoisePredictor& model,
                     const NoiseScheduler& scheduler, const Tensor& x0, int64_t samples,
                     int64_t scale, int64_t strip_every, float grid_pad_value, Generator* gen) {
  const int64_t T = scheduler.steps();
  Strip recorder{strip_levels(T, strip_every), std::min<int64_t>(4, samples), {}};
  Tensor result = sample(model, DDPMSampler(scheduler, c.variance),
                         {samples, x0.size(1), x0.size(2), x0.size(3)}, gen, recorder,
                         "sampling (" + part + ")");
  report_against_target(result, x0, 0.1);
  const TileStyle style{scale, 0};
  const std::string target_path = c.out + "/" + part + "_target.png";
  save_png(target_path, as_tiles(x0, style));
  std::printf("    -> %s (the training picture, upscaled %lldx)\n", target_path.c_str(),
              static_cast<long long>(scale));
  const std::string grid_path = c.out + "/" + part + "_samples.png";
  save_png(grid_path, make_grid(as_tiles(result, style), 4, 2, grid_pad_value));
  std::printf("    -> %s (%lld samples, upscaled %lldx)\n", grid_path.c_str(),
              static_cast<long long>(samples), static_cast<long long>(scale));
  const std::string strip_path = c.out + "/" + part + "_steps.png";
  recorder.save(strip_path, style);
  std::printf("    -> %s (one row per sample; %s)\n", strip_path.c_str(),
              recorder.describe().c_str());
}

// (b) Overfit the toy model to the white square, then sample it.
void part_b(const Common& c, const PartB& p, const NoiseScheduler& scheduler) {
  std::printf(
      "\n(b) overfitting the toy model to an 8x8 white square, then sampling it (T = %lld)\n",
      static_cast<long long>(scheduler.steps()));
  Generator gen(c.seed + 1);
  const Tensor x0 = white_square(c.device);
  // The tutorial's model adapted to the picture: one (grey) channel, and 5x5 kernels, so that
  // the pixels which see the hidden layer's zero padding are exactly the 2-pixel black frame
  // (with 3x3 kernels only the outer ring sees it, and a convolution cannot tell where it is).
  ToyModel model(1, p.hidden, p.kernel, &gen);
  model.to(c.device);
  std::printf("    model: %s, %lld parameters; Adam lr %g, batch %lld, %lld iterations\n",
              model.describe().c_str(), static_cast<long long>(model.num_parameters()), p.lr,
              static_cast<long long>(p.batch), static_cast<long long>(p.iterations));
  overfit(model, scheduler, x0, p.batch, p.iterations, p.lr, p.log_every, c.out, "b",
          {{"part", "b"}, {"kernel", std::to_string(p.kernel)}}, &gen);

  sample_and_save(c, "b", model, scheduler, x0, p.samples, p.scale, p.strip_every, 0.5f, &gen);
}

struct PartC {
  std::string picture;  // "mandrill", "square" or a file
  std::string schedule;
  int64_t size, iterations, batch, samples, scale, strip_every, log_every, steps;
  double lr, beta_start, beta_end;
};

// (c) Overfit the small U-Net to one small picture with batches of noisy copies, then sample.
void part_c(const Common& c, const PartC& p, const std::string& data_dir) {
  std::printf("\n(c) a small U-Net, T = %lld (beta %s %g -> %g), overfitted to one picture\n",
              static_cast<long long>(p.steps), p.schedule.c_str(), p.beta_start, p.beta_end);
  Generator gen(c.seed + 2);
  Tensor x0;
  if (p.picture == "square") {
    x0 = white_square(c.device);
    std::printf("    picture: the 8x8 white square of (b)\n");
  } else {
    std::string path = p.picture;
    if (path == "mandrill") {
      DataLocation found = find_mandrill(DataSearch::defaults(data_dir));
      path = found.path;
    }
    x0 = load_picture(path, p.size, 3, c.device);
    std::printf("    picture: %s, shrunk to %lldx%lld\n", path.c_str(),
                static_cast<long long>(p.size), static_cast<long long>(p.size));
  }
  NoiseScheduler scheduler(p.steps, p.beta_start, p.beta_end, parse_beta_schedule(p.schedule),
                           c.device);
  TinyUNetConfig config;
  config.image_channels = x0.size(1);
  config.num_timesteps = p.steps;
  TinyUNet model(config, &gen);
  model.to(c.device);
  DRIFT_CHECK(x0.size(2) % model.size_multiple() == 0, "--c-size must be divisible by "
                                                           << model.size_multiple()
                                                           << " for the U-Net, got " << x0.size(2));
  std::printf("%s", model.summary().c_str());
  std::printf("    Adam lr %g, batch %lld noisy copies, %lld iterations\n", p.lr,
              static_cast<long long>(p.batch), static_cast<long long>(p.iterations));
  overfit(model, scheduler, x0, p.batch, p.iterations, p.lr, p.log_every, c.out, "c",
          {{"part", "c"}, {"picture", p.picture}, {"steps", std::to_string(p.steps)}}, &gen);

  sample_and_save(c, "c", model, scheduler, x0, p.samples, p.scale, p.strip_every, 1.0f, &gen);
}

int run(int argc, char** argv) {
  Cli cli("03_sampling",
          "Chapter 3: DDPM sampling, x_{t-1} = (x_t - beta_t/sqrt(1-alpha_bar_t) eps_theta)/"
          "sqrt(alpha_t) + sigma_t z.\n"
          "(a) samples chapter 2's toy model; (b) overfits the toy model to an 8x8 white square\n"
          "and samples it; (c) overfits a small U-Net (T = 1000) to one small picture and\n"
          "samples it. Each part writes its final samples and a strip of the steps between.");
  std::string& parts = cli.add_string("parts", "abc", "which experiments to run: any of a, b, c");
  // Shared by (a) and (b): the tutorial's toy schedule.
  int64_t& steps = cli.add_int("steps", 24, "(a), (b) T, the number of steps", 2, 100000);
  double& beta_start =
      cli.add_float("beta-start", 1e-4, "(a), (b) first beta of the schedule", 1e-8, 0.999);
  double& beta_end =
      cli.add_float("beta-end", 0.6, "(a), (b) last beta of the schedule", 1e-8, 0.999);
  std::string& schedule =
      cli.add_choice("schedule", "linear", {"linear", "cosine", "quadratic", "sigmoid"},
                     "(a), (b) beta schedule (cosine ignores the betas)");
  int64_t& strip_every =
      cli.add_int("strip-every", 4, "(a), (b) show every N-th step in the strips", 1, 100000);
  std::string& variance =
      cli.add_choice("variance", "posterior", {"posterior", "beta"},
                     "sigma_t^2 of the reverse steps: the posterior variance or beta_t");
  // (a)
  std::string& weights = cli.add_string(
      "weights", kDefaultWeights,
      "(a) the toy model's weights; the default is beside the --out folder (untrained if missing)");
  int64_t& size = cli.add_int("size", 512, "(a) side of the sampled picture, px", 4, 4096);
  int64_t& hidden = cli.add_int("hidden", 16, "(a) hidden channels of the toy model", 1, 4096);
  int64_t& tile = cli.add_int("tile", 256,
                              "(a) size of each picture in the strip, px (0 = full size)", 0, 4096);
  // (b)
  int64_t& b_iterations =
      cli.add_int("b-iterations", 10000, "(b) training iterations", 1, 100000000);
  int64_t& b_batch = cli.add_int("b-batch", 1, "(b) noisy copies per iteration", 1, 65536);
  double& b_lr = cli.add_float("b-lr", 1e-3, "(b) Adam learning rate", 1e-9, 10.0);
  int64_t& b_hidden = cli.add_int("b-hidden", 16, "(b) hidden channels of the toy model", 1, 4096);
  int64_t& b_kernel = cli.add_int(
      "b-kernel", 5,
      "(b) kernel size of the toy model's convolutions (odd; 5 fits the 2-pixel frame)", 1, 15);
  int64_t& b_samples = cli.add_int("b-samples", 16, "(b) pictures to sample", 1, 4096);
  int64_t& b_scale = cli.add_int("b-scale", 16, "(b) upscaling of the 8x8 outputs", 1, 256);
  // (c)
  std::string& c_picture = cli.add_string(
      "c-picture", "mandrill", "(c) the picture to overfit: mandrill, square, or a file");
  int64_t& c_size =
      cli.add_int("c-size", 16, "(c) side the picture is shrunk to, px (not for square)", 4, 1024);
  int64_t& c_iterations =
      cli.add_int("c-iterations", 1500, "(c) training iterations", 1, 100000000);
  int64_t& c_batch = cli.add_int("c-batch", 128, "(c) noisy copies per iteration", 1, 65536);
  double& c_lr = cli.add_float("c-lr", 1e-3, "(c) Adam learning rate", 1e-9, 10.0);
  int64_t& c_steps = cli.add_int("c-steps", 1000, "(c) T, the number of steps", 2, 100000);
  double& c_beta_start =
      cli.add_float("c-beta-start", 1e-4, "(c) first beta of the schedule", 1e-8, 0.999);
  double& c_beta_end =
      cli.add_float("c-beta-end", 0.02, "(c) last beta of the schedule", 1e-8, 0.999);
  std::string& c_schedule =
      cli.add_choice("c-schedule", "linear", {"linear", "cosine", "quadratic", "sigmoid"},
                     "(c) beta schedule (cosine ignores the betas)");
  int64_t& c_samples = cli.add_int("c-samples", 16, "(c) pictures to sample", 1, 4096);
  int64_t& c_scale = cli.add_int("c-scale", 8, "(c) upscaling of the outputs", 1, 256);
  int64_t& c_strip_every =
      cli.add_int("c-strip-every", 100, "(c) show every N-th step in the strips", 1, 100000);
  int64_t& log_every = cli.add_int(
      "log-every", 0, "print the loss every N iterations (0: 10 times per run)", 0, 100000000);
  cli.parse(argc, argv);

  std::set<char> chosen;
  for (char part : parts) {
    if (part != 'a' && part != 'b' && part != 'c')
      cli.usage_error("--parts takes letters among a, b, c; got '" + parts + "'");
    chosen.insert(part);
  }
  if (chosen.empty()) cli.usage_error("--parts is empty: give any of a, b, c");
  if (beta_start > beta_end || c_beta_start > c_beta_end)
    cli.usage_error("a schedule's first beta must not exceed its last");
  if (c_picture != "mandrill" && c_picture != "square" && !std::filesystem::exists(c_picture))
    cli.usage_error("--c-picture is mandrill, square or an existing file; got '" + c_picture + "'");
  // Every flag is checked before any part runs. The U-Net halves the picture twice.
  if (chosen.count('c') && c_picture != "square" && c_size % 4 != 0)
    cli.usage_error("--c-size must be divisible by 4 for the U-Net, got " + std::to_string(c_size));
  if (weights != kDefaultWeights && chosen.count('a') && !std::filesystem::exists(weights))
    DRIFT_FAIL("--weights: no such file: '" << weights << "'");

  const Common common{cli.device(), cli.seed(), make_output_dir(cli.out_dir()),
                      variance == "beta" ? ReverseVariance::Beta : ReverseVariance::Posterior};
  std::printf(
      "Chapter 3: sampling (device %s, seed %llu, parts %s, sigma_t^2 = %s); outputs in %s/\n",
      common.device.str().c_str(), static_cast<unsigned long long>(common.seed), parts.c_str(),
      variance == "beta" ? "beta_t" : "the posterior variance", common.out.c_str());
  auto every = [&](int64_t iterations) {
    return log_every > 0 ? log_every : std::max<int64_t>(1, iterations / 10);
  };

  NoiseScheduler toy_scheduler(steps, beta_start, beta_end, parse_beta_schedule(schedule),
                               common.device);
  if (chosen.count('a') || chosen.count('b'))
    std::printf("schedule of (a) and (b): T = %lld, beta %s %g -> %g (chapter 2's)\n",
                static_cast<long long>(steps), schedule.c_str(), beta_start, beta_end);
  if (chosen.count('a')) {
    const RunSettings schedule_settings = {{"steps", std::to_string(steps)},
                                           {"schedule", schedule},
                                           {"beta-start", exact(beta_start)},
                                           {"beta-end", exact(beta_end)}};
    part_a(common, weights, size, hidden, toy_scheduler, schedule_settings, strip_every, tile);
  }
  if (chosen.count('b')) {
    const PartB b{b_iterations,        b_batch, b_hidden, b_kernel, b_samples, b_scale, strip_every,
                  every(b_iterations), b_lr};
    part_b(common, b, toy_scheduler);
  }
  if (chosen.count('c')) {
    const PartC c{c_picture, c_schedule,   c_size,        c_iterations,        c_batch,
                  c_samples, c_scale,      c_strip_every, every(c_iterations), c_steps,
                  c_lr,      c_beta_start, c_beta_end};
    part_c(common, c, cli.data_dir());
  }
  IndexPage page("Chapter 3: sampling", "DDPM's Algorithm 2: from pure noise to a picture.");
  const struct {
    char part;
    const char* heading;
  } sections[] = {{'a', "(a) the toy model of chapter 2, sampled"},
                  {'b', "(b) the toy model overfitted to a white square"},
                  {'c', "(c) a tiny U-Net overfitted to one picture"}};
  for (const auto& s : sections) {
    if (!chosen.count(s.part)) continue;
    const std::string p(1, s.part);
    page.section(s.heading);
    if (s.part == 'a') page.figure("a_sample.png", "x_0, sampled from pure noise");
    if (s.part != 'a') page.figure(p + "_target.png", "the training picture");
    if (s.part != 'a') page.figure(p + "_samples.png", "samples from pure noise");
    page.figure(p + "_steps.png", "the reverse process: x_T on the left, x_0 on the right");
    if (s.part != 'a') page.figure(p + "_loss_history.svg", "the training loss");
  }
  write_chapter_page(page, common.out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, run);
}
