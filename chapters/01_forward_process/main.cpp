// Chapter 1 — the forward process: destroying a picture with Gaussian noise.
//
// Four ways of adding noise to the mandrill, each saved as a grid of pictures, then the
// schedules of the DDPM papers side by side, then a numerical check that jumping straight to
// step t (the closed form) gives the same distribution as taking t small steps.
//
//   (a) x <- a x + b ε                       a = 0.5, b = 0.1, 4 steps
//   (b) x <- √(1-β) x + √β ε                 β = 0.3 fixed, 24 steps
//   (c) the same with β_t growing linearly   β: 1e-4 -> 0.6 over 24 steps
//   (d) x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε          the closed form of (c), one jump per t
//
// Run:  ./build/chapters/01_forward_process            (outputs in out/01_forward_process/)
//       ./build/chapters/01_forward_process --help     (every flag, with the tutorial's values)
// The lecture companion is chapters/01_forward_process/README.md.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/tools/cli.h"
#include "diffusion/tools/data.h"
#include "diffusion/tools/html_index.h"
#include "diffusion/tools/image.h"
#include "diffusion/tools/plot.h"
#include "diffusion/process/schedule.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// Everything the chapter's sections share.
struct Chapter {
  Device device;
  Generator* gen;
  std::string out;      // output folder
  int64_t columns = 5;  // pictures per grid row
  int64_t tile = 256;   // size of one picture in a grid (0 = full size)
};

// Which of the pictures x_0..x_T a grid shows: all of them when they fit in 5 rows,
// otherwise 5 rows' worth spread evenly from x_0 to x_T.
std::vector<int64_t> shown_steps(int64_t last_step, int64_t columns) {
  const int64_t most = 5 * columns;
  std::vector<int64_t> steps;
  if (last_step + 1 <= most) {
    for (int64_t k = 0; k <= last_step; ++k) steps.push_back(k);
  } else {
    for (int64_t i = 0; i < most; ++i) steps.push_back(i * last_step / (most - 1));
  }
  return steps;
}

// A model-range picture [1, 3, S, S] as a grid tile: back to [0, 1], shrunk to the tile size
// by picking pixels (ResizeFilter::Nearest), so a tile shows the noise as strong as it is —
// averaging neighbours would hide some of it.
Tensor as_tile(const Chapter& ch, const Tensor& x) {
  Tensor picture = unnormalize_to_zero_to_one(x).cpu();
  if (ch.tile > 0 && ch.tile < picture.size(-1))
    picture = resize(picture, ch.tile, ch.tile, ResizeFilter::Nearest);
  return picture;
}

// The tiles a section shows, for its grid and for the overview.
using Tiles = std::vector<Tensor>;

void save_grid(const Chapter& ch, const Tiles& tiles, const std::string& name,
               const std::string& what) {
  const std::string path = ch.out + "/" + name;
  // White gaps between the pictures read better on a page than torchvision's black.
  save_png(path, make_grid(cat(tiles, 0), ch.columns, 2, 1.0f));
  std::printf("    -> %s (%zu pictures, %s)\n", path.c_str(), tiles.size(), what.c_str());
}

// The standard deviation of all values of x, to print how a process spreads the picture.
double std_of(const Tensor& x) {
  std::vector<float> v = x.to_vector();
  double sum = 0, sum_sq = 0;
  for (float f : v) sum += f, sum_sq += static_cast<double>(f) * f;
  double mean = sum / static_cast<double>(v.size());
  return std::sqrt(std::max(sum_sq / static_cast<double>(v.size()) - mean * mean, 0.0));
}

