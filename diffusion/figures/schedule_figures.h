// schedule_figures.h — the forward process drawn as curves: what the noise schedules do to
// ᾱ_t, and how much of the picture and how much noise are left after k steps (chapter 1).
//
//   Figure schedules = schedules_figure(1000, 1e-4, 0.02);       // β_t and ᾱ_t, four schedules
//   page.save_svg(out, "schedules.svg", schedules, "the four beta schedules");
//
//   Figure curves = signal_and_noise_figure({{"linear β", signal_and_noise(betas)}});
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "diffusion/tools/plot.h"

namespace drift {
namespace diffusion {

// The four beta schedules of kBetaSchedules for `steps` steps (the cosine one ignores the
// betas), side by side: β_t on a log axis, and ᾱ_t.
Figure schedules_figure(int64_t steps, double beta_start, double beta_end);

// After k = 0, 1, ..., K steps of a process: the weight of x_0 in x_k, and the standard
// deviation of the noise in x_k.
struct SignalAndNoise {
  std::vector<double> signal, noise;
};

// For the DDPM step x_k = √(1-β_k) x_{k-1} + √β_k ε with betas β_1..β_K: x_k = √ᾱ_k x_0 +
// √(1-ᾱ_k) ε (Ho et al. eq. 4), so signal √ᾱ_k and noise √(1-ᾱ_k), from (1, 0) at k = 0.
SignalAndNoise signal_and_noise(const std::vector<float>& betas);

// For x_k = a x_{k-1} + b ε (chapter 1's first recipe): signal a^k, and noise of variance
// b²(1 + a² + ... + a^{2(k-1)}) = a² · (the variance one step before) + b².
SignalAndNoise signal_and_noise(double a, double b, int64_t steps);

// One series per named process, with markers, on two panels: the signal and the noise.
Figure signal_and_noise_figure(
    const std::vector<std::pair<std::string, SignalAndNoise>>& processes);

}  // namespace diffusion
}  // namespace drift
