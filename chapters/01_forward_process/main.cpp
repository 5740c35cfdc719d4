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
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/figures/schedule_figures.h"
#include "diffusion/metrics/marginal_check.h"
#include "diffusion/process/schedule.h"
#include "diffusion/tools/cli.h"
#include "diffusion/tools/html_index.h"
#include "diffusion/tools/image.h"
#include "diffusion/tools/picture_flags.h"
#include "diffusion/tools/strip.h"
#include "diffusion/training/schedule_flags.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// Everything the chapter's sections share.
struct Chapter {
  Device device;
  Generator* gen;
  std::string out;  // output folder
  int64_t columns;  // pictures per grid row
  TileStyle style;  // how large a picture is drawn in a grid (picked pixels: noise stays noise)
  IndexPage* page;  // the chapter's index.html
};

using Tiles = std::vector<Tensor>;  // the pictures a grid shows, for its grid and the overview

void save_grid(const Chapter& ch, const Tiles& tiles, const std::string& name,
               const std::string& caption) {
  // White gaps between the pictures read better on a page than torchvision's black.
  ch.page->save_png(ch.out, name, make_grid(cat(tiles, 0), ch.columns, 2, 1.0f), caption);
}

// ---- (a) scale and add noise ----------------------------------------------------------------
// x_k = a x_{k-1} + b ε. The picture's weight after k steps is a^k; the noise's variance is
// b²(1 + a² + ... + a^{2(k-1)}) = b²(1 - a^{2k})/(1 - a²). With a = 0.5 and b = 0.1 the picture
// fades to flat grey (x -> 0) while the noise stays tiny: nothing ties the noise to what is
// taken away. Sections (b)-(d) fix exactly that.
Tiles scale_and_add_noise(const Chapter& ch, const Tensor& x0, double a, double b, int64_t steps) {
  std::printf("\n(a) x <- a*x + b*eps with a = %g, b = %g, %lld steps\n", a, b,
              static_cast<long long>(steps));
  Tiles tiles = {as_tiles(x0, ch.style)};
  Tensor x = x0;
  for (int64_t k = 1; k <= steps; ++k) {
    Tensor eps = randn(x.shape(), ch.device, ch.gen);
    x = static_cast<float>(a) * x + static_cast<float>(b) * eps;  // x_k = a x_{k-1} + b ε
    tiles.push_back(as_tiles(x, ch.style));
  }
  const SignalAndNoise left = signal_and_noise(a, b, steps);  // a^k and the noise's std
  std::printf(
      "    after %lld steps: picture weight a^k = %.4f, noise std = %.4f, std of x = %.4f"
      " (x_0 had %.4f)\n",
      static_cast<long long>(steps), left.signal.back(), left.noise.back(), pixel_stats(x).std,
      pixel_stats(x0).std);
  save_grid(ch, tiles, "a_scale_and_add_noise.png", "(a) x <- a x + b eps: the picture fades");
  return tiles;
}

// ---- (b), (c) the DDPM step, iterated ---------------------------------------------------------
// x_t = √(1-β_t) x_{t-1} + √β_t ε   (Ho et al. eq. 2). Scaling by √(1-β) while adding noise of
// variance β keeps the variance at 1 when it starts at 1: (1-β)·1 + β = 1. The picture fades
// and the noise takes its place, towards N(0, I).
Tiles iterate_ddpm_steps(const Chapter& ch, const Tensor& x0, const std::vector<float>& betas,
                         const std::string& name, const std::string& caption) {
  std::printf("\n%s, %zu steps\n", caption.c_str(), betas.size());
  const int64_t steps = static_cast<int64_t>(betas.size());
  const std::vector<int64_t> shown = shown_steps(steps, ch.columns);
  Tiles tiles;
  Tensor x = x0;
  for (int64_t k = 0; k <= steps; ++k) {
    if (k > 0) {
      const float beta = betas[static_cast<size_t>(k - 1)];
      Tensor eps = randn(x.shape(), ch.device, ch.gen);
      x = std::sqrt(1.0f - beta) * x + std::sqrt(beta) * eps;  // eq. 2, one step
    }
    if (std::find(shown.begin(), shown.end(), k) != shown.end())
      tiles.push_back(as_tiles(x, ch.style));
  }
  std::printf("    after %lld steps: std of x = %.4f (pure noise has 1)\n",
              static_cast<long long>(steps), pixel_stats(x).std);
  save_grid(ch, tiles, name, caption);
  return tiles;
}

