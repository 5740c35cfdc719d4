// plot.cpp — the SVG writer behind LinePlot and Figure.
//
// Sizes follow matplotlib's defaults at 100 dpi: 10 pt text (13.9 px), a 12 pt title, 0.8 pt
// spines, 3.5 pt outward ticks, 1.5 pt lines, a legend with a light grey rounded frame. Each
// panel is laid out in four steps: margins from the text around the axes, the axis ranges
// (data + 5% margins), "nice" ticks (steps of 1, 2, 2.5 or 5 times a power of ten, or
// decades on a log axis), then the lines, clipped to the axes, and the legend.
#include "diffusion/tools/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <sstream>

#include "tensor/error.h"
#include "tensor/io/safetensors.h"

namespace drift {
namespace diffusion {

const char* tab10(int index) {
  static const char* colors[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return colors[((index % 10) + 10) % 10];
}

// ---- LinePlot: adding series -----------------------------------------------------------------

Series& LinePlot::add(const std::string& name, std::vector<double> x, std::vector<double> y) {
  DRIFT_CHECK(x.size() == y.size(), "plot: series '" << name << "' has " << x.size()
                                                     << " x values but " << y.size()
                                                     << " y values");
  Series s;
  s.name = name;
  s.x = std::move(x);
  s.y = std::move(y);
  series.push_back(std::move(s));
  return series.back();
}

Series& LinePlot::add_points(const std::string& name, std::vector<double> x,
                             std::vector<double> y) {
  Series& s = add(name, std::move(x), std::move(y));
  s.line = false;
  s.markers = true;
  return s;
}

Series& LinePlot::add_arrows(const std::string& name, std::vector<double> x, std::vector<double> y,
                             std::vector<double> dx, std::vector<double> dy) {
  DRIFT_CHECK(dx.size() == x.size() && dy.size() == x.size(),
              "plot: arrows '" << name << "' have " << x.size() << " points but " << dx.size()
                               << " dx and " << dy.size() << " dy values");
  Series& s = add(name, std::move(x), std::move(y));
  s.dx = std::move(dx);
  s.dy = std::move(dy);
  s.line_width = 1.0;
  return s;
}

Series& LinePlot::add(const std::string& name, std::vector<double> y) {
  std::vector<double> x(y.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i);
  return add(name, std::move(x), std::move(y));
}

Series& LinePlot::add(const std::string& name, const std::vector<float>& y) {
  return add(name, std::vector<double>(y.begin(), y.end()));
}

Series& LinePlot::add(const std::string& name, std::initializer_list<double> y) {
  return add(name, std::vector<double>(y));
}

Series& LinePlot::add(const std::string& name, const Tensor& y) {
  DRIFT_CHECK(y.defined() && y.ndim() == 1, "plot: series '"
                                                << name << "' must be a 1-D tensor, got "
                                                << (y.defined() ? describe(y) : "undefined"));
  return add(name, y.to_vector());
}

namespace {

// ---- text and numbers -------------------------------------------------------------------------

constexpr double kPt = 100.0 / 72.0;  // pixels per point at 100 dpi
constexpr double kFont = 10.0 * kPt;  // tick labels, axis labels, legend
constexpr double kTitleFont = 12.0 * kPt;
constexpr double kTickLength = 3.5 * kPt;
constexpr double kTickPad = 3.5 * kPt;   // between a tick and its label
constexpr double kLabelPad = 4.0 * kPt;  // between tick labels and the axis label
constexpr const char* kFontFamily =
    "DejaVu Sans, Bitstream Vera Sans, Helvetica, Arial, sans-serif";

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Coordinates with two decimals: plenty for a screen, and short files.
std::string num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  std::string s = buffer;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

// Approximate width of text in pixels: DejaVu Sans digits are 0.64 em wide, letters about
// 0.6 em on average, the minus sign 0.84 em. UTF-8 continuation bytes are not characters.
double text_width(const std::string& text, double font_size) {
  double ems = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) == 0x80) continue;
    ems += c == '-' || text.compare(i, 3, "\xE2\x88\x92") == 0 ? 0.84 : 0.63;
  }
  return ems * font_size;
}

// Matplotlib writes minus signs as U+2212, which is as wide as the plus sign.
std::string with_unicode_minus(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '-')
      out += "\xE2\x88\x92";
    else
      out += c;
  }
  return out;
}