// ---- (a) scale and add noise ----------------------------------------------------------------
// x_k = a x_{k-1} + b ε. The picture's weight after k steps is a^k; the noise's variance is
// b²(1 + a² + ... + a^{2(k-1)}) = b²(1 - a^{2k})/(1 - a²). With a = 0.5 and b = 0.1 the picture
// fades to flat grey (x -> 0) while the noise stays tiny: nothing ties the noise to what is
// taken away. Sections (b)-(d) fix exactly that.
Tiles scale_and_add_noise(const Chapter& ch, const Tensor& x0, double a, double b, int64_t steps) {
  std::printf("\n(a) x <- a*x + b*eps with a = %g, b = %g, %lld steps\n", a, b,
              static_cast<long long>(steps));
  Tiles tiles = {as_tile(ch, x0)};
  Tensor x = x0;
  for (int64_t k = 1; k <= steps; ++k) {
    Tensor eps = randn(x.shape(), ch.device, ch.gen);
    x = static_cast<float>(a) * x + static_cast<float>(b) * eps;  // x_k = a x_{k-1} + b ε
    tiles.push_back(as_tile(ch, x));
  }
  const double signal = std::pow(a, static_cast<double>(steps));
  const double noise_std = b * std::sqrt((1 - std::pow(a, 2.0 * steps)) / (1 - a * a));
  std::printf(
      "    after %lld steps: picture weight a^k = %.4f, noise std = %.4f, std of x = %.4f"
      " (x_0 had %.4f)\n",
      static_cast<long long>(steps), signal, noise_std, std_of(x), std_of(x0));
  save_grid(ch, tiles, "a_scale_and_add_noise.png", "x_0 .. x_" + std::to_string(steps));
  return tiles;
}

// ---- (b), (c) the DDPM step, iterated ---------------------------------------------------------
// x_t = √(1-β_t) x_{t-1} + √β_t ε   (Ho et al. eq. 2). Scaling by √(1-β) while adding noise of
// variance β keeps the variance at 1 when it starts at 1: (1-β)·1 + β = 1. The picture fades
// and the noise takes its place, towards N(0, I).
Tiles iterate_ddpm_steps(const Chapter& ch, const Tensor& x0, const std::vector<float>& betas,
                         const std::string& name, const std::string& title) {
  std::printf("\n%s\n", title.c_str());
  const int64_t steps = static_cast<int64_t>(betas.size());
  const std::vector<int64_t> shown = shown_steps(steps, ch.columns);
  Tiles tiles;
  Tensor x = x0;
  size_t next = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    if (k > 0) {
      const float beta = betas[static_cast<size_t>(k - 1)];
      Tensor eps = randn(x.shape(), ch.device, ch.gen);
      x = std::sqrt(1.0f - beta) * x + std::sqrt(beta) * eps;  // eq. 2, one step
    }
    if (next < shown.size() && shown[next] == k) {
      tiles.push_back(as_tile(ch, x));
      ++next;
    }
  }
  std::printf("    after %lld steps: std of x = %.4f (pure noise has 1)\n",
              static_cast<long long>(steps), std_of(x));
  save_grid(ch, tiles, name, "x_0 .. x_" + std::to_string(steps));
  return tiles;
}

// ---- (d) the closed form ----------------------------------------------------------------------
// q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I), ᾱ_t = Π α_s  (Ho et al. eq. 4): any x_t in one jump
// from x_0 with one draw of noise — NoiseScheduler::add_noise. Each tile has its own ε.
Tiles closed_form(const Chapter& ch, const Tensor& x0, const NoiseScheduler& scheduler) {
  std::printf(
      "\n(d) closed form x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, one jump "
      "per step\n");
  const int64_t steps = scheduler.steps();
  Tiles tiles;
  for (int64_t k : shown_steps(steps, ch.columns)) {
    if (k == 0) {
      tiles.push_back(as_tile(ch, x0));
      continue;
    }
    // The picture after k steps is x at scheduler index k-1 (timesteps are 0-based).
    Tensor t = scheduler.timesteps(1, k - 1);
    Tensor eps = randn(x0.shape(), ch.device, ch.gen);
    tiles.push_back(as_tile(ch, scheduler.add_noise(x0, eps, t)));
  }
  std::vector<float> alpha_bar = scheduler.alpha_bar.to_vector();
  std::printf("    alpha_bar after 1, %lld and %lld steps: %.4f, %.4f, %.2e\n",
              static_cast<long long>(steps / 2), static_cast<long long>(steps), alpha_bar.front(),
              alpha_bar[static_cast<size_t>(steps / 2 - (steps >= 2 ? 1 : 0))], alpha_bar.back());
  save_grid(ch, tiles, "d_closed_form.png", "x_0 .. x_" + std::to_string(steps));
  return tiles;
}

