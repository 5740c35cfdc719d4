// test_plot.cpp — the SVG plots are well-formed XML, contain every series, and their axes
// (linear and log) carry the expected ticks.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "diffusion/tools/data.h"
#include "diffusion/tools/plot.h"
#include "tensor/error.h"
#include "tests/helpers.h"
#include "tests/temp_dir.h"
#include "tests/xml_check.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the XML checker itself catches broken documents") {
  CHECK(test::xml_problem("<svg><g></g></svg>").empty());
  CHECK(!test::xml_problem("<svg><g></svg>").empty());
  CHECK(!test::xml_problem("<svg><g/></svg><svg/>").empty());
  CHECK(!test::xml_problem("<svg><text>a & b</text></svg>").empty());
}

TEST_CASE("a line plot is a well-formed SVG with every series") {
  LinePlot plot;
  plot.title = "Loss & friends <test>";
  plot.xlabel = "iteration";
  plot.ylabel = "value";
  std::vector<double> a, b;
  for (int i = 0; i < 200; ++i) {
    a.push_back(std::sin(i * 0.05));
    b.push_back(std::cos(i * 0.05) * 0.5);
  }
  plot.add("sine", a);
  plot.add("cosine", b).markers = true;
  plot.add("third", {0.0, 1.0, 2.0}, {0.1, 0.2, NAN});  // NaN: skipped, not drawn
  std::string svg = plot.svg();
  INFO(svg.substr(0, 400));
  CHECK(test::xml_problem(svg) == "");
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  CHECK(count(svg, "class=\"series\"") == 3);
  CHECK(svg.find("<title>sine</title>") != std::string::npos);
  CHECK(svg.find(">cosine</text>") != std::string::npos);  // in the legend
  CHECK(svg.find("Loss &amp; friends &lt;test&gt;") != std::string::npos);
  CHECK(svg.find(">iteration</text>") != std::string::npos);
  CHECK(svg.find("#1f77b4") != std::string::npos);  // tab10 blue, then orange
  CHECK(svg.find("#ff7f0e") != std::string::npos);
  CHECK(count(svg, "<circle") >= 200);  // markers on the second series
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  // Nice ticks on y in [-1, 1] every 0.25, as matplotlib (with a Unicode minus for negatives).
  for (const char* label : {"0.00", "0.25", "0.50", "1.00",
                            "\xE2\x88\x92"
                            "0.50",
                            "\xE2\x88\x92"
                            "1.00"})
    CHECK(svg.find(std::string(">") + label + "</text>") != std::string::npos);
  CHECK(svg.find(">1.25</text>") == std::string::npos);  // no tick outside the data range
  // x ticks at multiples of 25 or 50 across 0..199.
  CHECK(svg.find(">100</text>") != std::string::npos);
}

TEST_CASE("scatter and arrow plots: dots without a line, one arrow per point, tips in range") {
  LinePlot plot;
  plot.title = "field";
  plot.add_points("points", {0.0, 1.0, 2.0}, {0.0, 1.0, 0.5});
  // Two arrows; the second tip (3, 4) lies beyond every point, so the axes must reach it.
  plot.add_arrows("score", {0.0, 1.0}, {0.0, 1.0}, {0.5, 2.0}, {0.0, 3.0});
  std::string svg = plot.svg();
  CHECK(test::xml_problem(svg) == "");
  CHECK(count(svg, "class=\"series\"") == 2);
  CHECK(count(svg, "<circle") == 3 + 1);                // three dots and the legend's dot, no line
  CHECK(svg.find(">4.0</text>") != std::string::npos);  // the y axis reaches the tip at 4
  // Each arrow: a shaft (M..L) and a two-stroke head (two more M..L): 6 moves for 2 arrows.
  const size_t start = svg.find("<title>score</title>");
  REQUIRE(start != std::string::npos);
  const std::string path = svg.substr(start, svg.find("/>", start) - start);
  CHECK(count(path, "M") == 6);
  CHECK_THROWS_WITH_AS(plot.add_arrows("bad", {0.0}, {0.0}, {}, {1.0}),
                       doctest::Contains("1 points but 0 dx"), Error);
}

TEST_CASE("log-y axis: decades as ticks, non-positive values skipped") {
  LinePlot plot;
  plot.log_y = true;
  plot.title = "log";
  std::vector<double> y;
  for (int i = 0; i <= 40; ++i) y.push_back(std::pow(10.0, -4.0 + i * 0.1));  // 1e-4 .. 1
  y.push_back(0.0);  // cannot be drawn on a log axis
  y.push_back(-1.0);
  plot.add("decades", y);
  std::string svg = plot.svg();
  CHECK(test::xml_problem(svg) == "");
  // 10^-4, 10^-3, ..., 10^0 labelled (exponents in a raised <tspan>).
  for (const char* exponent : {"\xE2\x88\x92"
                               "4",
                               "\xE2\x88\x92"
                               "3",
                               "\xE2\x88\x92"
                               "2",
                               "\xE2\x88\x92"
                               "1",
                               "0"})
    CHECK(svg.find(std::string("font-size=\"70%\">") + exponent + "</tspan>") != std::string::npos);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  // A straight line in log space: the path is simplified to a handful of points.
  size_t d = svg.find(" d=\"M");
  REQUIRE(d != std::string::npos);
  std::string path = svg.substr(d, svg.find('"', d + 4) - d);
  CHECK(count(path, " L") <= 3);
  // Only non-positive data: a clear error instead of an empty plot with a broken axis.
  LinePlot bad;
  bad.log_y = true;
  bad.y_min = -1.0;
  bad.add("zero", std::vector<double>{0.0, 0.0});
  CHECK_THROWS_WITH_AS(bad.svg(), doctest::Contains("log y axis needs positive limits"), Error);
}