// ---- ticks --------------------------------------------------------------------------------

struct Tick {
  double value;
  std::string label;   // SVG-ready (may contain a <tspan> for an exponent)
  double label_width;  // estimated, px
  bool major = true;
};

struct Axis {
  double lo = 0, hi = 1;  // the view limits (data units)
  bool log = false;
  std::vector<Tick> ticks;
  std::string offset_label;             // "×10^k" when the labels are scaled, as matplotlib does
  double to_fraction(double v) const {  // 0 at lo, 1 at hi
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
};

// Decimals needed to print multiples of `step` exactly (0.25 -> 2, 5 -> 0).
int decimals_for(double step) {
  for (int d = 0; d <= 12; ++d) {
    double scaled = step * std::pow(10.0, d);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * scaled) return d;
  }
  return 12;
}

std::string superscript_power_of_ten(int exponent) {
  return "10<tspan dy=\"-0.45em\" font-size=\"70%\">" +
         with_unicode_minus(std::to_string(exponent)) + "</tspan>";
}

// Ticks at multiples of a nice step (1, 2, 2.5, 5 x 10^k) inside [lo, hi], at most
// max_ticks + 1 of them: matplotlib's MaxNLocator.
void linear_ticks(Axis& axis, int max_bins) {
  const double span = axis.hi - axis.lo;
  const double raw = span / std::max(max_bins, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10.0 * magnitude;
  for (double nice : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (nice * magnitude >= raw * (1 - 1e-9)) {
      step = nice * magnitude;
      break;
    }
  const double first = std::ceil(axis.lo / step - 1e-9), last = std::floor(axis.hi / step + 1e-9);
  std::vector<double> values;
  for (double k = first; k <= last; k += 1.0) {
    double v = k * step;
    if (std::fabs(v) < step * 1e-9) v = 0.0;
    values.push_back(v);
  }
  // Very large or very small numbers: print mantissas and put ×10^k at the axis end.
  double largest = 0;
  for (double v : values) largest = std::max(largest, std::fabs(v));
  int exponent = 0;
  if (largest > 0 && (largest >= 1e5 || largest < 1e-3))
    exponent = static_cast<int>(std::floor(std::log10(largest)));
  const double scale = std::pow(10.0, -exponent);
  const int decimals = decimals_for(step * scale);
  axis.ticks.clear();
  for (double v : values) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v * scale);
    std::string text = buffer;
    if (text.find_first_not_of("-0.") == std::string::npos)
      text = decimals ? text.substr(text[0] == '-') : "0";
    axis.ticks.push_back({v, escape(with_unicode_minus(text)), text_width(text, kFont), true});
  }
  axis.offset_label = exponent ? "×" + superscript_power_of_ten(exponent) : "";
}

// Decades 10^k labelled, 2..9 x 10^k as unlabelled minor ticks. When fewer than two decades
// fall inside the range, the 2 and 5 minor ticks get plain labels too, so the axis is readable.
void log_ticks(Axis& axis, int max_labels) {
  const int k_lo = static_cast<int>(std::floor(std::log10(axis.lo))) - 1;
  const int k_hi = static_cast<int>(std::ceil(std::log10(axis.hi))) + 1;
  int decades_inside = 0;
  for (int k = k_lo; k <= k_hi; ++k) {
    double v = std::pow(10.0, k);
    if (v >= axis.lo * (1 - 1e-9) && v <= axis.hi * (1 + 1e-9)) ++decades_inside;
  }
  const int stride = std::max(1, (decades_inside + max_labels - 1) / std::max(max_labels, 1));
  axis.ticks.clear();
  axis.offset_label.clear();
  auto inside = [&](double v) { return v >= axis.lo * (1 - 1e-9) && v <= axis.hi * (1 + 1e-9); };
  for (int k = k_lo; k <= k_hi; ++k) {
    double decade = std::pow(10.0, k);
    if (inside(decade) && (k % stride) == 0) {
      double width = text_width("10", kFont) + text_width(std::to_string(k), kFont * 0.7);
      axis.ticks.push_back({decade, superscript_power_of_ten(k), width, true});
    }
    if (stride > 1) continue;
    for (int m = 2; m <= 9; ++m) {
      double v = m * decade;
      if (!inside(v)) continue;
      if (decades_inside < 2 && (m == 2 || m == 5)) {
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, "%.*f", std::max(0, -k), v);
        axis.ticks.push_back({v, buffer, text_width(buffer, kFont), true});
      } else {
        axis.ticks.push_back({v, "", 0.0, false});
      }
    }
  }
}