// ---- (d) the closed form ----------------------------------------------------------------------
// q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I), ᾱ_t = Π α_s  (Ho et al. eq. 4): any x_t in one jump
// from x_0 with one draw of noise — NoiseScheduler::add_noise. Each tile has its own ε.
Tiles closed_form(const Chapter& ch, const Tensor& x0, const NoiseScheduler& scheduler) {
  std::printf("\n(d) x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, one jump per t\n");
  Tiles tiles;
  for (int64_t k : shown_steps(scheduler.steps(), ch.columns)) {
    // The picture after k steps is x at scheduler index k-1 (timesteps are 0-based).
    if (k == 0) {
      tiles.push_back(as_tiles(x0, ch.style));
      continue;
    }
    Tensor eps = randn(x0.shape(), ch.device, ch.gen);
    tiles.push_back(
        as_tiles(scheduler.add_noise(x0, eps, scheduler.timesteps(1, k - 1)), ch.style));
  }
  const std::vector<float> ab = scheduler.alpha_bar.to_vector();
  std::printf("    alpha_bar after 1, %zu and %zu steps: %.4f, %.4f, %.2e\n", ab.size() / 2,
              ab.size(), ab.front(), ab[ab.size() / 2 - 1], ab.back());
  save_grid(ch, tiles, "d_closed_form.png", "(d) the same pictures in one jump from x_0");
  return tiles;
}

// The overview: (a)-(d) one row each, five stages from x_0 to the last step.
void save_overview(const Chapter& ch, const std::vector<Tiles>& rows) {
  std::printf("\nOverview: rows (a), (b), (c), (d); five stages from x_0 to the last step\n");
  std::vector<Tiles> picked;
  for (const Tiles& row : rows) picked.push_back(pick_evenly(row, 5));
  ch.page->save_png(ch.out, "overview.png", tile_rows(picked, 5),
                    "(a)-(d) side by side, five stages each");
}

// ---- the check: does the jump match the walk? ---------------------------------------------
// For each t, `draws` copies of x_t from the iterated process (c) and from the closed form
// (d). If both are N(√ᾱ_t x_0, (1-ᾱ_t) I), the slope Σ x_0 x_t / Σ x_0² estimates √ᾱ_t and
// the mean (x_t - √ᾱ_t x_0)² estimates 1-ᾱ_t (check_marginals, with their standard errors).
// PASS when every estimate is within 5 standard errors (a false alarm: ~1e-6 per number).
bool check_closed_form(const Chapter& ch, const Tensor& x0, const NoiseScheduler& scheduler,
                       int64_t draws) {
  std::printf("\nCheck: %lld draws of the iterated process (c) and of the closed form (d)\n",
              static_cast<long long>(draws));
  const MarginalCheck check = check_marginals(x0, scheduler, draws, ch.gen);
  const bool pass = check.worst < 5;
  std::printf(
      "%s    (t counts steps taken; ab = alpha_bar; each number from %.0f values)\n"
      "    largest deviation: %.2f standard errors (limit 5)  =>  %s\n",
      check.table().c_str(), check.values, check.worst,
      pass ? "PASS: the jump and the walk have the same mean and variance"
           : "FAIL: the closed form does not match the iterated process");
  return pass;
}

// ---- plots ------------------------------------------------------------------------------------

// How much picture (the weight of x_0) and how much noise (its standard deviation) each of
// the processes (a)-(c) leaves after k steps: the story of the grids, as curves. A DDPM-style
// process with betas β_1..β_k leaves √ᾱ_k of the picture and noise of std √(1-ᾱ_k).
void plot_signal_and_noise(const Chapter& ch, double a, double b, int64_t steps_a,
                           const std::vector<float>& fixed_betas, const NoiseScheduler& linear) {
  char label_a[64], label_b[64];
  std::snprintf(label_a, sizeof label_a, "(a) a = %g, b = %g", a, b);
  std::snprintf(label_b, sizeof label_b, "(b) fixed β = %g", double(fixed_betas.at(0)));
  const Figure figure =
      signal_and_noise_figure({{label_a, signal_and_noise(a, b, steps_a)},
                               {label_b, signal_and_noise(fixed_betas)},
                               {"(c), (d) linear β", signal_and_noise(linear.betas.to_vector())}});
  ch.page->save_svg(ch.out, "signal_and_noise.svg", figure,
                    "how much signal and noise each recipe leaves");
}

// β_t and ᾱ_t of the four schedules of the DDPM practical for T steps.
void plot_schedules(const Chapter& ch, const ScheduleFlags& plotted) {
  const int64_t steps = plotted.steps();
  const double beta_start = plotted.beta_start(), beta_end = plotted.beta_end();
  std::printf(
      "\nSchedules: beta_t and alpha_bar_t for T = %lld (beta %g -> %g; cosine: s = 0.008)\n",
      static_cast<long long>(steps), beta_start, beta_end);
  for (BetaSchedule kind : kBetaSchedules) {
    const std::vector<float> ab =
        NoiseScheduler(steps, beta_start, beta_end, kind).alpha_bar.to_vector();
    std::printf("    %-9s alpha_bar at t = T/4, T/2, 3T/4, T-1: %.4f %.4f %.4f %.2e\n",
                beta_schedule_name(kind), ab[size_t(steps / 4)], ab[size_t(steps / 2)],
                ab[size_t(3 * steps / 4)], ab.back());
  }
  ch.page->save_svg(ch.out, "schedules.svg", schedules_figure(steps, beta_start, beta_end),
                    "the four beta schedules and their alpha_bar");
}

}  // namespace

