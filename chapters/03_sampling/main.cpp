// Chapter 3 — the reverse process, part two: sampling, from pure noise to a picture.
//
// A model that predicts the noise in x_t gives us the mean of the step back, and DDPM's
// sampler (Ho et al. 2020, Algorithm 2) walks from x_T ~ N(0, I) down to x_0:
//
//   x_{t-1} = (x_t − β_t/√(1-ᾱ_t) · ε_θ(x_t, t)) / √α_t + σ_t z,   z ~ N(0, I)   (line 4)
//   the mean is eq. 11; σ²_t = β̃_t = (1-ᾱ_{t-1})/(1-ᾱ_t) · β_t (eq. 7), no noise at t = 0.
//
// Three experiments, each writing its samples and a strip of the steps in between:
//   (a) the toy model of chapter 2 (T = 24) at 512x512: untrained, trained, and two
//       experiments that show why the trained one draws speckle (an oracle, a head start);
//   (b) the toy model overfitted to an 8x8 white square: can a network that sees 5x5 pixels
//       draw a square? (--b-setup tutorial runs the tutorial's RGB 3x3 version);
//   (c) the tutorial's small U-Net (T = 1000) overfitted to its 8x8 grey square (or to a
//       16x16 mandrill: --c-picture mandrill).
//
// Run:  ./build/chapters/03_sampling              (outputs in out/03_sampling/; run chapter 2
//                                                   first)
//       ./build/chapters/03_sampling --parts b    (one experiment only)
//       ./build/chapters/03_sampling --help       (every flag, with the tutorial's values)
// The lecture companion is chapters/03_sampling/README.md.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/figures/sampling_figures.h"
#include "diffusion/metrics/distance.h"
#include "diffusion/metrics/noise_error.h"
#include "diffusion/models/oracle.h"
#include "diffusion/models/tiny_unet.h"
#include "diffusion/models/toy.h"
#include "diffusion/samplers/ddpm.h"
#include "diffusion/tools/cli.h"
#include "diffusion/tools/html_index.h"
#include "diffusion/tools/image.h"
#include "diffusion/tools/picture_flags.h"
#include "diffusion/tools/progress.h"
#include "diffusion/tools/strip.h"
#include "diffusion/training/overfit.h"
#include "diffusion/training/saved_weights.h"
#include "diffusion/training/schedule_flags.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// ---- Algorithm 2: sampling --------------------------------------------------------------------

// DDPM's sampler as the loop it is, from x at `level` (T: pure noise) down to x_0: at each t
// ask the model for the noise in x_t and take one reverse step; the strip keeps a frame now
// and then. (DDPMSampler::sample in diffusion/samplers/ddpm.h is the same loop from level T.)
Tensor sample(NoisePredictor& model, const DDPMSampler& sampler, Tensor x, int64_t level,
              Generator* generator, Strip& strip, const std::string& label) {
  NoGradGuard no_grad;  // sampling trains nothing: no graph
  const NoiseScheduler& scheduler = sampler.scheduler();
  Progress progress(label, level);
  strip.keep(level, x);
  for (int64_t t = level - 1; t >= 0; --t) {  // line 2: for t = T, ..., 1 (0-based here)
    Tensor eps_hat = model.forward(x, scheduler.timesteps(x.size(0), t));  // ε_θ(x_t, t)
    // lines 3-4: x_{t-1} = (x_t − β_t/√(1-ᾱ_t) ε̂)/√α_t + σ_t z, z ~ N(0, I), no z at t = 0
    x = sampler.step(eps_hat, t, x, generator);
    strip.keep(t, x);
    progress.step();
  }
  progress.finish();
  return x;  // line 6: x_0
}

// Line 1, x_T ~ N(0, I), then the loop.
Tensor sample_from_noise(NoisePredictor& model, const DDPMSampler& sampler, const Shape& shape,
                         Generator* generator, Strip& strip, const std::string& label) {
  const NoiseScheduler& scheduler = sampler.scheduler();
  return sample(model, sampler, randn(shape, scheduler.device(), generator), scheduler.steps(),
                generator, strip, label);
}

struct Common {
  std::string out;
  Device device;
  uint64_t seed;
  ReverseVariance variance;  // σ²_t of every reverse step: β̃_t (posterior) or β_t
  int64_t strip_every;
  IndexPage* page;
};

