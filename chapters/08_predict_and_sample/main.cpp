// Chapter 8 — what the network predicts, and how fast we can sample.
//
// Chapters 2-4 trained ε_θ to predict the noise. That is one choice among four equivalent
// ones, because x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε ties ε, x_0, v = √ᾱ_t ε − √(1−ᾱ_t) x_0 and the
// reverse step's mean together (diffusion/objectives/parameterisation.h). And the network
// that predicts ε is a score model: ε̂ / √(1−ᾱ_t) estimates −∇ log q_t(x_t). This chapter:
//
//   (a) the score, seen: a 2-D mixture of Gaussians, whose noised score is known exactly,
//       an MLP trained in seconds, and the two fields drawn side by side;
//   (b) four targets, one network: the same U-Net trained for the same steps on ε, x_0, v
//       and the mean; where in t each one's error lies, their samples and FIDs;
//   (c) DDIM: the ε-model sampled with 10 to 100 steps at η = 0 and η = 1, and DDPM's
//       1000, scored; the same noise gives the same picture; and DDIM inversion,
//       picture → noise → picture.
//
// Run:  ./build/chapters/08_predict_and_sample            (a few minutes on 2 cores)
//       ./build/chapters/08_predict_and_sample --parts c  (one part: any of a, b, c)
//       ./build/chapters/08_predict_and_sample --help
// The lecture companion is chapters/08_predict_and_sample/README.md.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/metrics/fid.h"
#include "diffusion/models/mnist_unets.h"
#include "diffusion/models/point_mlp.h"
#include "diffusion/objectives/parameterisation.h"
#include "diffusion/process/gaussian_mixture.h"
#include "diffusion/samplers/ddim.h"
#include "diffusion/samplers/ddpm.h"
#include "diffusion/tools/cli.h"
#include "diffusion/tools/dataset.h"
#include "diffusion/tools/html_index.h"
#include "diffusion/tools/image.h"
#include "diffusion/tools/plot.h"
#include "diffusion/training/saved_weights.h"
#include "diffusion/training/schedule_flags.h"
#include "diffusion/training/trainer.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// Column k of points [n, 2], as the plots want them.
std::vector<double> column(const Tensor& points, int64_t k) {
  const std::vector<float> v = slice(points, 1, k, k + 1).to_vector();
  return std::vector<double>(v.begin(), v.end());
}

// ---- (a) the score, in the plane ---------------------------------------------------------------

