// lr_schedule.cpp — the schedules of lr_schedule.h; each lr_at is its formula, line by line.
#include "nn/lr_schedule.h"

#include <cmath>
#include <sstream>

#include "tensor/error.h"

namespace drift {
namespace nn {

namespace {

constexpr double kPi = 3.14159265358979323846;

void check_step(int64_t step, const char* schedule) {
  DRIFT_CHECK(step >= 0, schedule << ": lr_at(" << step << "): the step must be >= 0");
}

void check_base_lr(float base_lr, const char* schedule) {
  DRIFT_CHECK(std::isfinite(base_lr) && base_lr >= 0.0f,
              schedule << ": invalid base learning rate " << base_lr);
}

// base_lr * s / W: the warm-up ramp shared by the schedules.
double warmup_lr(double base_lr, int64_t step, int64_t warmup_steps) {
  return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
}

}  // namespace

// ---- constant ----------------------------------------------------------------------------

ConstantLr::ConstantLr(float base_lr) : base_lr_(base_lr) {
  check_base_lr(base_lr, "ConstantLr");
}

float ConstantLr::lr_at(int64_t step) const {
  check_step(step, "ConstantLr");
  return base_lr_;
}

std::string ConstantLr::describe() const {
  std::ostringstream os;
  os << "constant(" << base_lr_ << ")";
  return os.str();
}

// ---- linear warm-up ------------------------------------------------------------------------

LinearWarmup::LinearWarmup(float base_lr, int64_t warmup_steps)
    : base_lr_(base_lr), warmup_steps_(warmup_steps) {
  check_base_lr(base_lr, "LinearWarmup");
  DRIFT_CHECK(warmup_steps >= 0, "LinearWarmup: warmup_steps must be >= 0, got " << warmup_steps);
}

float LinearWarmup::lr_at(int64_t step) const {
  check_step(step, "LinearWarmup");
  if (step < warmup_steps_) return static_cast<float>(warmup_lr(base_lr_, step, warmup_steps_));
  return base_lr_;
}

std::string LinearWarmup::describe() const {
  std::ostringstream os;
  os << "linear warm-up(0 -> " << base_lr_ << " over " << warmup_steps_ << " steps, then constant)";
  return os.str();
}

// ---- cosine decay ------------------------------------------------------------------------------

CosineDecay::CosineDecay(float base_lr, int64_t total_steps, float min_lr, int64_t warmup_steps)
    : base_lr_(base_lr), min_lr_(min_lr), total_steps_(total_steps), warmup_steps_(warmup_steps) {
  check_base_lr(base_lr, "CosineDecay");
  DRIFT_CHECK(std::isfinite(min_lr) && min_lr >= 0.0f && min_lr <= base_lr,
              "CosineDecay: min_lr " << min_lr << " must be in [0, base_lr = " << base_lr << "]");
  DRIFT_CHECK(warmup_steps >= 0 && total_steps > warmup_steps,
              "CosineDecay: need 0 <= warmup_steps < total_steps, got warmup_steps "
                  << warmup_steps << " and total_steps " << total_steps);
}

float CosineDecay::lr_at(int64_t step) const {
  check_step(step, "CosineDecay");
  if (step < warmup_steps_) return static_cast<float>(warmup_lr(base_lr_, step, warmup_steps_));
  if (step >= total_steps_) return min_lr_;
  const double progress = static_cast<double>(step - warmup_steps_) /
                          static_cast<double>(total_steps_ - warmup_steps_);  // p in [0, 1)
  const double base = base_lr_, min = min_lr_;
  return static_cast<float>(min + (base - min) * (1.0 + std::cos(kPi * progress)) / 2.0);
}

std::string CosineDecay::describe() const {
  std::ostringstream os;
  os << "cosine(" << base_lr_ << " -> " << min_lr_ << " over " << total_steps_ << " steps";
  if (warmup_steps_ > 0) os << ", linear warm-up " << warmup_steps_;
  os << ")";
  return os.str();
}

}  // namespace nn
}  // namespace drift
