// schedule_flags.h — the noise schedule as command-line flags, written once for every chapter:
// --steps (T), --beta-start, --beta-end, --schedule, with the chapter's defaults.
//
//   ScheduleFlags schedule(cli, {24, 1e-4, 0.6});   // the tutorial's toy schedule
//   cli.parse(argc, argv);
//   schedule.check(cli);                           // a first beta above the last: usage error
//   NoiseScheduler scheduler = schedule.scheduler(device);
//   nn::save_weights(path, model, schedule.settings());   // the schedule travels with weights
#pragma once

#include <cstdint>
#include <string>

#include "diffusion/process/schedule.h"
#include "diffusion/tools/cli.h"
#include "diffusion/training/trainer.h"  // RunSettings

namespace drift {
namespace diffusion {

struct ScheduleDefaults {
  int64_t steps;
  double beta_start, beta_end;
  std::string schedule = "linear";
  bool choose_schedule = true;  // false: no --schedule flag, the schedule is always `schedule`
};

class ScheduleFlags {
 public:
  // `prefix` names a second family of flags in one program ("c-": --c-steps, ...); `part`
  // starts their help texts ("(c) ").
  ScheduleFlags(Cli& cli, const ScheduleDefaults& defaults, const std::string& prefix = "",
                const std::string& part = "");
  void check(const Cli& cli) const;  // after parse(): the first beta must not exceed the last
  NoiseScheduler scheduler(Device device = Device::cpu()) const;
  // {"steps", "24"}, {"schedule", "linear"}, {"beta-start", ...}, {"beta-end", ...} (exact)
  RunSettings settings() const;
  std::string describe() const;  // "T = 24, beta linear 0.0001 -> 0.6"
  int64_t steps() const { return steps_; }
  double beta_start() const { return beta_start_; }
  double beta_end() const { return beta_end_; }
  const std::string& schedule() const { return chosen_ ? *chosen_ : fixed_schedule_; }

 private:
  std::string prefix_;
  int64_t& steps_;
  double &beta_start_, &beta_end_;
  std::string fixed_schedule_;
  std::string* chosen_;  // --schedule's value, or null without the flag
};

}  // namespace diffusion
}  // namespace drift