// Trains a PointMLP on the ring of eight Gaussians and draws, at three noise levels, the
// network's −ε̂ next to the exact −ε* = √(1−ᾱ) ∇ log q_t (the score, scaled to ε's units).
void score_lesson(const NoiseScheduler& s, int64_t iterations, Generator* gen,
                  const std::string& out, IndexPage& page) {
  std::printf("\n(a) The score of a 2-D mixture: ε̂(x, t) = −√(1−ᾱ_t) ∇ log q_t(x)\n");
  const GaussianMixture2D data = GaussianMixture2D::ring();
  PointMLP model(128, 3, 32, gen);
  nn::Adam adam(model.parameters(), 3e-3);
  for (int64_t it = 0; it < iterations; ++it) {  // Algorithm 1 on points
    adam.zero_grad();
    Tensor loss = diffusion_loss(model, s, data.sample(512, gen), Prediction::Eps, gen);
    loss.backward();
    adam.step();
  }
  NoGradGuard no_grad;
  Figure field(1, 3);
  field.title = "−ε̂ learned (blue) and exact (grey), " + std::to_string(iterations) + " steps";
  std::vector<double> gx, gy;  // a 15 x 15 grid over [-3, 3]²
  for (int i = 0; i < 15; ++i)
    for (int j = 0; j < 15; ++j)
      gx.push_back(-3.0 + 6.0 * j / 14), gy.push_back(-3.0 + 6.0 * i / 14);
  std::vector<float> grid_points;
  for (size_t k = 0; k < gx.size(); ++k)
    grid_points.push_back(float(gx[k])), grid_points.push_back(float(gy[k]));
  const Tensor x = from_vector(grid_points, {int64_t(gx.size()), 2});
  const int64_t levels[] = {s.steps() / 20, s.steps() / 4, 3 * s.steps() / 5};
  for (int p = 0; p < 3; ++p) {
    const Tensor t = s.timesteps(x.size(0), levels[p]);
    const double ab = s.alpha_bar.to_vector()[size_t(levels[p])];
    Tensor learned = -model.forward(x, t);                          // −ε̂
    Tensor exact = data.score(x, ab) * float(std::sqrt(1.0 - ab));  // −ε* = s ∇log q
    // One scale per panel, so that the longest exact arrow spans 0.9 of the grid's spacing.
    const float scale = 0.9f * (6.0f / 14) / std::sqrt(max(sum(exact * exact, {1})).item());
    learned = learned * scale, exact = exact * scale;
    // How well they agree where the data is: the mean cosine on points drawn from q_t.
    const Tensor xt = s.add_noise(data.sample(1000, gen), randn({1000, 2}, Device::cpu(), gen),
                                  s.timesteps(1000, levels[p]));
    const Tensor a = -model.forward(xt, s.timesteps(1000, levels[p])), b = data.score(xt, ab);
    const double cosine = mean(sum(a * b, {1}) / sqrt(sum(a * a, {1}) * sum(b * b, {1}))).item();
    std::printf("    t = %4lld (ᾱ = %.3f): cosine(learned, exact score) on samples of q_t = %.3f\n",
                static_cast<long long>(levels[p]), ab, cosine);
    LinePlot& panel = field.panel(p);
    panel.title = "t = " + std::to_string(levels[p]);
    panel.legend = LegendLocation::None;
    panel.add_arrows("exact", gx, gy, column(exact, 0), column(exact, 1)).color = "#999999";
    panel.add_arrows("learned", gx, gy, column(learned, 0), column(learned, 1)).color = "#1f77b4";
  }
  field.save(out + "/a_score_field.svg", 360, 360);
  page.figure("a_score_field.svg",
              "(a) the learned −ε̂ against the exact score, three noise levels");
  std::printf("    -> %s/a_score_field.svg\n", out.c_str());
  // Samples flowing along it: DDIM (η = 0) from x_T ~ N(0, I), snapshots on the way.
  Figure flow(1, 4);
  flow.title = "500 points walked by DDIM (50 steps) from noise to the ring";
  const DDIMSampler sampler(s, 0.0);
  int call = 0, panel = 0;  // snapshots at x_T and after steps 25, 40 and 50 of 50
  const std::vector<int64_t> ts = ddim_timesteps(s.steps(), std::min<int64_t>(50, s.steps()));
  sampler.sample_from(model, randn({500, 2}, Device::cpu(), gen), ts, gen,
                      [&](int64_t level, const Tensor& pts) {
                        const int n = call++;
                        if (n != 0 && n != 25 && n != 40 && n != 50) return;
                        LinePlot& p = flow.panel(panel++);
                        p.title = level == s.steps() ? "x_T" : "t = " + std::to_string(level);
                        p.legend = LegendLocation::None;
                        p.x_min = p.y_min = -3.5, p.x_max = p.y_max = 3.5;
                        p.add_points("", column(pts, 0), column(pts, 1)).marker_size = 1.2;
                      });
  flow.save(out + "/a_flow.svg", 300, 300);
  page.figure("a_flow.svg", "(a) samples flowing along the learned field");
  std::printf("    -> %s/a_flow.svg\n", out.c_str());
}

// ---- sampling and scoring, shared by (b) and (c) ----------------------------------------------

struct Scored {
  Tensor samples;
  double seconds_per_image = 0;
  FidReport report;
  bool diverged = false;  // some samples are not finite: no report
};

