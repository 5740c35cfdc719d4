// Chapter 4 — real data: a U-Net trained from scratch on MNIST or Fashion-MNIST.
//
// Chapters 2 and 3 trained on one picture; now the model sees 60,000 and must learn what
// they have in common. The algorithm is the same DDPM as before (Ho et al. 2020):
//
//   repeat for every batch of every epoch (Algorithm 1):
//     x_0 = a batch of 128 training pictures, in [-1, 1]
//     ε ~ N(0, I),  t ~ Uniform{0, ..., T-1},  x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε
//     one Adam step on ‖ε − ε_θ(x_t, t)‖²
//   then from x_T ~ N(0, I) walk back to x_0 (Algorithm 2) for 64 new pictures,
//
// and what changes is the network. The tutorial's progression, one flag each:
//   (A) chapter 3's small U-Net: a learned embedding of t, max-pool down, transposed conv up;
//   (C) the same with a fixed sinusoidal encoding of t instead of a learned table;
//   (D) pre-norm blocks (GroupNorm → ReLU → conv) and an MLP on the encoding;
//   (E) residual blocks, two per level, strided-conv down and nearest-neighbour up.
// Then the question every generative model must answer: how good are the samples? The FID
// (Fréchet distance between features of real and generated pictures) puts a number on it.
//
// Run:  ./build/chapters/04_mnist                       (model E on MNIST, a 10-minute budget)
//       ./build/chapters/04_mnist --model C --minutes 3
//       ./build/chapters/04_mnist --dataset fashion-mnist
//       ./build/chapters/04_mnist --resume               (continue an interrupted run)
//       ./build/chapters/04_mnist --help                 (every flag, with the tutorial's values)
// The lecture companion is chapters/04_mnist/README.md.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/metrics/fid.h"
#include "diffusion/models/mnist_unets.h"
#include "diffusion/objectives/ddpm_loss.h"
#include "diffusion/samplers/ddim.h"
#include "diffusion/samplers/ddpm.h"
#include "diffusion/tools/cli.h"
#include "diffusion/tools/dataset.h"
#include "diffusion/tools/gif.h"
#include "diffusion/tools/html_index.h"
#include "diffusion/tools/image.h"
#include "diffusion/tools/progress.h"
#include "diffusion/training/saved_weights.h"
#include "diffusion/training/schedule_flags.h"
#include "diffusion/training/trainer.h"
#include "nn/checkpoint.h"
#include "tensor/io/safetensors.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// The epochs the tutorial trains each model for.
int64_t tutorial_epochs(const std::string& model) {
  return model == "E" ? 80 : model == "D" ? 20 : 10;
}

// ---- Algorithm 2, with frames for the animation -------------------------------------------------

// DDPM's reverse loop from x_T ~ N(0, I), as in chapter 3, keeping the first `shown` samples
// as a frame (a grid) `frames` times along the way, for the GIF.
Tensor sample_ddpm(NoisePredictor& model, const DDPMSampler& sampler, int64_t count, int64_t shown,
                   int64_t frames, Generator* gen, std::vector<Tensor>& gif) {
  NoGradGuard no_grad;
  const NoiseScheduler& scheduler = sampler.scheduler();
  const int64_t T = scheduler.steps(), every = std::max<int64_t>(1, T / frames);
  auto keep = [&](const Tensor& x) {
    gif.push_back(upscale_nearest(
        make_grid(unnormalize_to_zero_to_one(slice(x, 0, 0, shown)), 4, 1, 1.0f), 3));
  };
  Tensor x = randn({count, 1, 28, 28}, scheduler.device(), gen);  // x_T ~ N(0, I)
  keep(x);
  Progress progress("sampling (DDPM, " + std::to_string(T) + " steps)", T);
  for (int64_t t = T - 1; t >= 0; --t) {
    Tensor eps_hat = model.forward(x, scheduler.timesteps(count, t));  // ε_θ(x_t, t)
    x = sampler.step(eps_hat, t, x, gen);  // x_{t-1} = (x_t − β_t/√(1-ᾱ_t) ε̂)/√α_t + σ_t z
    if (t % every == 0) keep(x);
    progress.step();
  }
  progress.finish();
  return x;
}

