// schedule_flags.cpp — see schedule_flags.h.
#include "diffusion/training/schedule_flags.h"

#include <cstdio>
#include <vector>

namespace drift {
namespace diffusion {

ScheduleFlags::ScheduleFlags(Cli& cli, const ScheduleDefaults& d, const std::string& prefix,
                             const std::string& part)
    : prefix_(prefix),
      steps_(cli.add_int(prefix + "steps", d.steps, part + "T, the number of noising steps", 2,
                         100000)),
      beta_start_(cli.add_float(prefix + "beta-start", d.beta_start,
                                part + "first beta of the schedule", 1e-8, 0.999)),
      beta_end_(cli.add_float(prefix + "beta-end", d.beta_end, part + "last beta of the schedule",
                              1e-8, 0.999)),
      fixed_schedule_(d.schedule),
      chosen_(nullptr) {
  std::vector<std::string> names;
  for (BetaSchedule kind : kBetaSchedules) names.push_back(beta_schedule_name(kind));
  if (d.choose_schedule)
    chosen_ = &cli.add_choice(prefix + "schedule", d.schedule, names,
                              part + "beta schedule (cosine ignores the betas)");
}

void ScheduleFlags::check(const Cli& cli) const {
  if (beta_start_ > beta_end_)
    cli.usage_error("--" + prefix_ + "beta-start must not exceed --" + prefix_ + "beta-end");
}

NoiseScheduler ScheduleFlags::scheduler(Device device) const {
  return NoiseScheduler(steps_, beta_start_, beta_end_, parse_beta_schedule(schedule()), device);
}

RunSettings ScheduleFlags::settings() const {
  return {{"steps", std::to_string(steps_)},
          {"schedule", schedule()},
          {"beta-start", exact(beta_start_)},
          {"beta-end", exact(beta_end_)}};
}

std::string ScheduleFlags::describe() const {
  char text[120];
  std::snprintf(text, sizeof text, "T = %lld, beta %s %g -> %g", static_cast<long long>(steps_),
                schedule().c_str(), beta_start_, beta_end_);
  return text;
}

}  // namespace diffusion
}  // namespace drift
