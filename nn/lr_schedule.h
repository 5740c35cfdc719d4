// lr_schedule.h — learning-rate schedules: the learning rate as a function of the step.
//
//   nn::CosineDecay schedule(/*base_lr=*/2e-4, /*total_steps=*/10000, /*min_lr=*/0.0,
//                            /*warmup_steps=*/500);
//   for (int64_t step = 0; step < 10000; ++step) {
//     optimizer.set_lr(schedule.lr_at(step));
//     ...  // forward, backward, optimizer.step()
//   }
//
// `step` counts the optimizer steps already taken: lr_at(0) is the rate of the first update.
// This is the convention of Hugging Face's get_*_schedule_with_warmup and of PyTorch's
// LambdaLR / CosineAnnealingLR when scheduler.step() is called after optimizer.step(), so a
// warm-up starts at exactly 0. Values are computed in double and returned as float.
#pragma once

#include <cstdint>
#include <string>

namespace drift {
namespace nn {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual float lr_at(int64_t step) const = 0;  // step >= 0
  virtual std::string describe() const = 0;     // e.g. "cosine(2e-4 -> 0 over 10000, warm-up 500)"
};

// lr(s) = base_lr.
class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(float base_lr);
  float lr_at(int64_t step) const override;
  std::string describe() const override;

 private:
  float base_lr_;
};

// Linear warm-up, then constant:
//   lr(s) = base_lr * s / W   for s < W
//   lr(s) = base_lr           for s >= W          (W = warmup_steps; W = 0 is constant)
class LinearWarmup : public LrSchedule {
 public:
  LinearWarmup(float base_lr, int64_t warmup_steps);
  float lr_at(int64_t step) const override;
  std::string describe() const override;

 private:
  float base_lr_;
  int64_t warmup_steps_;
};

// Optional linear warm-up, then half a cosine from base_lr down to min_lr (Loshchilov &
// Hutter 2017, SGDR, without restarts):
//   lr(s) = base_lr * s / W                                            for s < W
//   lr(s) = min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2,
//           p = (s - W) / (T - W)                                      for W <= s < T
//   lr(s) = min_lr                                                     for s >= T
// with W = warmup_steps and T = total_steps. Without warm-up this is PyTorch's
// CosineAnnealingLR(T_max = T, eta_min = min_lr) for s <= T.
class CosineDecay : public LrSchedule {
 public:
  CosineDecay(float base_lr, int64_t total_steps, float min_lr = 0.0f, int64_t warmup_steps = 0);
  float lr_at(int64_t step) const override;
  std::string describe() const override;

 private:
  float base_lr_, min_lr_;
  int64_t total_steps_, warmup_steps_;
};

}  // namespace nn
}  // namespace drift