// ---- the overview: (a)-(d) one row each, five stages from x_0 to the last step ---------------
void save_overview(const Chapter& ch, const std::vector<Tiles>& rows) {
  Tiles picked;
  for (const Tiles& row : rows) {
    // Five tiles spread evenly over the row (all of them when there are five or fewer);
    // short rows are filled with white so the columns line up.
    const size_t n = row.size();
    for (size_t i = 0; i < 5; ++i) {
      if (n >= 5)
        picked.push_back(row[(i * (n - 1) + 2) / 4]);
      else
        picked.push_back(i < n ? row[i] : ones(row[0].shape()));
    }
  }
  const std::string path = ch.out + "/overview.png";
  save_png(path, make_grid(cat(picked, 0), 5, 2, 1.0f));
  std::printf(
      "\nOverview: rows (a), (b), (c), (d); five stages from x_0 to the last step\n"
      "    -> %s\n",
      path.c_str());
}

// ---- the check: does the jump match the walk? ---------------------------------------------
// For each t, `draws` independent copies of x_t from the iterated process (c) and from the
// closed form (d). If both are N(√ᾱ_t x_0, (1-ᾱ_t) I), then over all pixels and draws
//   slope    = Σ x_0 x_t / Σ x_0²        estimates √ᾱ_t,   standard error σ_t / √(Σ x_0²)
//   variance = mean (x_t - √ᾱ_t x_0)²    estimates 1-ᾱ_t,  standard error (1-ᾱ_t) √(2/n)
// with σ_t² = 1-ᾱ_t and n the number of values. PASS when every estimate is within 5
// standard errors of the closed form's value (a false alarm is a ~1e-6 event per number).
struct Moments {
  double slope, variance;
};

Moments moments(const Tensor& x0_batch, const Tensor& x_t, double sqrt_alpha_bar) {
  std::vector<float> x0 = x0_batch.to_vector(), xt = x_t.to_vector();
  double x0_x0 = 0, x0_xt = 0, residual_sq = 0;
  for (size_t i = 0; i < x0.size(); ++i) {
    x0_x0 += static_cast<double>(x0[i]) * x0[i];
    x0_xt += static_cast<double>(x0[i]) * xt[i];
    double r = xt[i] - sqrt_alpha_bar * x0[i];
    residual_sq += r * r;
  }
  return {x0_xt / x0_x0, residual_sq / static_cast<double>(x0.size())};
}

bool check_closed_form(const Chapter& ch, const Tensor& x0, const NoiseScheduler& scheduler,
                       int64_t draws) {
  std::printf(
      "\nCheck: %lld draws of the iterated process (c) and of the closed form (d); "
      "mean and variance of x_t\n",
      static_cast<long long>(draws));
  const int64_t steps = scheduler.steps();
  const std::vector<float> betas = scheduler.betas.to_vector();
  const std::vector<float> alpha_bar = scheduler.alpha_bar.to_vector();
  Tensor x0_batch = x0 * ones({draws, 1, 1, 1}, ch.device);  // the same x_0 in every draw
  const double n = static_cast<double>(x0_batch.numel());
  double sum_x0_sq = 0;
  for (float v : x0_batch.to_vector()) sum_x0_sq += static_cast<double>(v) * v;

  std::printf("    %4s  %9s  %9s  %9s  |  %9s  %9s  %9s\n", "t", "sqrt(ab)", "iterated", "closed",
              "1-ab", "iterated", "closed");
  bool pass = true;
  double worst = 0;  // largest |estimate - expected| / standard error
  Tensor x = x0_batch;
  for (int64_t k = 1; k <= steps; ++k) {
    const float beta = betas[static_cast<size_t>(k - 1)];
    x = std::sqrt(1.0f - beta) * x + std::sqrt(beta) * randn(x.shape(), ch.device, ch.gen);
    Tensor t = scheduler.timesteps(draws, k - 1);
    Tensor jump = scheduler.add_noise(x0_batch, randn(x0_batch.shape(), ch.device, ch.gen), t);

    const double ab = alpha_bar[static_cast<size_t>(k - 1)];
    const double slope_se = std::sqrt((1 - ab) / sum_x0_sq);
    const double variance_se = (1 - ab) * std::sqrt(2.0 / n);
    Moments walked = moments(x0_batch, x, std::sqrt(ab));
    Moments jumped = moments(x0_batch, jump, std::sqrt(ab));
    for (const Moments& m : {walked, jumped}) {
      double z_slope = std::fabs(m.slope - std::sqrt(ab)) / slope_se;
      double z_variance = std::fabs(m.variance - (1 - ab)) / variance_se;
      worst = std::max(worst, std::max(z_slope, z_variance));
      pass = pass && z_slope < 5 && z_variance < 5;
    }
    if (k == 1 || k == steps || k % std::max<int64_t>(1, steps / 4) == 0)
      std::printf("    %4lld  %9.5f  %9.5f  %9.5f  |  %9.5f  %9.5f  %9.5f\n",
                  static_cast<long long>(k), std::sqrt(ab), walked.slope, jumped.slope, 1 - ab,
                  walked.variance, jumped.variance);
  }
  std::printf(
      "    (t counts steps taken; ab = alpha_bar; each number is estimated from %.0f "
      "values)\n",
      n);
  std::printf("    largest deviation: %.2f standard errors (limit 5)  =>  %s\n", worst,
              pass ? "PASS: the jump and the walk have the same mean and variance"
                   : "FAIL: the closed form does not match the iterated process");
  return pass;
}