// DDIM (Song et al. 2021) with `steps` evenly strided timesteps: the same trained model, a
// deterministic shortcut (η = 0) — how the FID's thousand samples are drawn in seconds.
Tensor sample_ddim(NoisePredictor& model, const NoiseScheduler& scheduler, int64_t count,
                   int64_t steps, int64_t batch, Generator* gen) {
  NoGradGuard no_grad;
  const DDIMSampler sampler(scheduler, 0.0);
  std::vector<Tensor> parts;
  Progress progress("sampling (DDIM, " + std::to_string(steps) + " steps)", count);
  for (int64_t done = 0; done < count; done += batch) {
    const int64_t b = std::min(batch, count - done);
    parts.push_back(sampler.sample(model, {b, 1, 28, 28}, steps, gen));
    progress.update(done + b);
  }
  progress.finish();
  return cat(parts, 0);
}

// ---- how good are they? ----------------------------------------------------------------------

// The FID report of `samples` [N, 1, 28, 28] in [-1, 1] against the training pictures, with
// the held-out test pictures as the floor; the classifier is trained once per data set (and
// --limit) and kept beside the outputs. Prints the report and writes it to out/fid.txt.
void score(const Tensor& samples, const std::string& dataset, int64_t limit,
           const ImageDataset& train, const ImageDataset& test, int64_t classifier_epochs,
           const std::string& out, IndexPage& page) {
  const std::string name = dataset + (limit > 0 ? "_limit" + std::to_string(limit) : "");
  std::unique_ptr<FidClassifier> classifier = load_or_train_fid_classifier(
      beside_output_dir(out, "fid_classifier_" + name + ".safetensors"), dataset, train, test,
      classifier_epochs);
  const FidReport report = fid_report(*classifier, samples, train, test,
                                      std::min<int64_t>(10000, train.size()), dataset);
  const std::string text = report.describe();
  std::printf("%s", text.c_str());
  write_file_atomically(out + "/fid.txt", text);
  page.file("fid.txt", "the FID report");
}

// Samples made elsewhere (bench/torch_fashion_10min.py): the file's one tensor [N, 1, 28, 28].
Tensor load_samples(const std::string& path) {
  const SafetensorsData file = load_safetensors(path);
  DRIFT_CHECK(file.tensors.size() == 1,
              "--score " << path << ": expected one tensor, found " << file.tensors.size());
  const Tensor& samples = file.tensors[0].second;
  DRIFT_CHECK(
      samples.ndim() == 4 && samples.size(0) >= 2 && samples.size(1) == 1 &&
          samples.size(2) == 28 && samples.size(3) == 28,
      "--score " << path << ": expected samples [N >= 2, 1, 28, 28], found " << samples.shape());
  return samples;
}

// ---- can the model see the brightness? ----------------------------------------------------------

// Shift every pixel of x_t by c: the noise that explains x_t + c grows by c / √(1-ᾱ_t) in
// every pixel, so a model that can correct a drift in brightness must raise the mean of ε̂ by
// about that much. Prints, for a few t, how much of the needed change the mean of ε̂ makes.
void brightness_response(NoisePredictor& model, const NoiseScheduler& scheduler,
                         const ImageDataset& test, Generator* gen) {
  NoGradGuard no_grad;
  const Tensor x0 = slice(test.images(), 0, 0, 64).to(scheduler.device());
  const std::vector<float> ab = scheduler.alpha_bar.to_vector();
  const float c = 0.3f;
  std::printf(
      "\nBrightness: x_t + %.1f everywhere; the share of the needed rise in mean(eps_hat)\n",
      double(c));
  for (int64_t t : {scheduler.steps() / 50, scheduler.steps() / 5, 3 * scheduler.steps() / 5}) {
    const Tensor steps = scheduler.timesteps(64, t);
    const Tensor x_t = scheduler.add_noise(x0, randn(x0.shape(), x0.device(), gen), steps);
    const double rise =
        mean(model.forward(x_t + c, steps)).item() - mean(model.forward(x_t, steps)).item();
    const double needed = c / std::sqrt(1.0 - ab[size_t(t)]);
    std::printf("    t = %4lld: mean(eps_hat) rises by %.4f of the %.4f needed (%.0f%%)\n",
                static_cast<long long>(t), rise, needed, 100.0 * rise / needed);
  }
}

}  // namespace