// ---- one panel --------------------------------------------------------------------------------

struct Rect {
  double x, y, w, h;
};

bool usable(double x, double y, bool log_y) {
  return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0);
}

// The data range of every usable point, widened by 5% each side (in log space on a log
// axis); a flat range gets a small window around its value.
void autoscale(const LinePlot& plot, Axis& x_axis, Axis& y_axis) {
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  auto include = [&](double x, double y) {
    if (!usable(x, y, plot.log_y)) return;
    x_lo = std::min(x_lo, x);
    x_hi = std::max(x_hi, x);
    y = plot.log_y ? std::log10(y) : y;
    y_lo = std::min(y_lo, y);
    y_hi = std::max(y_hi, y);
  };
  for (const Series& s : plot.series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s.x[i], s.y[i], plot.log_y)) continue;
      include(s.x[i], s.y[i]);
      if (!s.dx.empty()) include(s.x[i] + s.dx[i], s.y[i] + s.dy[i]);  // an arrow's tip
    }
  if (!(x_lo <= x_hi)) x_lo = 0, x_hi = 1;  // no data at all
  if (!(y_lo <= y_hi)) y_lo = 0, y_hi = 1;
  auto widen = [](double& lo, double& hi) {
    if (hi - lo <= 1e-12 * std::max(std::fabs(lo), 1.0)) {
      double pad = std::max(std::fabs(lo) * 0.05, 0.05);
      lo -= pad, hi += pad;
    } else {
      double pad = 0.05 * (hi - lo);
      lo -= pad, hi += pad;
    }
  };
  widen(x_lo, x_hi);
  widen(y_lo, y_hi);
  if (plot.log_y) y_lo = std::pow(10.0, y_lo), y_hi = std::pow(10.0, y_hi);
  x_axis.lo = plot.x_min.value_or(x_lo);
  x_axis.hi = plot.x_max.value_or(x_hi);
  y_axis.lo = plot.y_min.value_or(y_lo);
  y_axis.hi = plot.y_max.value_or(y_hi);
  DRIFT_CHECK(x_axis.hi > x_axis.lo && y_axis.hi > y_axis.lo,
              "plot '" << plot.title << "': empty axis range (x " << x_axis.lo << ".." << x_axis.hi
                       << ", y " << y_axis.lo << ".." << y_axis.hi << ")");
  DRIFT_CHECK(
      !plot.log_y || y_axis.lo > 0,
      "plot '" << plot.title << "': a log y axis needs positive limits, got y_min " << y_axis.lo);
}

// Douglas-Peucker: drops points closer than `tolerance` px to the line through their
// neighbours, so a 1000-point straight line is stored as 2 points.
void simplify(const std::vector<std::pair<double, double>>& points, size_t first, size_t last,
              double tolerance, std::vector<bool>& keep) {
  if (last <= first + 1) return;
  const double x0 = points[first].first, y0 = points[first].second;
  const double dx = points[last].first - x0, dy = points[last].second - y0;
  const double length = std::hypot(dx, dy);
  double worst = -1;
  size_t worst_i = first;
  for (size_t i = first + 1; i < last; ++i) {
    double px = points[i].first - x0, py = points[i].second - y0;
    double d = length > 0 ? std::fabs(px * dy - py * dx) / length : std::hypot(px, py);
    if (d > worst) worst = d, worst_i = i;
  }
  if (worst > tolerance) {
    keep[worst_i] = true;
    simplify(points, first, worst_i, tolerance, keep);
    simplify(points, worst_i, last, tolerance, keep);
  }
}