// ---- plots ------------------------------------------------------------------------------------

// How much picture (the weight of x_0) and how much noise (its standard deviation) each of
// the processes (a)-(c) leaves after k steps: the story of the grids, as curves.
void plot_signal_and_noise(const Chapter& ch, double a, double b, int64_t steps_a,
                           const std::vector<float>& fixed_betas, const NoiseScheduler& linear) {
  Figure figure(1, 2);
  figure.title = "What is left of the picture, and how much noise, after k steps";
  LinePlot& signal = figure.panel(0);
  LinePlot& noise = figure.panel(1);
  signal.title = "weight of x₀ in xₖ";
  signal.xlabel = noise.xlabel = "step k";
  noise.title = "standard deviation of the noise in xₖ";

  std::vector<double> k_a, signal_a, noise_a;
  for (int64_t k = 0; k <= steps_a; ++k) {
    k_a.push_back(static_cast<double>(k));
    signal_a.push_back(std::pow(a, static_cast<double>(k)));
    noise_a.push_back(b * std::sqrt((1 - std::pow(a, 2.0 * k)) / (1 - a * a)));
  }
  auto cumulative = [](const std::vector<float>& betas, std::vector<double>& k_out,
                       std::vector<double>& signal_out, std::vector<double>& noise_out) {
    double alpha_bar = 1.0;
    k_out = {0.0};
    signal_out = {1.0};
    noise_out = {0.0};
    for (size_t i = 0; i < betas.size(); ++i) {
      alpha_bar *= 1.0 - betas[i];
      k_out.push_back(static_cast<double>(i + 1));
      signal_out.push_back(std::sqrt(alpha_bar));       // √ᾱ_k
      noise_out.push_back(std::sqrt(1.0 - alpha_bar));  // √(1-ᾱ_k)
    }
  };
  std::vector<double> k_b, signal_b, noise_b, k_c, signal_c, noise_c;
  cumulative(fixed_betas, k_b, signal_b, noise_b);
  cumulative(linear.betas.to_vector(), k_c, signal_c, noise_c);
  char label_a[64], label_b[64];
  std::snprintf(label_a, sizeof label_a, "(a) a = %g, b = %g", a, b);
  std::snprintf(label_b, sizeof label_b, "(b) fixed β = %g",
                static_cast<double>(fixed_betas.at(0)));
  signal.add(label_a, k_a, signal_a).markers = true;
  signal.add(label_b, k_b, signal_b).markers = true;
  signal.add("(c), (d) linear β", k_c, signal_c).markers = true;
  noise.add(label_a, k_a, noise_a).markers = true;
  noise.add(label_b, k_b, noise_b).markers = true;
  noise.add("(c), (d) linear β", k_c, noise_c).markers = true;
  signal.y_min = noise.y_min = -0.05;
  signal.y_max = noise.y_max = 1.05;
  const std::string path = ch.out + "/signal_and_noise.svg";
  figure.save(path);
  std::printf("    -> %s\n", path.c_str());
}

