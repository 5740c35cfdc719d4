// progress.h — a progress line for long loops (training, sampling), like tqdm:
//
//   training   340/1000 [ 34%]  41.2 it/s  elapsed 00:08  ETA 00:16  loss 0.0412
//
// On a terminal the line is redrawn in place (at most ten times a second); when the output
// is a file or a pipe (CI logs, CTest) a new line is printed every `every_percent` percent
// instead, so logs stay short.
//
//   Progress progress("training", iterations);
//   for (int64_t it = 0; it < iterations; ++it) {
//     ...
//     progress.step(loss.item());
//   }
//   progress.finish();
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <string>

namespace drift {
namespace diffusion {

class Progress {
 public:
  // Writes to `out` (std::cerr when null). `interactive`: redraw in place; by default true
  // exactly when `out` is std::cerr or std::cout and that stream is a terminal.
  Progress(std::string label, int64_t total, int every_percent = 10, std::ostream* out = nullptr);
  Progress(std::string label, int64_t total, int every_percent, std::ostream* out,
           bool interactive);

  // `done` iterations are complete; `loss` (NaN = none) is shown with the line.
  void update(int64_t done, double loss = NAN_LOSS);
  void step(double loss = NAN_LOSS) { update(done_ + 1, loss); }
  // Prints the final line (with the total time) once; called by the destructor if needed.
  void finish();
  // Prints one line of text (a log line: "iteration 100  loss 0.21") on `text_out` without
  // breaking the progress line: on a terminal the line is cleared first and redrawn after.
  void note(const std::string& text, std::ostream* text_out = nullptr);
  ~Progress();

  double elapsed_seconds() const;
  int64_t done() const { return done_; }
  // The text of the line for the current state (what update() prints).
  std::string line() const;

  static constexpr double NAN_LOSS = std::numeric_limits<double>::quiet_NaN();

 private:
  void print(bool final_line);
  std::string label_;
  int64_t total_, done_ = 0;
  int every_percent_;
  std::ostream* out_;
  bool interactive_, finished_ = false;
  double loss_ = NAN_LOSS;
  int next_percent_ = 0;  // non-interactive: the next percentage that prints a line
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "01:05", or "1:02:03" past an hour.
std::string format_duration(double seconds);

}  // namespace diffusion
}  // namespace drift