struct LegendBox {
  Rect rect;
  double row_height, line_length, text_x;
};

void render_panel(const LinePlot& plot, const Rect& cell, int panel_id, std::ostringstream& svg) {
  // 1. Margins from the text around the axes.
  const double title_space =
      plot.title.empty() ? 0.06 * cell.h : kTitleFont * 1.2 + 6 * kPt + 0.03 * cell.h;
  const double xlabel_space = plot.xlabel.empty() ? 0 : kFont * 1.2 + kLabelPad;
  const double ylabel_space = plot.ylabel.empty() ? 0 : kFont * 1.2 + kLabelPad;
  const double bottom_margin = kTickLength + kTickPad + kFont * 1.2 + xlabel_space + 0.04 * cell.h;
  Rect axes;
  axes.y = cell.y + title_space;
  axes.h = cell.h - title_space - bottom_margin;

  // 2. Ranges, then y ticks (their label widths decide the left margin), then x ticks.
  Axis x_axis, y_axis;
  autoscale(plot, x_axis, y_axis);
  y_axis.log = plot.log_y;
  const int y_bins = std::max(3, std::min(9, static_cast<int>(axes.h / (kFont * 2.5))));
  if (y_axis.log)
    log_ticks(y_axis, y_bins);
  else
    linear_ticks(y_axis, y_bins);
  double widest_y_label = 0;
  for (const Tick& t : y_axis.ticks) widest_y_label = std::max(widest_y_label, t.label_width);
  const double left_margin = 0.04 * cell.w + ylabel_space + widest_y_label + kTickPad + kTickLength;
  const double right_margin = 0.05 * cell.w;
  axes.x = cell.x + left_margin;
  axes.w = cell.w - left_margin - right_margin;
  DRIFT_CHECK(axes.w > 20 && axes.h > 20, "plot '" << plot.title << "': the figure is too small ("
                                                   << cell.w << "x" << cell.h << " px)");
  // x tick labels must not touch: fewer bins until the widest label fits its slot.
  for (int x_bins = std::max(3, std::min(9, static_cast<int>(axes.w / (kFont * 3)))); x_bins >= 2;
       --x_bins) {
    linear_ticks(x_axis, x_bins);
    double widest = 0;
    for (const Tick& t : x_axis.ticks) widest = std::max(widest, t.label_width);
    double slot = x_axis.ticks.size() > 1 ? axes.w / (x_axis.hi - x_axis.lo) *
                                                (x_axis.ticks[1].value - x_axis.ticks[0].value)
                                          : axes.w;
    if (widest + kFont < slot) break;
  }

  auto px = [&](double x) { return axes.x + x_axis.to_fraction(x) * axes.w; };
  auto py = [&](double y) { return axes.y + axes.h - y_axis.to_fraction(y) * axes.h; };

  svg << "<g class=\"panel\">\n";
  svg << "<clipPath id=\"axes-clip-" << panel_id << "\"><rect x=\"" << num(axes.x) << "\" y=\""
      << num(axes.y) << "\" width=\"" << num(axes.w) << "\" height=\"" << num(axes.h)
      << "\"/></clipPath>\n";

  // 3. Grid (optional), ticks and tick labels.
  const double spine = 0.8 * kPt;
  if (plot.grid) {
    svg << "<g stroke=\"#b0b0b0\" stroke-width=\"" << num(spine) << "\" stroke-opacity=\"0.5\">\n";
    for (const Tick& t : x_axis.ticks)
      svg << "<line x1=\"" << num(px(t.value)) << "\" y1=\"" << num(axes.y) << "\" x2=\""
          << num(px(t.value)) << "\" y2=\"" << num(axes.y + axes.h) << "\"/>\n";
    for (const Tick& t : y_axis.ticks)
      if (t.major)
        svg << "<line x1=\"" << num(axes.x) << "\" y1=\"" << num(py(t.value)) << "\" x2=\""
            << num(axes.x + axes.w) << "\" y2=\"" << num(py(t.value)) << "\"/>\n";
    svg << "</g>\n";
  }
  svg << "<g stroke=\"#000\" stroke-width=\"" << num(spine) << "\">\n";
  for (const Tick& t : x_axis.ticks)
    svg << "<line x1=\"" << num(px(t.value)) << "\" y1=\"" << num(axes.y + axes.h) << "\" x2=\""
        << num(px(t.value)) << "\" y2=\"" << num(axes.y + axes.h + kTickLength) << "\"/>\n";
  for (const Tick& t : y_axis.ticks) {
    double length = t.major ? kTickLength : kTickLength * 0.57;  // minor ticks: 2 pt
    svg << "<line x1=\"" << num(axes.x - length) << "\" y1=\"" << num(py(t.value)) << "\" x2=\""
        << num(axes.x) << "\" y2=\"" << num(py(t.value)) << "\""
        << (t.major ? "" : " stroke-width=\"0.8\"") << "/>\n";
  }
  svg << "</g>\n";
  svg << "<g font-size=\"" << num(kFont) << "\" fill=\"#000\">\n";
  for (const Tick& t : x_axis.ticks)
    svg << "<text x=\"" << num(px(t.value)) << "\" y=\""
        << num(axes.y + axes.h + kTickLength + kTickPad + kFont * 0.8)
        << "\" text-anchor=\"middle\">" << t.label << "</text>\n";
  for (const Tick& t : y_axis.ticks)
    if (!t.label.empty())
      svg << "<text x=\"" << num(axes.x - kTickLength - kTickPad) << "\" y=\""
          << num(py(t.value) + kFont * 0.35) << "\" text-anchor=\"end\">" << t.label << "</text>\n";
  if (!y_axis.offset_label.empty())
    svg << "<text x=\"" << num(axes.x) << "\" y=\"" << num(axes.y - 4) << "\">"
        << y_axis.offset_label << "</text>\n";
  if (!x_axis.offset_label.empty())
    svg << "<text x=\"" << num(axes.x + axes.w) << "\" y=\""
        << num(axes.y + axes.h + kTickLength + kTickPad + kFont * 2.0) << "\" text-anchor=\"end\">"
        << x_axis.offset_label << "</text>\n";
  // Axis labels and title.
  if (!plot.xlabel.empty())
    svg << "<text x=\"" << num(axes.x + axes.w / 2) << "\" y=\""
        << num(axes.y + axes.h + kTickLength + kTickPad + kFont * 1.2 + kLabelPad + kFont * 0.8)
        << "\" text-anchor=\"middle\">" << escape(plot.xlabel) << "</text>\n";
  if (!plot.ylabel.empty()) {
    double x = axes.x - kTickLength - kTickPad - widest_y_label - kLabelPad - kFont * 0.25;
    double y = axes.y + axes.h / 2;
    svg << "<text transform=\"translate(" << num(x) << "," << num(y) << ") rotate(-90)\""
        << " text-anchor=\"middle\">" << escape(plot.ylabel) << "</text>\n";
  }
  svg << "</g>\n";
  if (!plot.title.empty())
    svg << "<text x=\"" << num(axes.x + axes.w / 2) << "\" y=\"" << num(axes.y - 6 * kPt)
        << "\" font-size=\"" << num(kTitleFont) << "\" text-anchor=\"middle\">"
        << escape(plot.title) << "</text>\n";

  // 4. The lines, clipped to the axes: one <path> per series, broken at unusable points.
  std::vector<std::pair<double, double>> every_pixel;  // for choosing the legend corner
  for (size_t si = 0; si < plot.series.size(); ++si) {
    const Series& s = plot.series[si];
    const std::string color = s.color.empty() ? tab10(static_cast<int>(si)) : s.color;
    if (!s.dx.empty()) {  // a quiver: one shaft and a two-stroke head per arrow, in pixels
      svg << "<g class=\"series\" clip-path=\"url(#axes-clip-" << panel_id << ")\"><title>"
          << escape(s.name) << "</title>\n<path fill=\"none\" stroke=\"" << escape(color)
          << "\" stroke-width=\"" << num(s.line_width * kPt) << "\" stroke-linecap=\"round\" d=\"";
      for (size_t i = 0; i < s.x.size(); ++i) {
        const double tip_x = s.x[i] + s.dx[i], tip_y = s.y[i] + s.dy[i];
        if (!usable(s.x[i], s.y[i], plot.log_y) || !usable(tip_x, tip_y, plot.log_y)) continue;
        const double x0 = px(s.x[i]), y0 = py(s.y[i]), x1 = px(tip_x), y1 = py(tip_y);
        const double length = std::hypot(x1 - x0, y1 - y0);
        svg << " M" << num(x0) << "," << num(y0) << " L" << num(x1) << "," << num(y1);
        every_pixel.push_back({x0, y0});
        if (length < 1e-9) continue;
        const double head = std::min(4.0, 0.4 * length), ux = (x1 - x0) / length,
                     uy = (y1 - y0) / length;  // the head: two strokes at ±30° back from the tip
        for (double side : {-1.0, 1.0})
          svg << " M" << num(x1 - head * (0.866 * ux - side * 0.5 * uy)) << ","
              << num(y1 - head * (0.866 * uy + side * 0.5 * ux)) << " L" << num(x1) << ","
              << num(y1);
      }
      svg << "\"/>\n</g>\n";
      continue;
    }
    std::vector<std::vector<std::pair<double, double>>> runs(1);
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s.x[i], s.y[i], plot.log_y)) {
        if (!runs.back().empty()) runs.emplace_back();
        continue;
      }
      runs.back().push_back({px(s.x[i]), py(s.y[i])});
    }
    std::ostringstream d;
    for (const auto& run : runs) {
      if (run.empty()) continue;
      // Points along the line every few pixels, so the legend avoids lines, not only vertices.
      for (size_t i = 0; i < run.size(); ++i) {
        every_pixel.push_back(run[i]);
        if (i + 1 < run.size()) {
          double length =
              std::hypot(run[i + 1].first - run[i].first, run[i + 1].second - run[i].second);
          for (double f = 4.0; f < length; f += 4.0)
            every_pixel.push_back(
                {run[i].first + (run[i + 1].first - run[i].first) * f / length,
                 run[i].second + (run[i + 1].second - run[i].second) * f / length});
        }
      }
      std::vector<bool> keep(run.size(), false);
      keep.front() = keep.back() = true;
      simplify(run, 0, run.size() - 1, 0.1, keep);
      bool first = true;
      for (size_t i = 0; i < run.size(); ++i) {
        if (!keep[i]) continue;
        d << (first ? "M" : " L") << num(run[i].first) << "," << num(run[i].second);
        first = false;
      }
      if (run.size() == 1) d << " l0,0";  // a lone point still shows with round caps
    }
    svg << "<g class=\"series\" clip-path=\"url(#axes-clip-" << panel_id << ")\"><title>"
        << escape(s.name) << "</title>\n";
    if (s.line)
      svg << "<path fill=\"none\" stroke=\"" << escape(color) << "\" stroke-width=\""
          << num(s.line_width * kPt) << "\" stroke-linejoin=\"round\" stroke-linecap=\"round\""
          << (s.dashed ? " stroke-dasharray=\"" + num(3.7 * s.line_width * kPt) + "," +
                             num(1.6 * s.line_width * kPt) + "\""
                       : "")
          << " d=\"" << d.str() << "\"/>\n";
    if (s.markers) {
      svg << "<g fill=\"" << escape(color) << "\">";
      for (const auto& run : runs)
        for (const auto& p : run)
          svg << "<circle cx=\"" << num(p.first) << "\" cy=\"" << num(p.second) << "\" r=\""
              << num(s.marker_size * kPt) << "\"/>";
      svg << "</g>\n";
    }
    svg << "</g>\n";
  }

  // Spines on top of the lines, like matplotlib.
  svg << "<rect x=\"" << num(axes.x) << "\" y=\"" << num(axes.y) << "\" width=\"" << num(axes.w)
      << "\" height=\"" << num(axes.h) << "\" fill=\"none\" stroke=\"#000\" stroke-width=\""
      << num(spine) << "\" stroke-linejoin=\"miter\"/>\n";

  // 5. The legend, in the requested corner or the one covering the fewest line pixels.
  std::vector<const Series*> entries;
  for (const Series& s : plot.series)
    if (!s.name.empty()) entries.push_back(&s);
  if (plot.legend != LegendLocation::None && !entries.empty()) {
    const double pad = 0.4 * kFont, line_length = 2.0 * kFont, gap = 0.8 * kFont;
    const double row = kFont * 1.25;
    double widest = 0;
    for (const Series* s : entries) widest = std::max(widest, text_width(s->name, kFont));
    const double w = pad * 2 + line_length + gap + widest,
                 h = pad * 2 + row * static_cast<double>(entries.size());
    const double inset = 0.5 * kFont;
    auto corner = [&](LegendLocation where) {
      switch (where) {
        case LegendLocation::UpperLeft:
          return Rect{axes.x + inset, axes.y + inset, w, h};
        case LegendLocation::LowerLeft:
          return Rect{axes.x + inset, axes.y + axes.h - inset - h, w, h};
        case LegendLocation::LowerRight:
          return Rect{axes.x + axes.w - inset - w, axes.y + axes.h - inset - h, w, h};
        default:
          return Rect{axes.x + axes.w - inset - w, axes.y + inset, w, h};
      }
    };
    Rect box = corner(plot.legend);
    if (plot.legend == LegendLocation::Best) {
      size_t fewest = std::numeric_limits<size_t>::max();
      for (LegendLocation where : {LegendLocation::UpperRight, LegendLocation::UpperLeft,
                                   LegendLocation::LowerLeft, LegendLocation::LowerRight}) {
        Rect r = corner(where);
        size_t covered = 0;
        for (const auto& p : every_pixel)
          if (p.first >= r.x && p.first <= r.x + r.w && p.second >= r.y && p.second <= r.y + r.h)
            ++covered;
        if (covered < fewest) fewest = covered, box = r;
      }
    }
    svg << "<g class=\"legend\" font-size=\"" << num(kFont) << "\">\n";
    svg << "<rect x=\"" << num(box.x) << "\" y=\"" << num(box.y) << "\" width=\"" << num(box.w)
        << "\" height=\"" << num(box.h) << "\" rx=\"" << num(0.2 * kFont)
        << "\" fill=\"#fff\" fill-opacity=\"0.8\" stroke=\"#ccc\" stroke-width=\"" << num(spine)
        << "\"/>\n";
    for (size_t i = 0; i < entries.size(); ++i) {
      const Series& s = *entries[i];
      size_t index = static_cast<size_t>(&s - plot.series.data());
      const std::string color = s.color.empty() ? tab10(static_cast<int>(index)) : s.color;
      double y = box.y + pad + row * (static_cast<double>(i) + 0.5);
      if (s.line)  // scatter series show only their dot
        svg << "<line x1=\"" << num(box.x + pad) << "\" y1=\"" << num(y) << "\" x2=\""
            << num(box.x + pad + line_length) << "\" y2=\"" << num(y) << "\" stroke=\""
            << escape(color) << "\" stroke-width=\"" << num(s.line_width * kPt) << "\""
            << (s.dashed ? " stroke-dasharray=\"" + num(3.7 * s.line_width * kPt) + "," +
                               num(1.6 * s.line_width * kPt) + "\""
                         : "")
            << "/>";
      if (s.markers)
        svg << "<circle cx=\"" << num(box.x + pad + line_length / 2) << "\" cy=\"" << num(y)
            << "\" r=\"" << num(s.marker_size * kPt) << "\" fill=\"" << escape(color) << "\"/>";
      svg << "<text x=\"" << num(box.x + pad + line_length + gap) << "\" y=\""
          << num(y + kFont * 0.35) << "\">" << escape(s.name) << "</text>\n";
    }
    svg << "</g>\n";
  }
  svg << "</g>\n";
}

