// plot.h — line plots (and scatter and arrow plots) written as SVG files, styled after matplotlib's
// defaults (white background, the tab10 colour cycle, a sans-serif font, outward tick marks, a
// framed legend), so a loss curve or a schedule opens in any browser and looks like the lecture's
// figures.
//
//   LinePlot plot;
//   plot.title = "Training loss";
//   plot.xlabel = "iteration";
//   plot.ylabel = "MSE";
//   plot.log_y = true;
//   plot.add("loss", losses);                       // x = 0, 1, 2, ...
//   plot.save(out_dir + "/loss.svg");
//
//   Figure figure(1, 2);                            // two panels side by side
//   figure.title = "Noise schedules, T = 1000";
//   figure.panel(0).add("linear", t, beta_linear);  // ... and so on
//   figure.save("schedules.svg");
//
// Points that are not finite (or not positive on a log axis) are skipped and break the line,
// so a diverged loss leaves a gap instead of a broken picture.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

struct Series {
  std::string name;  // shown in the legend (leave empty to keep a series out of it)
  std::vector<double> x, y;
  std::string color;         // any SVG colour; empty = the next tab10 colour
  bool markers = false;      // a dot on every point
  double marker_size = 3.0;  // the dots' radius, in points
  bool line = true;          // false: the dots only (a scatter plot; set markers too)
  bool dashed = false;
  double line_width = 1.5;  // in points, like matplotlib (1 pt = 100/72 px)
  // A vector field (matplotlib's quiver) when not empty: an arrow from each (x[i], y[i]) to
  // (x[i] + dx[i], y[i] + dy[i]), in data units, instead of a line. Same length as x.
  std::vector<double> dx, dy;
};

enum class LegendLocation { Best, UpperRight, UpperLeft, LowerLeft, LowerRight, None };

struct LinePlot {
  std::string title, xlabel, ylabel;
  bool log_y = false;  // logarithmic y axis (decades labelled 10^k, minor ticks at 2..9)
  bool grid = false;   // light grid lines at the major ticks
  LegendLocation legend = LegendLocation::Best;  // Best: the corner covering fewest points
  // Fixed axis limits; unset = the data's range plus a 5% margin (matplotlib's autoscale).
  std::optional<double> x_min, x_max, y_min, y_max;
  std::vector<Series> series;

  // Adds a series and returns it, to set its style (markers, colour, ...).
  Series& add(const std::string& name, std::vector<double> x, std::vector<double> y);
  Series& add(const std::string& name, std::vector<double> y);  // x = 0, 1, ..., n-1
  Series& add(const std::string& name, const std::vector<float>& y);
  Series& add(const std::string& name, std::initializer_list<double> y);  // add("a", {1, 2})
  Series& add(const std::string& name, const Tensor& y);  // a 1-D tensor, any device
  // A scatter plot of the points (x[i], y[i]): dots, no line.
  Series& add_points(const std::string& name, std::vector<double> x, std::vector<double> y);
  // Arrows from (x[i], y[i]) by (dx[i], dy[i]) (a quiver plot of a vector field).
  Series& add_arrows(const std::string& name, std::vector<double> x, std::vector<double> y,
                     std::vector<double> dx, std::vector<double> dy);

  // The whole figure as an SVG document of width x height pixels.
  std::string svg(int width = 640, int height = 480) const;
  // Writes svg() to `path` (atomically); throws naming the path when it cannot.
  void save(const std::string& path, int width = 640, int height = 480) const;
};

// Several LinePlots in a grid of rows x cols panels, with an optional overall title.
class Figure {
 public:
  Figure(int rows, int cols);
  LinePlot& panel(int index);  // row-major: panel(1) is row 0, column 1 when cols > 1
  LinePlot& panel(int row, int col) { return panel(row * cols_ + col); }
  std::string title;

  std::string svg(int panel_width = 480, int panel_height = 360) const;
  void save(const std::string& path, int panel_width = 480, int panel_height = 360) const;

 private:
  int rows_, cols_;
  std::vector<LinePlot> panels_;
};

// ---- training curves -------------------------------------------------------------------------

// The trailing moving average: point i is the mean of values[max(0, i-window+1) .. i] (fewer
// values at the start; values that are not finite are left out, and a window without any
// gives NaN). Smooths a noisy per-iteration loss without shifting its start.
std::vector<double> moving_average(const std::vector<double>& values, int64_t window);

// A training-loss plot: the loss of every iteration as a thin light line and its moving
// average over `window` iterations as a bold one, on a log-y axis (losses fall by decades),
// x = iteration (counting from 0).
LinePlot loss_plot(const std::vector<double>& losses, int64_t window, const std::string& title);

// The tab10 colour cycle ("#1f77b4", "#ff7f0e", ...), index taken modulo 10.
const char* tab10(int index);

}  // namespace diffusion
}  // namespace drift