// `count` samples [count, 1, 28, 28] of `model` (an ε-predictor) along `ts`: DDIM with η, or
// DDPM's every step when ddpm; timed, then scored.
Scored sample_and_score(NoisePredictor& model, const NoiseScheduler& s, int64_t count,
                        const std::vector<int64_t>& ts, double eta, bool ddpm, Generator* gen,
                        FidClassifier& classifier, const ImageDataset& train,
                        const ImageDataset& test, const std::string& dataset) {
  NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  std::vector<Tensor> parts;
  for (int64_t done = 0; done < count; done += 250) {
    const Shape shape{std::min<int64_t>(250, count - done), 1, 28, 28};
    parts.push_back(
        ddpm ? DDPMSampler(s).sample(model, shape, gen)
             : DDIMSampler(s, eta).sample_from(model, randn(shape, s.device(), gen), ts, gen));
  }
  Scored r;
  r.samples = cat(parts, 0);
  r.seconds_per_image =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / count;
  try {
    r.report = fid_report(classifier, r.samples, train, test,
                          std::min<int64_t>(10000, train.size()), dataset);
  } catch (const Error& e) {  // a diverged sampler: no FID, and the table says so
    std::printf("    (%s)\n", e.what());
    r.diverged = true;
  }
  return r;
}

// The FID as the tables print it, or "diverged".
std::string fid_text(const Scored& r) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", r.report.fid);
  return r.diverged ? "diverged" : text;
}

// ---- (b) four targets, one network -------------------------------------------------------------

// The U-Net `model_name` trained on `target` by the library's loop. Every target starts from
// the same weights and sees the same batches, noise and timesteps (one generator seeded
// alike): only what the loss compares the output with differs.
std::unique_ptr<NoisePredictor> train_on(Prediction target, const std::string& model_name,
                                         const NoiseScheduler& s, const ImageDataset& train,
                                         int64_t batch, TrainingOptions options,
                                         RunSettings settings, uint64_t seed, Device device,
                                         const std::string& out) {
  Generator gen(seed);
  std::unique_ptr<NoisePredictor> net = make_mnist_unet(model_name, &gen);
  net->to(device);
  const std::string name = prediction_name(target);
  settings["predict"] = name;
  DataLoader loader(train, {batch, seed, true, true, false});
  Trainer trainer(*net, options, out, settings, name + "_", &gen, "training (" + name + ")");
  loader.seek(trainer.completed());
  while (trainer.running()) {
    Tensor x0 = loader.next().images.to(device);
    trainer.step(diffusion_loss(*net, s, x0, target, &gen));  // ‖target − f_θ(x_t, t)‖²
  }
  trainer.finish();
  nn::save_weights(out + "/" + name + "_model.safetensors", *net, settings);
  return net;
}