// ---- (a) the toy model of chapter 2 -----------------------------------------------------------

// One sample of `model` from pure noise, its x_0 and a strip of its steps; prints how the
// spread of x_t evolves, from 1 (pure noise) towards the picture's own (0.44: the mandrill).
void sample_toy(const Common& c, NoisePredictor& model, const NoiseScheduler& scheduler,
                const Tensor& x0, const std::string& name, const std::string& what, int64_t tile,
                Generator* gen) {
  Strip strip{strip_levels(scheduler.steps(), c.strip_every), 1, {}};
  Tensor x = sample_from_noise(model, DDPMSampler(scheduler, c.variance), x0.shape(), gen, strip,
                               "sampling (a, " + what + ")");
  std::printf("    std of x_t: %s\n    %s\n", strip.spread().c_str(),
              distance_to_picture(x, x0).describe().c_str());
  c.page->save_png(c.out, name + ".png", unnormalize_to_zero_to_one(x), what + ": x_0");
  c.page->save_png(c.out, name + "_steps.png", strip.image({1, tile}),
                   what + ": " + strip.describe());
}

void part_a(const Common& c, const std::string& weights, const std::string& picture,
            const ScheduleFlags& schedule, int64_t size, int64_t hidden, int64_t tile) {
  const NoiseScheduler scheduler = schedule.scheduler(c.device);
  std::printf("\n(a) sampling the toy model of chapter 2: %s, %lldx%lld RGB\n",
              schedule.describe().c_str(), static_cast<long long>(size),
              static_cast<long long>(size));
  c.page->section("(a) the toy model of chapter 2, sampled");
  const Tensor x0 = load_picture(picture, size, 3, c.device);  // what chapter 2 trained on
  // Chapter 2's weights, checked against this run's schedule before anything is sampled.
  const bool have_weights = std::filesystem::exists(weights);
  ToyModel trained(3, hidden, 3);
  if (have_weights) load_trained_weights(weights, trained, schedule.settings());
  trained.to(c.device);
  Generator gen(c.seed);
  ToyModel model(3, hidden, 3, &gen);
  model.to(c.device);
  // As the tutorial does: the untrained model ("not very good").
  sample_toy(c, model, scheduler, x0, "a_untrained", "untrained model", tile, &gen);
  // The oracle knows the picture and returns the exact noise: the sampler itself is sound.
  OracleNoisePredictor oracle(x0, scheduler);
  sample_toy(c, oracle, scheduler, x0, "a_oracle", "oracle noise predictor", tile, &gen);
  if (!have_weights) {
    warn("UNTRAINED model: no weights at " + weights +
         " (run 02_reverse_training first, or give --weights); (a) shows no trained samples");
    return;
  }
  std::printf("    model: TRAINED weights from %s\n", weights.c_str());
  sample_toy(c, trained, scheduler, x0, "a_trained", "trained model", tile, &gen);
  // A head start: the picture noised to level L, then the trained model's L steps back.
  // Where the model is good the picture comes back; where its errors grow, it does not.
  std::printf("    head start: x_L = the picture noised to level L, then L reverse steps\n");
  const DDPMSampler sampler(scheduler, c.variance);
  std::vector<Tensor> noised, reached;
  for (int64_t level = c.strip_every; level <= scheduler.steps(); level += c.strip_every) {
    Tensor x_L = scheduler.add_noise(x0, randn(x0.shape(), c.device, &gen),
                                     scheduler.timesteps(1, level - 1));
    Strip none{{}, 1, {}};
    Tensor x =
        sample(trained, sampler, x_L, level, &gen, none, "from L = " + std::to_string(level));
    std::printf("    L = %2lld: RMS distance of x_0 to the picture %.3f\n",
                static_cast<long long>(level), distance_to_picture(x, x0).mean);
    noised.push_back(as_tiles(x_L, {1, tile}));
    reached.push_back(as_tiles(x, {1, tile}));
  }
  c.page->save_png(c.out, "a_head_start.png", tile_rows({noised, reached}),
                   "head start: top x_L for L = " + std::to_string(c.strip_every) + ", " +
                       std::to_string(2 * c.strip_every) + ", ...; bottom the x_0 sampled from it");
}

// ---- (b), (c): overfitting one picture, then sampling it ---------------------------------------
// The model is trained on copies of one picture (overfit_one_picture, Algorithm 1 on the shared
// training loop); the best possible model then samples that picture every time.