// β_t and ᾱ_t of the four schedules of the DDPM practical for T steps.
void plot_schedules(const Chapter& ch, int64_t steps, double beta_start, double beta_end) {
  std::printf(
      "\nSchedules: beta_t and alpha_bar_t for T = %lld (beta %g -> %g; cosine: s = 0.008)\n",
      static_cast<long long>(steps), beta_start, beta_end);
  Figure figure(1, 2);
  figure.title = "Noise schedules, T = " + std::to_string(steps);
  LinePlot& beta_plot = figure.panel(0);
  LinePlot& alpha_bar_plot = figure.panel(1);
  beta_plot.title = "βₜ (log scale)";
  beta_plot.log_y = true;
  alpha_bar_plot.title = "ᾱₜ";
  beta_plot.xlabel = alpha_bar_plot.xlabel = "timestep t";
  for (BetaSchedule kind : {BetaSchedule::Linear, BetaSchedule::Cosine, BetaSchedule::Quadratic,
                            BetaSchedule::Sigmoid}) {
    NoiseScheduler scheduler(steps, beta_start, beta_end, kind);
    beta_plot.add(beta_schedule_name(kind), scheduler.betas);
    alpha_bar_plot.add(beta_schedule_name(kind), scheduler.alpha_bar);
    std::vector<float> alpha_bar = scheduler.alpha_bar.to_vector();
    std::printf("    %-9s alpha_bar at t = T/4, T/2, 3T/4, T-1: %.4f %.4f %.4f %.2e\n",
                beta_schedule_name(kind), alpha_bar[static_cast<size_t>(steps / 4)],
                alpha_bar[static_cast<size_t>(steps / 2)],
                alpha_bar[static_cast<size_t>(3 * steps / 4)], alpha_bar.back());
  }
  const std::string path = ch.out + "/schedules.svg";
  figure.save(path);
  std::printf("    -> %s\n", path.c_str());
}