// Where each target's error lies: the mean squared error of ε̂ and of x̂_0 = (x_t − s ε̂)/a at
// fixed timesteps, on 256 test pictures with the same noise for every model.
void error_by_timestep(std::vector<std::pair<Prediction, NoisePredictor*>> models,
                       const NoiseScheduler& s, const ImageDataset& test, Generator* gen,
                       const std::string& out, IndexPage& page) {
  NoGradGuard no_grad;
  const Tensor x0 = slice(test.images(), 0, 0, 256).to(s.device());
  const Tensor eps = randn(x0.shape(), x0.device(), gen);
  std::vector<int64_t> ts;  // 0, 5, 20, 50, 100, ..., 950, 999 for T = 1000
  for (double f : {0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 1.0})
    ts.push_back(std::llround(f * double(s.steps() - 1)));
  Figure figure(1, 2);
  figure.title = "Where each target is hard (256 test pictures, the same noise)";
  for (int p = 0; p < 2; ++p) {
    figure.panel(p).log_y = true;
    figure.panel(p).xlabel = "t";
    figure.panel(p).title = p == 0 ? "error in ε̂" : "error in x̂₀";
  }
  std::printf("    mean squared error of eps_hat | of x0_hat, at t = %lld, %lld, %lld, %lld\n",
              static_cast<long long>(ts[1]), static_cast<long long>(ts[4]),
              static_cast<long long>(ts[7]), static_cast<long long>(ts[10]));
  for (auto [target, model] : models) {
    EpsFromPrediction as_eps(*model, s, target);
    std::vector<double> t_axis, e_eps, e_x0;
    for (int64_t t : ts) {
      const Tensor steps = s.timesteps(x0.size(0), t);
      const Tensor x_t = s.add_noise(x0, eps, steps);
      const Tensor eps_hat = as_eps.forward(x_t, steps);
      t_axis.push_back(double(t));
      e_eps.push_back(mean(square(eps_hat - eps)).item());
      e_x0.push_back(mean(square(x0_from_eps(s, x_t, eps_hat, steps) - x0)).item());
    }
    std::printf("    %-5s  %8.4f %8.4f %8.4f %8.4f | %8.4f %8.4f %8.4f %8.4f\n",
                prediction_name(target), e_eps[1], e_eps[4], e_eps[7], e_eps[10], e_x0[1], e_x0[4],
                e_x0[7], e_x0[10]);
    figure.panel(0).add(prediction_name(target), t_axis, e_eps).markers = true;
    figure.panel(1).add(prediction_name(target), t_axis, e_x0).markers = true;
  }
  figure.save(out + "/b_error_by_timestep.svg");
  page.figure("b_error_by_timestep.svg", "(b) each target's error in ε̂ and in x̂₀, by timestep");
  std::printf("    -> %s/b_error_by_timestep.svg\n", out.c_str());
}

// ---- (c) DDIM --------------------------------------------------------------------------------

// The same x_T twice at η = 0 gives the same picture; at η = 1 the fresh noise differs.
void determinism(NoisePredictor& model, const NoiseScheduler& s, Generator* gen) {
  const Tensor x_T = randn({4, 1, 28, 28}, s.device(), gen);
  const std::vector<int64_t> ts = ddim_timesteps(s.steps(), std::min<int64_t>(20, s.steps()));
  Generator g1(1), g2(2);
  const double same = max(abs(DDIMSampler(s, 0.0).sample_from(model, x_T, ts, &g1) -
                              DDIMSampler(s, 0.0).sample_from(model, x_T, ts, &g2)))
                          .item();
  const double noisy = max(abs(DDIMSampler(s, 1.0).sample_from(model, x_T, ts, &g1) -
                               DDIMSampler(s, 1.0).sample_from(model, x_T, ts, &g2)))
                           .item();
  std::printf(
      "    same x_T, other generators: largest pixel difference %.3g at eta 0, %.3g at eta 1\n",
      same, noisy);
}

// Pictures → x_T → pictures along the same 50 (and 200) timesteps; the round trip's error.
void inversion(NoisePredictor& model, const NoiseScheduler& s, const ImageDataset& test,
               const std::string& out, IndexPage& page) {
  const Tensor x0 = slice(test.images(), 0, 0, 8).to(s.device());
  const DDIMSampler sampler(s, 0.0);
  std::vector<Tensor> rows = {x0};
  for (int64_t steps : {50, 200}) {
    const std::vector<int64_t> ts = ddim_timesteps(s.steps(), std::min(steps, s.steps()));
    const Tensor x_T = sampler.invert(model, x0, ts);
    const Tensor back = sampler.sample_from(model, x_T, ts);
    std::printf("    inversion with %3lld steps: x_T has std %.3f; round-trip RMS error %.4f\n",
                static_cast<long long>(steps), std::sqrt(mean(square(x_T - mean(x_T))).item()),
                std::sqrt(mean(square(back - x0)).item()));
    if (steps == 50) rows.push_back(clamp(x_T / 3.0f, -1.0f, 1.0f)), rows.push_back(back);
  }
  page.save_png(
      out, "c_inversion.png",
      upscale_nearest(
          make_grid(unnormalize_to_zero_to_one(clamp(cat(rows, 0), -1.0f, 1.0f)), 8, 2, 1.0f), 2),
      "(c) test pictures (top), their DDIM inversion x_T (middle, /3) and back (bottom)");
}

}  // namespace