// Sample the overfitted model, measure how far the samples are from the training picture, and
// write the picture, a grid of samples and a strip of their x_t (b_target.png, b_samples.png,
// b_steps.png for part "b").
void sample_and_save(const Common& c, const std::string& part, NoisePredictor& model,
                     const NoiseScheduler& scheduler, const Tensor& x0, int64_t samples,
                     int64_t scale, int64_t strip_every, Generator* gen) {
  Strip strip{strip_levels(scheduler.steps(), strip_every), std::min<int64_t>(4, samples), {}};
  Tensor x = sample_from_noise(model, DDPMSampler(scheduler, c.variance),
                               {samples, x0.size(1), x0.size(2), x0.size(3)}, gen, strip,
                               "sampling (" + part + ")");
  std::printf("    %s\n", distance_to_picture(x, x0).describe().c_str());
  // Where ε̂ is wrong: at the corners a 3x3 convolution sees zero padding in 5 of its 9 taps.
  Generator probe(c.seed + 3);  // its own noise: the samples above stay what they were
  const Tensor error_map = noise_error_by_pixel(model, scheduler, x0, 32, 20, &probe);
  std::printf("    by position, %s\n", split_by_border(error_map).describe().c_str());
  save_overfit_figures(*c.page, c.out, part, x0, x, strip, scale);
}

}  // namespace