int run(int argc, char** argv) {
  Cli cli("01_forward_process",
          "Chapter 1: the forward (noising) process on one picture. Writes four image grids\n"
          "(a)-(d), the signal/noise curves and the four beta schedules, and checks that the\n"
          "closed form x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps matches the\n"
          "iterated process in mean and variance.");
  std::string& image_path =
      cli.add_string("image", "", "picture to noise (default: the mandrill, found via --data)");
  int64_t& size = cli.add_int("size", 512, "the picture is resized to SIZE x SIZE pixels", 8, 4096);
  double& a = cli.add_float("a", 0.5, "(a) weight of x in x <- a*x + b*eps", 0.0, 10.0);
  double& b = cli.add_float("b", 0.1, "(a) weight of the noise eps", 0.0, 10.0);
  int64_t& steps_a = cli.add_int("steps-a", 4, "(a) number of steps", 1, 1000);
  double& beta = cli.add_float("beta", 0.3, "(b) the fixed beta", 1e-6, 0.999);
  int64_t& steps = cli.add_int("steps", 24, "(b)-(d) number of noising steps", 1, 100000);
  double& beta_start =
      cli.add_float("beta-start", 1e-4, "(c), (d) first beta of the linear schedule", 1e-8, 0.999);
  double& beta_end =
      cli.add_float("beta-end", 0.6, "(c), (d) last beta of the linear schedule", 1e-8, 0.999);
  int64_t& draws =
      cli.add_int("draws", 8, "noise draws per step for the closed-form check", 2, 4096);
  int64_t& schedule_steps =
      cli.add_int("schedule-steps", 1000, "T of the schedule comparison", 8, 100000);
  double& schedule_beta_start = cli.add_float("schedule-beta-start", 1e-4,
                                              "first beta of the compared schedules", 1e-8, 0.999);
  double& schedule_beta_end =
      cli.add_float("schedule-beta-end", 0.02, "last beta of the compared schedules", 1e-8, 0.999);
  int64_t& columns = cli.add_int("columns", 5, "pictures per row in the grids", 1, 100);
  int64_t& tile =
      cli.add_int("tile", 128, "size of each picture in the grids, px (0 = full size)", 0, 4096);
  cli.parse(argc, argv);
  if (steps < 2) cli.usage_error("--steps must be at least 2 for the scheduler's constants");

  NoGradGuard no_grad;  // nothing here is trained: no graph
  Generator gen(cli.seed());
  Chapter ch{cli.device(), &gen, make_output_dir(cli.out_dir()), columns, tile};

  std::printf("Chapter 1: the forward process (device %s, seed %llu)\n", ch.device.str().c_str(),
              static_cast<unsigned long long>(cli.seed()));
  std::string path = image_path;
  if (path.empty()) {
    DataLocation found = find_mandrill(DataSearch::defaults(cli.data_dir()));
    path = found.path;
    std::printf("picture: %s (found via %s)\n", path.c_str(), found.origin.c_str());
  } else {
    std::printf("picture: %s\n", path.c_str());
  }
  // [1, 3, size, size] in [-1, 1]: centre-cropped to a square, resized, scaled from [0, 1].
  Tensor x0 = load_picture(path, size, 3, ch.device);
  std::printf("x_0: %lldx%lld RGB, pixels scaled to [-1, 1]; grids show %s tiles; outputs in %s/\n",
              static_cast<long long>(size), static_cast<long long>(size),
              tile > 0 && tile < size ? (std::to_string(tile) + " px").c_str() : "full-size",
              ch.out.c_str());

  std::vector<Tiles> rows;
  rows.push_back(scale_and_add_noise(ch, x0, a, b, steps_a));

  const std::vector<float> fixed_betas(static_cast<size_t>(steps), static_cast<float>(beta));
  char title[160];
  std::snprintf(title, sizeof title,
                "(b) x <- sqrt(1 - beta) x + sqrt(beta) eps with a fixed beta = %g, %lld steps",
                beta, static_cast<long long>(steps));
  rows.push_back(iterate_ddpm_steps(ch, x0, fixed_betas, "b_fixed_beta.png", title));

  NoiseScheduler linear(steps, beta_start, beta_end, BetaSchedule::Linear, ch.device);
  std::snprintf(title, sizeof title,
                "(c) the same step with beta_t linear from %g to %g over %lld steps, iterated",
                beta_start, beta_end, static_cast<long long>(steps));
  rows.push_back(iterate_ddpm_steps(ch, x0, linear.betas.to_vector(),
                                    "c_linear_schedule_iterated.png", title));
  rows.push_back(closed_form(ch, x0, linear));
  save_overview(ch, rows);

  std::printf("\nSignal and noise of (a)-(c), step by step\n");
  plot_signal_and_noise(ch, a, b, steps_a, fixed_betas, linear);
  plot_schedules(ch, schedule_steps, schedule_beta_start, schedule_beta_end);

  bool pass = check_closed_form(ch, x0, linear, draws);
  IndexPage page("Chapter 1: the forward process", "Noising the mandrill four ways, and the "
                 "schedules that decide how fast the picture disappears.");
  page.figure("overview.png", "(a)-(d) side by side, five stages each");
  page.figure("a_scale_and_add_noise.png", "(a) x = a x + b eps: the picture fades and grows");
  page.figure("b_fixed_beta.png", "(b) a fixed beta keeps the variance at 1");
  page.figure("c_linear_schedule_iterated.png", "(c) a linear beta schedule, step by step");
  page.figure("d_closed_form.png", "(d) the same pictures in one jump from x_0");
  page.figure("signal_and_noise.svg", "how much signal and noise each recipe leaves");
  page.figure("schedules.svg", "the four beta schedules and their alpha_bar");
  write_chapter_page(page, ch.out);
  std::printf("\nDone. Open the PNG and SVG files in %s/ (any browser shows them).\n",
              ch.out.c_str());
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, run);
}