int run(int argc, char** argv) {
  Cli cli("08_predict_and_sample",
          "Chapter 8: the score of a 2-D mixture; one U-Net trained on each prediction target "
          "(eps, x0, v, mean); DDIM's FID by steps and eta, determinism and inversion.");
  std::string& parts = cli.add_string("parts", "abc", "which parts to run: any of a, b, c");
  std::string& dataset =
      cli.add_choice("dataset", "mnist", {"mnist", "fashion-mnist"}, "the training pictures");
  std::string& model_name =
      cli.add_choice("model", "C", mnist_unet_names(), "the U-Net of (b) and (c)");
  int64_t& batch = cli.add_int("batch", 128, "pictures per training step", 1, 4096);
  int64_t& limit =
      cli.add_int("limit", 0, "train on the first N pictures only (0: all)", 0, 1000000);
  int64_t& point_steps =
      cli.add_int("point-iterations", 2000, "training steps of (a)'s 2-D model", 1, 1000000);
  int64_t& fid_samples = cli.add_int("fid-samples", 250, "samples per FID", 2, 10000);
  bool& full = cli.add_switch("full", "(c) also at 1000 steps and with DDPM (slow: minutes)");
  ScheduleFlags schedule(cli, {1000, 1e-4, 0.02});
  TrainingOptions defaults;
  defaults.iterations = 300;
  defaults.minutes = 0;
  defaults.log_every = 100;
  defaults.checkpoint_every = 0;
  TrainingFlags training(cli, defaults);
  cli.parse(argc, argv);
  schedule.check(cli);
  if (parts.empty() || parts.find_first_not_of("abc") != std::string::npos)
    cli.usage_error("--parts takes letters among a, b, c; got '" + parts + "'");
  auto chosen = [&](char part) { return parts.find(part) != std::string::npos; };
  const Device device = cli.device();
  Generator gen(cli.seed());
  const NoiseScheduler s = schedule.scheduler(device);
  const TrainingOptions options = training.options();
  const std::string out = training_output_dir(cli.out_dir(), options);
  IndexPage page("Chapter 8: what the network predicts, and how fast we can sample",
                 "The score field, four prediction targets, and DDIM.");
  std::printf("Chapter 8 (device %s, seed %llu)\n", device.str().c_str(),
              static_cast<unsigned long long>(cli.seed()));
  if (chosen('a')) score_lesson(schedule.scheduler(Device::cpu()), point_steps, &gen, out, page);
  if (!chosen('b') && !chosen('c')) return write_chapter_page(page, out), 0;

  const DataSearch search = DataSearch::defaults(cli.data_dir());
  const ImageDataset train = ImageDataset::load(dataset, "train", search, limit);
  const ImageDataset test = ImageDataset::load(dataset, "test", search);
  std::unique_ptr<FidClassifier> classifier = load_or_train_fid_classifier(
      beside_output_dir(out, "fid_classifier_" + dataset +
                                 (limit > 0 ? "_limit" + std::to_string(limit) : "") +
                                 ".safetensors"),
      dataset, train, test, 2);
  RunSettings settings = schedule.settings();
  settings.insert({{"model", model_name}, {"dataset", dataset}, {"batch", std::to_string(batch)}});
  const std::vector<int64_t> ts50 = ddim_timesteps(s.steps(), std::min<int64_t>(50, s.steps()));

  std::unique_ptr<NoisePredictor> eps_model;
  if (chosen('b')) {
    std::printf("\n(b) Four targets, one network: model %s, %lld steps each on %s\n",
                model_name.c_str(), static_cast<long long>(options.iterations), dataset.c_str());
    std::vector<std::unique_ptr<NoisePredictor>> nets;
    std::vector<std::pair<Prediction, NoisePredictor*>> models;
    for (Prediction p : {Prediction::Eps, Prediction::X0, Prediction::V, Prediction::Mean}) {
      nets.push_back(
          train_on(p, model_name, s, train, batch, options, settings, cli.seed(), device, out));
      models.push_back({p, nets.back().get()});
    }
    error_by_timestep(models, s, test, &gen, out, page);
    std::printf("    target  FID (DDIM %zu steps, %lld samples)  confidence\n", ts50.size(),
                static_cast<long long>(fid_samples));
    double floor = 0;
    for (auto [p, net] : models) {
      EpsFromPrediction as_eps(*net, s, p);
      const Scored r = sample_and_score(as_eps, s, fid_samples, ts50, 0.0, false, &gen, *classifier,
                                        train, test, dataset);
      std::printf("    %-6s  %10s  %10.3f\n", prediction_name(p), fid_text(r).c_str(),
                  r.report.mean_confidence);
      if (!r.diverged) floor = r.report.floor;
      std::vector<float> shown =
          slice(r.samples, 0, 0, std::min<int64_t>(64, fid_samples)).to_vector();
      for (float& v : shown) v = std::isfinite(v) ? v : 0.0f;  // a diverged pixel shows grey
      page.save_png(out, std::string("b_samples_") + prediction_name(p) + ".png",
                    make_grid(unnormalize_to_zero_to_one(from_vector(
                                  shown, {int64_t(shown.size()) / (28 * 28), 1, 28, 28})),
                              8, 2, 1.0f),
                    "(b) samples of the " + std::string(prediction_name(p)) + " model (DDIM)");
    }
    std::printf("    floor (as many held-out real pictures): %.1f\n", floor);
    eps_model = std::move(nets.front());
  }
  if (!chosen('c')) return write_chapter_page(page, out), 0;

  std::printf("\n(c) DDIM: fewer steps, the same model\n");
  const std::string ch4 = beside_output_dir(out, "04_mnist/model_" + model_name + ".safetensors");
  if (std::filesystem::exists(ch4)) {  // chapter 4's model, trained longer, when it is there
    eps_model = make_mnist_unet(model_name, &gen);
    eps_model->to(device);
    RunSettings expected = schedule.settings();
    expected.insert({{"model", model_name}, {"dataset", dataset}});
    load_trained_weights(ch4, *eps_model, expected);
    std::printf("    using chapter 4's weights: %s\n", ch4.c_str());
  } else {
    std::printf("    no %s (chapter 4 with --model %s makes one): using (b)'s eps model\n",
                ch4.c_str(), model_name.c_str());
    if (!eps_model)
      eps_model = train_on(Prediction::Eps, model_name, s, train, batch, options, settings,
                           cli.seed(), device, out);
  }
  determinism(*eps_model, s, &gen);
  inversion(*eps_model, s, test, out, page);
  std::printf("    sampler        steps   FID (%lld samples)   ms per image\n",
              static_cast<long long>(fid_samples));
  std::vector<int64_t> step_counts;  // the DDIM paper's 10, 20, 50, 100 (those T allows)
  for (int64_t n : {10, 20, 50, 100})
    if (n < s.steps()) step_counts.push_back(n);
  if (full || step_counts.empty()) step_counts.push_back(s.steps());
  for (double eta : {0.0, 1.0})
    for (int64_t steps : step_counts) {
      const Scored r =
          sample_and_score(*eps_model, s, fid_samples, ddim_timesteps(s.steps(), steps), eta, false,
                           &gen, *classifier, train, test, dataset);
      std::printf("    DDIM eta %.0f     %5lld   %10s   %10.1f\n", eta,
                  static_cast<long long>(steps), fid_text(r).c_str(), 1000 * r.seconds_per_image);
    }
  if (full) {
    const Scored r = sample_and_score(*eps_model, s, fid_samples, {}, 0.0, true, &gen, *classifier,
                                      train, test, dataset);
    std::printf("    DDPM           %5lld   %10s   %10.1f\n", static_cast<long long>(s.steps()),
                fid_text(r).c_str(), 1000 * r.seconds_per_image);
  }
  write_chapter_page(page, out);
  return 0;
}

int main(int argc, char** argv) {
  return run_main(argc, argv, run);
}