int run(int argc, char** argv) {
  Cli cli("03_sampling",
          "Chapter 3: DDPM sampling. (a) samples chapter 2's toy model (untrained, trained, an "
          "oracle, head starts); (b) overfits the toy model to an 8x8 white square and samples "
          "it; (c) overfits the tutorial's small U-Net (T = 1000) to one small picture.");
  std::string& parts = cli.add_string("parts", "abc", "which experiments to run: any of a, b, c");
  ScheduleFlags toy_schedule(cli, {24, 1e-4, 0.6}, "", "(a), (b) ");
  int64_t& strip_every =
      cli.add_int("strip-every", 4, "(a), (b) strips show every N-th step", 1, 100000);
  std::string& variance = cli.add_choice("variance", "posterior", {"posterior", "beta"},
                                         "sigma_t^2 of the reverse steps: posterior or beta_t");
  WeightsFlag weights(cli, "(a) the toy model's weights",
                      "02_reverse_training/toy_model.safetensors");
  PictureFlags picture(cli, "(a) the picture chapter 2 trained on", 512, 4,
                       "(a) side of the sampled picture, px");
  int64_t& hidden = cli.add_int("hidden", 16, "(a) hidden channels of the toy model", 1, 4096);
  int64_t& tile = cli.add_int("tile", 128, "(a) side of each strip picture, px (0: full)", 0, 4096);
  std::string& b_setup = cli.add_choice(
      "b-setup", "drift", {"drift", "tutorial"},
      "(b) drift: grey, black/white square, --b-kernel; tutorial: RGB, 3x3, as the tutorial");
  int64_t& b_kernel = cli.add_int("b-kernel", 5, "(b) kernel size of --b-setup drift", 1, 15);
  int64_t& b_batch = cli.add_int("b-batch", 1, "(b) noisy copies per iteration", 1, 65536);
  int64_t& samples = cli.add_int("samples", 16, "(b), (c) pictures to sample", 1, 4096);
  int64_t& scale = cli.add_int("scale", 8, "(b), (c) enlargement of the tiny outputs", 1, 256);
  TrainingFlags b_training(cli, adam_for(10000, 1e-3), "b-");
  std::string& c_picture = cli.add_string(
      "c-picture", "square", "(c) square (the tutorial's grey one), mandrill or a file");
  int64_t& c_size = cli.add_int("c-size", 16, "(c) side the picture is shrunk to, px", 4, 1024);
  int64_t& c_batch = cli.add_int("c-batch", 128, "(c) noisy copies per iteration", 1, 65536);
  int64_t& c_strip_every =
      cli.add_int("c-strip-every", 100, "(c) strips show every N-th step", 1, 100000);
  ScheduleFlags c_schedule(cli, {1000, 1e-4, 0.02}, "c-", "(c) ");
  TrainingFlags c_training(cli, adam_for(1500, 1e-3), "c-");
  cli.parse(argc, argv);
  // Every flag is checked before any part runs.
  if (parts.empty() || parts.find_first_not_of("abc") != std::string::npos)
    cli.usage_error("--parts takes letters among a, b, c; got '" + parts + "'");
  toy_schedule.check(cli);
  c_schedule.check(cli);
  if (c_picture != "mandrill" && c_picture != "square" && !std::filesystem::exists(c_picture))
    cli.usage_error("--c-picture is square, mandrill or an existing file; got '" + c_picture + "'");
  if (c_picture != "square" && c_size % 4 != 0)  // the U-Net halves the picture twice
    cli.usage_error("--c-size must be divisible by 4 for the U-Net, got " + std::to_string(c_size));
  weights.check();  // an explicit --weights must exist
  auto chosen = [&](char part) { return parts.find(part) != std::string::npos; };

  IndexPage page("Chapter 3: sampling", "DDPM's Algorithm 2: from pure noise to a picture.");
  const Common c{make_output_dir(cli.out_dir()),
                 cli.device(),
                 cli.seed(),
                 variance == "beta" ? ReverseVariance::Beta : ReverseVariance::Posterior,
                 strip_every,
                 &page};
  std::printf(
      "Chapter 3: sampling (device %s, seed %llu, parts %s, sigma_t^2 = %s); outputs in %s/\n",
      c.device.str().c_str(), static_cast<unsigned long long>(c.seed), parts.c_str(),
      variance == "beta" ? "beta_t" : "the posterior variance", c.out.c_str());
  if (chosen('a'))
    part_a(c, weights.path(c.out), picture.path(), toy_schedule, picture.size(), hidden, tile);
  if (chosen('b')) {
    const bool tutorial = b_setup == "tutorial";
    std::printf("\n(b) the toy model overfitted to an 8x8 square (%s setup), %s\n", b_setup.c_str(),
                toy_schedule.describe().c_str());
    page.section("(b) the toy model overfitted to a square (" + b_setup + " setup)");
    Generator gen(c.seed + 1);
    // The tutorial: RGB, the square 1 on 0 (white on grey), 3x3 kernels. drift: one grey
    // channel, white (+1) on black (-1), and 5x5 kernels, so that the pixels which see the
    // hidden layer's zero padding are exactly the 2-pixel black frame (README, section 3).
    const Tensor x0 = tutorial ? square_picture(8, 3, 0.0f, 1.0f, c.device)
                               : square_picture(8, 1, -1.0f, 1.0f, c.device);
    ToyModel model(x0.size(1), 16, tutorial ? 3 : b_kernel, &gen);
    model.to(c.device);
    const NoiseScheduler scheduler = toy_schedule.scheduler(c.device);
    overfit_one_picture(model, scheduler, x0, b_batch, b_training.options(), c.out, "b",
                        {{"setup", b_setup}, {"kernel", std::to_string(b_kernel)}}, &gen);
    sample_and_save(c, "b", model, scheduler, x0, samples, scale, strip_every, &gen);
  }
  if (chosen('c')) {
    std::printf("\n(c) the tutorial's small U-Net overfitted to one picture, %s\n",
                c_schedule.describe().c_str());
    page.section("(c) a small U-Net overfitted to one picture");
    Generator gen(c.seed + 2);
    const bool square = c_picture == "square";  // the tutorial's: grey, white 1 on grey 0
    const std::string path = picture_path(c_picture, cli.data_dir());  // "mandrill": found
    const Tensor x0 = square ? square_picture(8, 1, 0.0f, 1.0f, c.device)
                             : load_picture(path, c_size, 3, c.device);
    std::printf("    picture: %s\n", square ? "the tutorial's 8x8 grey square" : path.c_str());
    TinyUNetConfig config;
    config.image_channels = x0.size(1);
    config.num_timesteps = c_schedule.steps();
    TinyUNet model(config, &gen);
    model.to(c.device);
    const NoiseScheduler scheduler = c_schedule.scheduler(c.device);
    RunSettings settings = c_schedule.settings();
    settings["picture"] = c_picture;
    overfit_one_picture(model, scheduler, x0, c_batch, c_training.options(), c.out, "c", settings,
                        &gen);
    sample_and_save(c, "c", model, scheduler, x0, samples, scale, c_strip_every, &gen);
  }
  write_chapter_page(page, c.out);
  return 0;
}

int main(int argc, char** argv) {
  return run_main(argc, argv, run);
}
