// progress.cpp — the progress line.
#include "diffusion/tools/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "tensor/error.h"

namespace drift {
namespace diffusion {

namespace {

bool is_terminal(std::ostream* out) {
  if (out == &std::cerr || out == &std::clog) return ::isatty(STDERR_FILENO) == 1;
  if (out == &std::cout) return ::isatty(STDOUT_FILENO) == 1;
  return false;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  long total = static_cast<long>(std::lround(seconds));
  char buffer[32];
  if (total >= 3600)
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld:%02ld", total / 3600, (total / 60) % 60,
                  total % 60);
  else
    std::snprintf(buffer, sizeof buffer, "%02ld:%02ld", total / 60, total % 60);
  return buffer;
}

Progress::Progress(std::string label, int64_t total, int every_percent, std::ostream* out)
    : Progress(std::move(label), total, every_percent, out ? out : &std::cerr,
               is_terminal(out ? out : &std::cerr)) {}

Progress::Progress(std::string label, int64_t total, int every_percent, std::ostream* out,
                   bool interactive)
    : label_(std::move(label)),
      total_(total),
      every_percent_(every_percent),
      out_(out ? out : &std::cerr),
      interactive_(interactive) {
  DRIFT_CHECK(total >= 1, "Progress: total must be at least 1, got " << total);
  DRIFT_CHECK(every_percent >= 1 && every_percent <= 100,
              "Progress: every_percent must be in 1..100, got " << every_percent);
  start_ = last_draw_ = std::chrono::steady_clock::now();
  next_percent_ = every_percent_;
}

Progress::~Progress() {
  if (!finished_ && done_ > 0) finish();
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::line() const {
  const double elapsed = elapsed_seconds();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;  // it/s
  std::ostringstream os;
  char buffer[160];
  const int width = static_cast<int>(std::to_string(total_).size());
  std::snprintf(buffer, sizeof buffer, "%s %*lld/%lld [%3d%%]", label_.c_str(), width,
                static_cast<long long>(done_), static_cast<long long>(total_),
                static_cast<int>(100 * done_ / total_));
  os << buffer;
  if (done_ > 0 && rate > 0) {
    if (rate >= 1.0)
      std::snprintf(buffer, sizeof buffer, "  %.1f it/s", rate);
    else
      std::snprintf(buffer, sizeof buffer, "  %.2f s/it", 1.0 / rate);
    os << buffer;
  }
  os << "  elapsed " << format_duration(elapsed);
  if (done_ < total_)
    os << "  ETA " << (done_ > 0 && rate > 0 ? format_duration((total_ - done_) / rate) : "--:--");
  if (!std::isnan(loss_)) {
    std::snprintf(buffer, sizeof buffer, "  loss %.4g", loss_);
    os << buffer;
  }
  return os.str();
}

void Progress::print(bool final_line) {
  if (interactive_) {
    *out_ << "\r" << line() << "\033[K" << (final_line ? "\n" : "") << std::flush;
  } else {
    *out_ << line() << "\n" << std::flush;
  }
}

void Progress::update(int64_t done, double loss) {
  done_ = std::min(std::max<int64_t>(done, 0), total_);
  if (!std::isnan(loss)) loss_ = loss;
  if (finished_) return;
  if (interactive_) {
    auto now = std::chrono::steady_clock::now();
    if (done_ == total_ || std::chrono::duration<double>(now - last_draw_).count() >= 0.1) {
      last_draw_ = now;
      print(false);
    }
  } else if (done_ < total_ && done_ * 100 >= next_percent_ * total_) {
    print(false);
    while (next_percent_ * total_ <= done_ * 100) next_percent_ += every_percent_;
  }
}

void Progress::note(const std::string& text, std::ostream* text_out) {
  std::ostream& target = text_out ? *text_out : std::cout;
  if (interactive_ && !finished_) *out_ << "\r\033[K" << std::flush;  // clear the progress line
  target << text << "\n" << std::flush;
  if (interactive_ && !finished_ && done_ > 0) print(false);  // and draw it again below
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  print(true);
}

}  // namespace diffusion
}  // namespace drift