int run(int argc, char** argv) {
  Cli cli("04_mnist",
          "Chapter 4: trains one of the tutorial's U-Nets (A, C, D, E) on MNIST or "
          "Fashion-MNIST with DDPM, samples an 8x8 grid and an animation of the reverse "
          "process, and scores the samples with the FID of a small classifier trained here.");
  std::string& model_name =
      cli.add_choice("model", "E", mnist_unet_names(), "the U-Net of the tutorial's progression");
  int64_t& channels =
      cli.add_int("channels", 16, "channels of the top level (2x and 4x below)", 1, 1024);
  int64_t& groups =
      cli.add_int("groups", 16, "GroupNorm groups of D and E (divide channels)", 1, 1024);
  std::string& dataset =
      cli.add_choice("dataset", "mnist", {"mnist", "fashion-mnist"}, "the training pictures");
  int64_t& batch = cli.add_int("batch", 128, "pictures per training step", 1, 4096);
  int64_t& epochs = cli.add_int(
      "epochs", 0, "epochs to train (0: the tutorial's, A and C 10, D 20, E 80)", 0, 100000);
  int64_t& limit =
      cli.add_int("limit", 0, "train on the first N pictures only (0: all)", 0, 1000000);
  bool& flip = cli.add_switch("flip", "random horizontal flips (a flipped digit is no digit)");
  std::string& sampler_name = cli.add_choice("sampler", "ddpm", {"ddpm", "ddim"},
                                             "the grid's sampler: DDPM's T steps, or DDIM");
  int64_t& ddim_steps = cli.add_int("ddim-steps", 50,
                                    "DDIM steps (the grid with --sampler "
                                    "ddim, and always the FID's samples)",
                                    1, 100000);
  int64_t& fid_samples =
      cli.add_int("fid-samples", 1000, "samples the FID is computed from (0: no FID)", 0, 10000);
  int64_t& classifier_epochs = cli.add_int(
      "classifier-epochs", 2, "epochs of the FID classifier's one-time training", 1, 100);
  std::string& score_file = cli.add_string(
      "score", "", "score samples from a file instead of training ([N, 1, 28, 28] safetensors)");
  int64_t& gif_frames = cli.add_int("gif-frames", 40, "frames of the animation", 2, 1000);
  ScheduleFlags schedule(cli, {1000, 1e-4, 0.02});  // the tutorial's T and linear betas
  TrainingOptions defaults;
  defaults.minutes = 10;  // E's 80 epochs take ~6 hours on 2 cores: a budget by default
  defaults.log_every = 50;
  defaults.checkpoint_every = 500;
  TrainingFlags training(cli, defaults);
  cli.parse(argc, argv);
  schedule.check(cli);
  if (cli.given("groups") && model_name != "D" && model_name != "E")
    cli.usage_error("--groups: model " + model_name + " has no GroupNorm (D and E have)");
  if (channels % groups != 0)
    cli.usage_error("--groups " + std::to_string(groups) + " must divide --channels " +
                    std::to_string(channels));
  if (cli.given("epochs") && cli.given("iterations"))
    cli.usage_error("give --epochs or --iterations, not both");

  const Device device = cli.device();
  Generator gen(cli.seed());
  std::printf("Chapter 4: model %s on %s (device %s, seed %llu)\n", model_name.c_str(),
              dataset.c_str(), device.str().c_str(), static_cast<unsigned long long>(cli.seed()));

  // ---- the data: 60,000 pictures [N, 1, 28, 28] in [-1, 1] -------------------------------------
  const DataSearch search = DataSearch::defaults(cli.data_dir());
  const ImageDataset train = ImageDataset::load(dataset, "train", search, limit);
  DataLoader loader(train, {batch, cli.seed(), true, true, flip});
  std::printf("data: %lld training pictures, %lld batches of %lld per epoch%s\n",
              static_cast<long long>(train.size()),
              static_cast<long long>(loader.batches_per_epoch()), static_cast<long long>(batch),
              flip ? ", random flips" : "");

  const ImageDataset test = ImageDataset::load(dataset, "test", search);  // held out, 10,000
  if (!score_file.empty()) {  // samples made elsewhere: score them, train nothing
    const Tensor samples = load_samples(score_file);
    const std::string out = make_output_dir(cli.out_dir());
    IndexPage page("Chapter 4: samples from " + score_file, "Samples scored by their FID.");
    page.save_png(out, "samples.png",
                  make_grid(unnormalize_to_zero_to_one(
                                slice(samples, 0, 0, std::min<int64_t>(64, samples.size(0)))),
                            8, 2, 1.0f),
                  "the first 64 samples");
    score(samples, dataset, limit, train, test, classifier_epochs, out, page);
    write_chapter_page(page, out);
    return 0;
  }

  // ---- the model and the schedule ------------------------------------------------------------
  MnistUNetConfig size;  // the tutorial's: 16/32/64 channels, GroupNorm(16)
  size.channels = channels;
  size.groups = groups;
  std::unique_ptr<NoisePredictor> model = make_mnist_unet(model_name, &gen, size);
  model->to(device);
  std::printf("%s", model->summary().c_str());
  const NoiseScheduler scheduler = schedule.scheduler(device);
  TrainingOptions options = training.options();
  if (!cli.given("iterations"))
    options.iterations =
        (epochs > 0 ? epochs : tutorial_epochs(model_name)) * loader.batches_per_epoch();
  RunSettings settings = schedule.settings();
  settings.insert({{"model", model_name},
                   {"dataset", dataset},
                   {"channels", std::to_string(channels)},
                   {"groups", std::to_string(groups)},
                   {"batch", std::to_string(batch)},
                   {"limit", std::to_string(limit)},
                   {"flip", flip ? "1" : "0"}});
  const std::string out = training_output_dir(cli.out_dir(), options);

  // ---- training: Algorithm 1, one batch per step ------------------------------------------------
  std::printf(
      "\nTraining %lld steps (%.1f epochs)%s\n", static_cast<long long>(options.iterations),
      double(options.iterations) / double(loader.batches_per_epoch()),
      options.minutes > 0 ? (", at most " + exact(options.minutes) + " minutes").c_str() : "");
  Trainer trainer(*model, options, out, settings, "", &gen);
  loader.seek(trainer.completed());  // a resumed run continues with the batch it stopped at
  while (trainer.running()) {
    Batch b = loader.next();  // x_0: 128 pictures, a fresh shuffle every epoch
    Tensor loss = ddpm_loss(*model, scheduler, b.images.to(device), &gen);  // ‖ε − ε_θ(x_t, t)‖²
    trainer.step(loss);
  }
  std::printf("\nOutputs\n");
  trainer.finish();  // with --ema the averaged weights are in the model from here on
  const std::string weights = out + "/model_" + model_name + ".safetensors";
  nn::save_weights(weights, *model, settings);
  std::printf("    -> %s (the trained weights)\n", weights.c_str());

  // ---- sampling: the tutorial's 8x8 grid, and the reverse process as an animation -------------
  IndexPage page("Chapter 4: " + dataset + ", model " + model_name,
                 "A U-Net trained with DDPM on real pictures, its samples and their FID.");
  std::vector<Tensor> frames;
  Tensor grid;
  if (sampler_name == "ddpm") {
    grid = sample_ddpm(*model, DDPMSampler(scheduler), 64, 16, gif_frames, &gen, frames);
  } else {
    grid = sample_ddim(*model, scheduler, 64, ddim_steps, 64, &gen);
  }
  page.save_png(out, "samples.png", make_grid(unnormalize_to_zero_to_one(grid), 8, 2, 1.0f),
                "64 samples (" + sampler_name + ")");
  if (!frames.empty()) {
    write_gif(out + "/reverse_process.gif", frames, 8, 150);
    page.figure("reverse_process.gif", "16 samples from x_T to x_0 (the reverse process)");
    std::printf("    -> %s/reverse_process.gif (%zu frames)\n", out.c_str(), frames.size());
  }
  page.figure("loss_history.svg", "the training loss");

  // ---- how good are they? FID against the training pictures -----------------------------------
  if (fid_samples > 0) {
    std::printf("\nScoring: FID of %lld samples (DDIM, %lld steps)\n",
                static_cast<long long>(fid_samples), static_cast<long long>(ddim_steps));
    Tensor samples = sample_ddim(*model, scheduler, fid_samples, ddim_steps, 250, &gen);
    save_safetensors(out + "/samples.safetensors", {{"samples", samples.cpu()}}, settings);
    std::printf("    -> %s/samples.safetensors (%lld samples [N, 1, 28, 28] in [-1, 1])\n",
                out.c_str(), static_cast<long long>(fid_samples));
    score(samples, dataset, limit, train, test, classifier_epochs, out, page);
  }
  brightness_response(*model, scheduler, test, &gen);
  write_chapter_page(page, out);
  return 0;
}

int main(int argc, char** argv) {
  return run_main(argc, argv, run);
}