TEST_CASE("small numbers get a x10^k multiplier; a two-panel figure") {
  LinePlot small;
  small.add("tiny", std::vector<double>{1e-6, 3e-6, 2e-6});
  std::string svg = small.svg();
  CHECK(test::xml_problem(svg) == "");
  CHECK(svg.find("×10<tspan") != std::string::npos);

  Figure figure(1, 2);
  figure.title = "β and ᾱ";
  figure.panel(0).add("linear", std::vector<double>{1e-4, 0.01, 0.02});
  figure.panel(0).log_y = true;
  figure.panel(1).add("alpha_bar", std::vector<double>{1.0, 0.5, 0.1});
  figure.panel(0, 1).grid = true;
  std::string two = figure.svg(400, 300);
  CHECK(test::xml_problem(two) == "");
  CHECK(two.find("width=\"800\"") != std::string::npos);
  CHECK(count(two, "<clipPath") == 2);
  CHECK(two.find("<title>linear</title>") != std::string::npos);
  CHECK(two.find("<title>alpha_bar</title>") != std::string::npos);
  CHECK(two.find(">β and ᾱ</text>") != std::string::npos);
  CHECK_THROWS_WITH_AS(figure.panel(2), doctest::Contains("panel 2 does not exist"), Error);
}

TEST_CASE("plots are saved to files; bad input is named") {
  test::TempDir dir("plot");
  LinePlot plot;
  plot.add("t", from_vector({1.f, 2.f, 3.f}));
  plot.add("braced", {3.0, 2.0, 1.0});                       // an initializer list
  plot.add("floats", std::vector<float>{1.5f, 2.5f, 0.5f});  // e.g. a loss history
  plot.save(dir.path("p.svg"));
  std::string text = read_file(dir.path("p.svg"));
  CHECK(test::xml_problem(text) == "");
  CHECK(text == plot.svg());
  CHECK_THROWS_WITH_AS(plot.save(dir.path("missing/p.svg")), doctest::Contains("missing/p.svg"),
                       Error);
  CHECK_THROWS_WITH_AS(plot.add("bad", {1.0, 2.0}, {1.0}),
                       doctest::Contains("series 'bad' has 2 x values but 1 y values"), Error);
  CHECK_THROWS_WITH_AS(plot.add("bad", zeros({2, 2})), doctest::Contains("1-D tensor"), Error);
}

TEST_CASE("moving average: trailing window, fewer values at the start, gaps left out") {
  const std::vector<double> values = {4, 2, 6, 8, 10};
  const std::vector<double> two = moving_average(values, 2);
  CHECK(two == std::vector<double>{4, 3, 4, 7, 9});
  const std::vector<double> three = moving_average(values, 3);
  CHECK(three[0] == 4);
  CHECK(three[1] == 3);
  CHECK(three[2] == 4);
  CHECK(three[4] == doctest::Approx(8));
  CHECK(moving_average(values, 1) == values);
  CHECK(moving_average(values, 100)[4] == doctest::Approx(6));
  // A missing value (NaN, e.g. a loss lost with a history file) is skipped, not spread.
  const std::vector<double> gap = moving_average({1, NAN, 3, 5}, 2);
  CHECK(gap[0] == 1);
  CHECK(gap[1] == 1);
  CHECK(gap[2] == 3);
  CHECK(gap[3] == 4);
  CHECK(std::isnan(moving_average({NAN, NAN, 2}, 2)[1]));
  CHECK(moving_average({}, 3).empty());
  CHECK_THROWS_WITH_AS(moving_average(values, 0), doctest::Contains("window must be >= 1"), Error);
}

TEST_CASE("loss plot: the raw loss and its moving average on a log axis") {
  std::vector<double> losses;
  for (int i = 0; i < 300; ++i) losses.push_back(1.0 / (1 + i) + 0.05 * (i % 3));
  LinePlot plot = loss_plot(losses, 25, "training loss");
  CHECK(plot.log_y);
  REQUIRE(plot.series.size() == 2);
  CHECK(plot.series[0].y == losses);
  CHECK(plot.series[1].y == moving_average(losses, 25));
  CHECK(plot.series[1].name == "mean of the last 25");
  const std::string svg = plot.svg();
  CHECK(test::xml_problem(svg) == "");
  CHECK(count(svg, "class=\"series\"") == 2);
  CHECK(svg.find(">training loss</text>") != std::string::npos);
  CHECK(svg.find(">iteration</text>") != std::string::npos);
}