int run(int argc, char** argv) {
  Cli cli("01_forward_process",
          "Chapter 1: the forward (noising) process on one picture. Writes four image grids "
          "(a)-(d), the signal/noise curves and the four beta schedules, and checks that the "
          "closed form x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps matches the "
          "iterated process in mean and variance.");
  PictureFlags picture(cli, "picture to noise", 512, 8);
  double& a = cli.add_float("a", 0.5, "(a) weight of x in x <- a*x + b*eps", 0.0, 10.0);
  double& b = cli.add_float("b", 0.1, "(a) weight of the noise eps", 0.0, 10.0);
  int64_t& steps_a = cli.add_int("steps-a", 4, "(a) number of steps", 1, 1000);
  double& beta = cli.add_float("beta", 0.3, "(b) the fixed beta", 1e-6, 0.999);
  int64_t& steps = cli.add_int("steps", 24, "(b)-(d) number of noising steps", 2, 100000);
  double& beta_start = cli.add_float("beta-start", 1e-4, "(c), (d) first beta", 1e-8, 0.999);
  double& beta_end = cli.add_float("beta-end", 0.6, "(c), (d) last beta", 1e-8, 0.999);
  int64_t& draws = cli.add_int("draws", 8, "noise draws per step for the check", 2, 4096);
  ScheduleFlags plotted(cli, {1000, 1e-4, 0.02, "linear", false}, "schedule-", "(plot) ");
  int64_t& columns = cli.add_int("columns", 5, "pictures per row in the grids", 1, 100);
  int64_t& tile =
      cli.add_int("tile", 128, "side of each picture in the grids, px (0: full)", 0, 4096);
  cli.parse(argc, argv);
  plotted.check(cli);

  NoGradGuard no_grad;  // nothing here is trained: no graph
  Generator gen(cli.seed());
  IndexPage page("Chapter 1: the forward process",
                 "Noising the mandrill four ways, and the schedules that decide how fast the "
                 "picture disappears.");
  const Chapter ch{cli.device(), &gen, make_output_dir(cli.out_dir()), columns, {1, tile}, &page};
  std::printf("Chapter 1: the forward process (device %s, seed %llu); outputs in %s/\n",
              ch.device.str().c_str(), static_cast<unsigned long long>(cli.seed()), ch.out.c_str());
  const std::string path = picture.path();
  const int64_t size = picture.size();
  // [1, 3, size, size] in [-1, 1]: centre-cropped to a square, resized, scaled from [0, 1].
  const Tensor x0 = load_picture(path, size, 3, ch.device);
  std::printf("x_0: %s, %lldx%lld RGB, pixels scaled to [-1, 1]; grid tiles %s\n", path.c_str(),
              static_cast<long long>(size), static_cast<long long>(size),
              tile > 0 && tile < size ? (std::to_string(tile) + " px").c_str() : "full-size");

  const std::vector<float> fixed_betas(static_cast<size_t>(steps), static_cast<float>(beta));
  const NoiseScheduler linear(steps, beta_start, beta_end, BetaSchedule::Linear, ch.device);
  std::vector<Tiles> rows;
  rows.push_back(scale_and_add_noise(ch, x0, a, b, steps_a));
  rows.push_back(iterate_ddpm_steps(ch, x0, fixed_betas, "b_fixed_beta.png",
                                    "(b) x <- sqrt(1 - beta) x + sqrt(beta) eps, beta fixed"));
  rows.push_back(iterate_ddpm_steps(ch, x0, linear.betas.to_vector(),
                                    "c_linear_schedule_iterated.png",
                                    "(c) the same step with beta_t growing linearly"));
  rows.push_back(closed_form(ch, x0, linear));
  save_overview(ch, rows);
  std::printf("\nSignal and noise of (a)-(c), step by step\n");
  plot_signal_and_noise(ch, a, b, steps_a, fixed_betas, linear);
  plot_schedules(ch, plotted);
  const bool pass = check_closed_form(ch, x0, linear, draws);
  write_chapter_page(page, ch.out);
  return pass ? 0 : 1;
}

int main(int argc, char** argv) {
  return run_main(argc, argv, run);
}