std::string svg_document(int width, int height, const std::string& body) {
  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"" << kFontFamily
      << "\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
      << body << "</svg>\n";
  return svg.str();
}

void check_size(int width, int height, const char* what) {
  DRIFT_CHECK(width >= 100 && height >= 80 && width <= 20000 && height <= 20000,
              what << ": a size of " << width << "x" << height
                   << " px is not sensible (100x80 to 20000x20000)");
}

}  // namespace

// ---- LinePlot and Figure output ---------------------------------------------------------------

std::string LinePlot::svg(int width, int height) const {
  check_size(width, height, "plot");
  std::ostringstream body;
  render_panel(*this, Rect{0, 0, static_cast<double>(width), static_cast<double>(height)}, 0, body);
  return svg_document(width, height, body.str());
}

void LinePlot::save(const std::string& path, int width, int height) const {
  write_file_atomically(path, svg(width, height));
}

Figure::Figure(int rows, int cols) : rows_(rows), cols_(cols) {
  DRIFT_CHECK(rows >= 1 && cols >= 1 && rows * cols <= 64,
              "Figure: a grid of " << rows << "x" << cols << " panels is not supported (1 to 64)");
  panels_.resize(static_cast<size_t>(rows * cols));
}

LinePlot& Figure::panel(int index) {
  DRIFT_CHECK(index >= 0 && index < rows_ * cols_,
              "Figure: panel " << index << " does not exist (the figure has " << rows_ * cols_
                               << " panels)");
  return panels_[static_cast<size_t>(index)];
}

