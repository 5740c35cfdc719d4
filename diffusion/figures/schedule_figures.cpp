// schedule_figures.cpp — see schedule_figures.h.
#include "diffusion/figures/schedule_figures.h"

#include <cmath>

#include "diffusion/process/schedule.h"

namespace drift {
namespace diffusion {

Figure schedules_figure(int64_t steps, double beta_start, double beta_end) {
  Figure figure(1, 2);
  figure.title = "Noise schedules, T = " + std::to_string(steps);
  LinePlot &beta_plot = figure.panel(0), &alpha_bar_plot = figure.panel(1);
  beta_plot.title = "βₜ (log scale)";
  beta_plot.log_y = true;
  alpha_bar_plot.title = "ᾱₜ";
  beta_plot.xlabel = alpha_bar_plot.xlabel = "timestep t";
  for (BetaSchedule kind : kBetaSchedules) {
    const NoiseScheduler scheduler(steps, beta_start, beta_end, kind);
    beta_plot.add(beta_schedule_name(kind), scheduler.betas);
    alpha_bar_plot.add(beta_schedule_name(kind), scheduler.alpha_bar);
  }
  return figure;
}

SignalAndNoise signal_and_noise(const std::vector<float>& betas) {
  SignalAndNoise curves{{1.0}, {0.0}};
  double alpha_bar = 1.0;
  for (float beta : betas) {
    alpha_bar *= 1.0 - beta;  // ᾱ_k = Π_{s≤k} (1 - β_s), in double as NoiseScheduler does
    curves.signal.push_back(std::sqrt(alpha_bar));
    curves.noise.push_back(std::sqrt(1.0 - alpha_bar));
  }
  return curves;
}

SignalAndNoise signal_and_noise(double a, double b, int64_t steps) {
  SignalAndNoise curves{{1.0}, {0.0}};
  double variance = 0.0;
  for (int64_t k = 1; k <= steps; ++k) {
    variance = a * a * variance + b * b;
    curves.signal.push_back(std::pow(a, double(k)));
    curves.noise.push_back(std::sqrt(variance));
  }
  return curves;
}

Figure signal_and_noise_figure(
    const std::vector<std::pair<std::string, SignalAndNoise>>& processes) {
  Figure figure(1, 2);
  figure.title = "What is left of the picture, and how much noise, after k steps";
  LinePlot &signal = figure.panel(0), &noise = figure.panel(1);
  signal.title = "weight of x₀ in xₖ";
  noise.title = "standard deviation of the noise in xₖ";
  signal.xlabel = noise.xlabel = "step k";
  signal.y_min = noise.y_min = -0.05;
  signal.y_max = noise.y_max = 1.05;
  for (const auto& [name, curves] : processes) {
    signal.add(name, curves.signal).markers = true;
    noise.add(name, curves.noise).markers = true;
  }
  return figure;
}

}  // namespace diffusion
}  // namespace drift
