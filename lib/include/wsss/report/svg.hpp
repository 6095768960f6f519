#pragma once
// Charts as inline SVG text for the experiment report (docs/viz.md): bar
// charts, line charts and matrix heat maps. Static markup, no script: the page
// renders the same in any browser, prints, and needs nothing beside itself.
// Every chart is an <svg class="chart" data-kind="bar|line|matrix"> whose
// marks carry classes ("bar", "series", "point", "marker", "cell") so that tests
// can count them.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace wsss::report {

// &, <, >, " and ' as entities.
std::string xml_escape(const std::string& text);

// The i-th colour of a fixed qualitative palette (Tableau 10), "#rrggbb".
std::string series_colour(std::size_t i);

// Round tick values covering [lo, hi] (about `count` of them, steps of 1, 2 or 5
// times a power of ten).
std::vector<double> nice_ticks(double lo, double hi, int count = 5);

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;               // along x
  std::vector<std::string> series;                   // one bar per series in each category
  std::vector<std::vector<double>> values;           // [series][category]; NaN: no bar
  // Optional bands of consecutive categories named under the axis (e.g. the
  // survey's Table-2 groups): (name, first category, count).
  struct Band {
    std::string name;
    std::size_t first = 0, count = 0;
  };
  std::vector<Band> bands;
  double y_max = 0;                                  // 0: from the data
  std::string value_format = "%.1f";                 // tooltips
  int height = 300;
};
std::string bar_chart_svg(const BarChart& chart);

struct LineSeries {
  std::string name;
  std::vector<double> x, y;                          // NaN y: a gap
  bool points = false;                               // draw a dot at each point
  double opacity = 1;
  std::optional<std::size_t> colour;                 // series_colour index (default: the series' own)
};
struct LineChart {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  std::optional<double> marker_x;                    // a vertical line, e.g. the chosen threshold
  std::string marker_label;
  std::optional<double> y_min, y_max;                // default: from the data
  bool integer_x = false;                            // x counts (iterations): whole-number ticks
  int width = 560, height = 300;
};
std::string line_chart_svg(const LineChart& chart);

// A square matrix (rows: ground truth, columns: prediction) coloured by each
// row's share; each cell's tooltip gives the count and the share.
struct MatrixChart {
  std::string title;
  std::vector<std::string> labels;
  std::vector<std::vector<double>> counts;           // [row][column]
  int cell = 0;                                      // pixels per cell (0: from the number of labels)
};
std::string matrix_svg(const MatrixChart& chart);

}  // namespace wsss::report