std::string Figure::svg(int panel_width, int panel_height) const {
  check_size(panel_width, panel_height, "Figure panel");
  const double title_height = title.empty() ? 0.0 : kTitleFont * 2.2;
  const int width = panel_width * cols_;
  const int height = panel_height * rows_ + static_cast<int>(std::ceil(title_height));
  std::ostringstream body;
  if (!title.empty())
    body << "<text x=\"" << num(width / 2.0) << "\" y=\"" << num(kTitleFont * 1.4)
         << "\" font-size=\"" << num(kTitleFont) << "\" text-anchor=\"middle\">" << escape(title)
         << "</text>\n";
  for (int r = 0; r < rows_; ++r)
    for (int c = 0; c < cols_; ++c)
      render_panel(panels_[static_cast<size_t>(r * cols_ + c)],
                   Rect{static_cast<double>(c * panel_width),
                        title_height + static_cast<double>(r * panel_height),
                        static_cast<double>(panel_width), static_cast<double>(panel_height)},
                   r * cols_ + c, body);
  return svg_document(width, height, body.str());
}

void Figure::save(const std::string& path, int panel_width, int panel_height) const {
  write_file_atomically(path, svg(panel_width, panel_height));
}

// ---- training curves ---------------------------------------------------------------------------

std::vector<double> moving_average(const std::vector<double>& values, int64_t window) {
  DRIFT_CHECK(window >= 1, "moving_average: window must be >= 1, got " << window);
  const size_t w = static_cast<size_t>(window);
  std::vector<double> out(values.size());
  double sum = 0.0;  // of the finite values inside the window
  size_t count = 0;  // how many there are (missing values, NaN, are left out)
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) sum += values[i], ++count;
    if (i >= w && std::isfinite(values[i - w])) sum -= values[i - w], --count;
    out[i] = count > 0 ? sum / static_cast<double>(count) : std::nan("");
  }
  return out;
}

LinePlot loss_plot(const std::vector<double>& losses, int64_t window, const std::string& title) {
  LinePlot plot;
  plot.title = title;
  plot.xlabel = "iteration";
  plot.ylabel = "loss (log scale)";
  plot.log_y = true;
  plot.grid = true;
  plot.legend = LegendLocation::UpperRight;
  Series& raw = plot.add("loss of each iteration", losses);
  raw.color = "#aec7e8";  // tab10's light blue: the noise, in the background
  raw.line_width = 0.8;
  Series& smooth =
      plot.add("mean of the last " + std::to_string(window), moving_average(losses, window));
  smooth.color = tab10(0);
  smooth.line_width = 2.0;
  return plot;
}

}  // namespace diffusion
}  // namespace drift
