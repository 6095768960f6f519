#include "wsss/report/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace wsss::report {

namespace {

// A number for SVG coordinates: at most one decimal, no trailing ".0".
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  if (s == "-0") s = "0";
  return s;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// A tick label: the shortest of %g forms that tells neighbouring ticks apart.
std::string tick_text(double v, double step) {
  const int decimals = step >= 1 ? 0 : int(std::ceil(-std::log10(step) - 1e-9));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", std::max(0, decimals), v);
  return buf;
}

std::string open_svg(const char* kind, double width, double height, const std::string& title, std::size_t series) {
  std::string s = "<svg class=\"chart\" data-kind=\"" + std::string(kind) + "\" data-series=\"" +
                  std::to_string(series) + "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) +
                  "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
                  "\" role=\"img\" aria-label=\"" + xml_escape(title) + "\">\n";
  s += "<text class=\"title\" x=\"" + num(width / 2) + "\" y=\"16\" text-anchor=\"middle\">" + xml_escape(title) +
       "</text>\n";
  return s;
}

// Colour squares and names from (x, y), wrapped into lines of at most `width`
// pixels; `lines` returns how many it took.
using Entries = std::vector<std::pair<std::string, std::string>>;
double entry_width(const std::string& name) { return 14 + 6.5 * double(name.size()) + 14; }

int legend_lines(const Entries& entries, double width) {
  int lines = entries.empty() ? 0 : 1;
  double at = 0;
  for (const auto& e : entries) {
    if (at > 0 && at + entry_width(e.first) > width) {
      ++lines;
      at = 0;
    }
    at += entry_width(e.first);
  }
  return lines;
}

std::string legend(const Entries& entries, double x0, double y, double width) {
  std::string s;
  double x = x0;
  for (const auto& [name, colour] : entries) {
    if (x > x0 && x - x0 + entry_width(name) > width) {
      x = x0;
      y += 15;
    }
    s += "<rect x=\"" + num(x) + "\" y=\"" + num(y - 9) + "\" width=\"10\" height=\"10\" fill=\"" + colour +
         "\"/><text class=\"legend\" x=\"" + num(x + 14) + "\" y=\"" + num(y) + "\">" + xml_escape(name) +
         "</text>\n";
    x += entry_width(name);
  }
  return s;
}

double finite_max(const std::vector<std::vector<double>>& values) {
  double m = -std::numeric_limits<double>::infinity();
  for (const auto& row : values)
    for (double v : row)
      if (std::isfinite(v)) m = std::max(m, v);
  return m;
}

// A y axis with grid lines from plot left x0 to x1, mapping [lo, hi] to [y_bottom, y_top].
std::string y_axis(const std::vector<double>& ticks, double lo, double hi, double x0, double x1, double y_top,
                   double y_bottom, const std::string& label) {
  std::string s;
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (double t : ticks) {
    const double y = y_bottom - (t - lo) / (hi - lo) * (y_bottom - y_top);
    s += "<line class=\"grid\" x1=\"" + num(x0) + "\" x2=\"" + num(x1) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\"/><text class=\"tick\" x=\"" + num(x0 - 4) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
         tick_text(t, step) + "</text>\n";
  }
  s += "<line class=\"axis\" x1=\"" + num(x0) + "\" x2=\"" + num(x0) + "\" y1=\"" + num(y_top) + "\" y2=\"" +
       num(y_bottom) + "\"/>\n";
  if (!label.empty())
    s += "<text class=\"label\" transform=\"translate(12," + num((y_top + y_bottom) / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(label) + "</text>\n";
  return s;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string series_colour(std::size_t i) {
  static const char* colours[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return colours[i % 10];
}

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  const double raw = (hi - lo) / std::max(1, count);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  std::vector<double> ticks;
  const long long first = (long long)std::ceil(lo / step - 1e-9), last = (long long)std::floor(hi / step + 1e-9);
  for (long long k = first; k <= last; ++k) ticks.push_back(double(k) * step);
  return ticks;
}

std::string bar_chart_svg(const BarChart& c) {
  const std::size_t nc = c.categories.size(), ns = c.series.size();
  const double bar = ns * nc > 120 ? 4 : ns * nc > 60 ? 6 : 9;
  const double group = double(std::max<std::size_t>(ns, 1)) * bar + 8;
  Entries entries;
  for (std::size_t k = 0; k < ns; ++k) entries.emplace_back(c.series[k], series_colour(k));
  const double left = 52, right = 16, label_room = 76, band_room = c.bands.empty() ? 0 : 20;
  const double plot_w = std::max(group * double(nc), 240.0);
  const double width = left + plot_w + right;
  const int lines = legend_lines(entries, plot_w);
  const double top = 30 + 15 * lines, height = double(c.height) + 15 * std::max(0, lines - 1);
  const double y_bottom = height - label_room - band_room, y_top = top;
  double hi = c.y_max > 0 ? c.y_max : finite_max(c.values);
  if (!(hi > 0)) hi = 1;
  std::vector<double> ticks = nice_ticks(0, hi);
  if (c.y_max <= 0 && !ticks.empty() && ticks.back() < hi) ticks.push_back(ticks.back() + (ticks.size() > 1 ? ticks[1] - ticks[0] : hi));
  if (c.y_max <= 0 && !ticks.empty()) hi = std::max(hi, ticks.back());
  auto y_of = [&](double v) { return y_bottom - v / hi * (y_bottom - y_top); };

  std::string s = open_svg("bar", width, height, c.title, ns);
  s += legend(entries, left, 34, plot_w);
  s += y_axis(ticks, 0, hi, left, left + plot_w, y_top, y_bottom, c.y_label);
  for (std::size_t i = 0; i < nc; ++i) {
    const double x0 = left + double(i) * group + 4;
    for (std::size_t k = 0; k < ns; ++k) {
      const double v = k < c.values.size() && i < c.values[k].size() ? c.values[k][i]
                                                                       : std::numeric_limits<double>::quiet_NaN();
      if (!std::isfinite(v)) continue;
      const double y = y_of(std::min(std::max(v, 0.0), hi));
      s += "<rect class=\"bar\" x=\"" + num(x0 + double(k) * bar) + "\" y=\"" + num(y) + "\" width=\"" +
           num(bar - 1) + "\" height=\"" + num(y_bottom - y) + "\" fill=\"" + series_colour(k) + "\"><title>" +
           xml_escape(c.series[k] + ", " + c.categories[i] + ": " + fmt(c.value_format.c_str(), v)) +
           "</title></rect>\n";
    }
    const double xc = x0 + double(ns) * bar / 2;
    s += "<text class=\"tick\" transform=\"translate(" + num(xc + 3) + "," + num(y_bottom + 8) +
         ") rotate(-45)\" text-anchor=\"end\">" + xml_escape(c.categories[i]) + "</text>\n";
  }
  s += "<line class=\"axis\" x1=\"" + num(left) + "\" x2=\"" + num(left + plot_w) + "\" y1=\"" + num(y_bottom) +
       "\" y2=\"" + num(y_bottom) + "\"/>\n";
  for (const auto& band : c.bands) {
    const double x0 = left + double(band.first) * group + 2, x1 = left + double(band.first + band.count) * group - 2;
    const double y = height - band_room + 4;
    s += "<line class=\"band\" x1=\"" + num(x0) + "\" x2=\"" + num(x1) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\"/><text class=\"band\" x=\"" + num((x0 + x1) / 2) + "\" y=\"" + num(y + 13) +
         "\" text-anchor=\"middle\">" + xml_escape(band.name) + "</text>\n";
  }
  return s + "</svg>\n";
}

std::string line_chart_svg(const LineChart& c) {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const auto& se : c.series)
    for (std::size_t i = 0; i < se.x.size() && i < se.y.size(); ++i) {
      if (!std::isfinite(se.x[i]) || !std::isfinite(se.y[i])) continue;
      x_lo = std::min(x_lo, se.x[i]);
      x_hi = std::max(x_hi, se.x[i]);
      y_lo = std::min(y_lo, se.y[i]);
      y_hi = std::max(y_hi, se.y[i]);
    }
  if (c.marker_x) {
    x_lo = std::min(x_lo, *c.marker_x);
    x_hi = std::max(x_hi, *c.marker_x);
  }
  if (!std::isfinite(x_lo)) x_lo = 0, x_hi = 1;
  if (!std::isfinite(y_lo)) y_lo = 0, y_hi = 1;
  if (c.y_min) y_lo = *c.y_min;
  if (c.y_max) y_hi = *c.y_max;
  if (!(x_hi > x_lo)) x_lo -= 0.5, x_hi += 0.5;
  if (!(y_hi > y_lo)) y_lo -= 0.5, y_hi += 0.5;
  if (!c.y_min && !c.y_max) {  // a little room above and below the data
    const double pad = (y_hi - y_lo) * 0.05;
    y_lo -= pad;
    y_hi += pad;
  }
  Entries entries;
  for (std::size_t k = 0; k < c.series.size(); ++k)
    if (!c.series[k].name.empty()) entries.emplace_back(c.series[k].name, series_colour(c.series[k].colour.value_or(k)));
  const double width = c.width, left = 56, right = 16, bottom = 40;
  const int lines = legend_lines(entries, width - left - right);
  const double top = 30 + 15 * lines, height = c.height + 15 * std::max(0, lines - 1);
  const double x0 = left, x1 = width - right, y_top = top, y_bottom = height - bottom;
  auto px = [&](double x) { return x0 + (x - x_lo) / (x_hi - x_lo) * (x1 - x0); };
  auto py = [&](double y) { return y_bottom - (y - y_lo) / (y_hi - y_lo) * (y_bottom - y_top); };

  std::string s = open_svg("line", width, height, c.title, c.series.size());
  s += legend(entries, left, 34, x1 - x0);
  std::vector<double> yt = nice_ticks(y_lo, y_hi);
  yt.erase(std::remove_if(yt.begin(), yt.end(), [&](double t) { return t < y_lo || t > y_hi; }), yt.end());
  s += y_axis(yt, y_lo, y_hi, x0, x1, y_top, y_bottom, c.y_label);
  std::vector<double> xt = nice_ticks(x_lo, x_hi, 6);
  if (c.integer_x && xt.size() > 1 && xt[1] - xt[0] < 1) {  // iterations: no tick between two
    xt.clear();
    for (double t = std::ceil(x_lo); t <= x_hi; ++t) xt.push_back(t);
  }
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
  for (double t : xt) {
    if (t < x_lo || t > x_hi) continue;
    s += "<text class=\"tick\" x=\"" + num(px(t)) + "\" y=\"" + num(y_bottom + 14) + "\" text-anchor=\"middle\">" +
         tick_text(t, xstep) + "</text>\n";
  }
  s += "<line class=\"axis\" x1=\"" + num(x0) + "\" x2=\"" + num(x1) + "\" y1=\"" + num(y_bottom) + "\" y2=\"" +
       num(y_bottom) + "\"/>\n";
  if (!c.x_label.empty())
    s += "<text class=\"label\" x=\"" + num((x0 + x1) / 2) + "\" y=\"" + num(height - 8) +
         "\" text-anchor=\"middle\">" + xml_escape(c.x_label) + "</text>\n";
  for (std::size_t k = 0; k < c.series.size(); ++k) {
    const LineSeries& se = c.series[k];
    const std::string colour = series_colour(se.colour.value_or(k));
    const std::string opacity = se.opacity < 1 ? " stroke-opacity=\"" + fmt("%.2f", se.opacity) + "\"" : "";
    std::string points;
    auto flush = [&] {
      if (!points.empty())
        s += "<polyline class=\"series\" fill=\"none\" stroke=\"" + colour + "\"" + opacity + " points=\"" + points +
             "\"><title>" + xml_escape(se.name) + "</title></polyline>\n";
      points.clear();
    };
    for (std::size_t i = 0; i < se.x.size() && i < se.y.size(); ++i) {
      if (!std::isfinite(se.x[i]) || !std::isfinite(se.y[i])) {
        flush();
        continue;
      }
      points += (points.empty() ? "" : " ") + num(px(se.x[i])) + "," + num(py(se.y[i]));
    }
    flush();
    if (se.points)
      for (std::size_t i = 0; i < se.x.size() && i < se.y.size(); ++i)
        if (std::isfinite(se.x[i]) && std::isfinite(se.y[i]))
          s += "<circle class=\"point\" cx=\"" + num(px(se.x[i])) + "\" cy=\"" + num(py(se.y[i])) +
               "\" r=\"3\" fill=\"" + colour + "\"><title>" +
               xml_escape(se.name + ": " + fmt("%g", se.x[i]) + ", " + fmt("%.4g", se.y[i])) + "</title></circle>\n";
  }
  if (c.marker_x) {
    const double x = px(*c.marker_x);
    // The label on the side of the line with more room.
    const bool left_side = x > (x0 + x1) / 2;
    s += "<line class=\"marker\" x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(y_top) + "\" y2=\"" +
         num(y_bottom) + "\"/><text class=\"marker\" x=\"" + num(left_side ? x - 4 : x + 4) + "\" y=\"" +
         num(y_bottom - 8) + "\" text-anchor=\"" + (left_side ? "end" : "start") + "\">" + xml_escape(c.marker_label) +
         "</text>\n";
  }
  return s + "</svg>\n";
}

std::string matrix_svg(const MatrixChart& c) {
  const std::size_t n = c.labels.size();
  const double cell = c.cell > 0 ? c.cell : std::clamp(420.0 / double(std::max<std::size_t>(n, 1)), 6.0, 30.0);
  std::size_t longest = 0;
  for (const auto& l : c.labels) longest = std::max(longest, l.size());
  const double margin = 12 + 6.2 * double(std::min<std::size_t>(longest, 18));
  const double left = margin, top = 26 + margin;
  const double width = left + cell * double(n) + 12, height = top + cell * double(n) + 12;
  std::string s = open_svg("matrix", width, height, c.title, 1);
  const bool numbers = n <= 12 && cell >= 24;
  for (std::size_t i = 0; i < n; ++i) {
    const double y = top + cell * double(i);
    s += "<text class=\"tick\" x=\"" + num(left - 4) + "\" y=\"" + num(y + cell / 2 + 4) + "\" text-anchor=\"end\">" +
         xml_escape(c.labels[i]) + "</text>\n";
    const double x = left + cell * double(i);
    s += "<text class=\"tick\" transform=\"translate(" + num(x + cell / 2 + 4) + "," + num(top - 4) +
         ") rotate(-60)\">" + xml_escape(c.labels[i]) + "</text>\n";
    double total = 0;
    for (std::size_t j = 0; j < n && i < c.counts.size() && j < c.counts[i].size(); ++j) total += c.counts[i][j];
    for (std::size_t j = 0; j < n; ++j) {
      const double count = i < c.counts.size() && j < c.counts[i].size() ? c.counts[i][j] : 0;
      const double share = total > 0 ? count / total : 0;
      // White to dark blue with the row's share.
      const int r = int(std::lround(247 + (8 - 247) * share)), g = int(std::lround(251 + (48 - 251) * share)),
                b = int(std::lround(255 + (107 - 255) * share));
      char colour[8];
      std::snprintf(colour, sizeof colour, "#%02x%02x%02x", r, g, b);
      const double cx = left + cell * double(j);
      s += "<rect class=\"cell\" x=\"" + num(cx) + "\" y=\"" + num(y) + "\" width=\"" + num(cell) + "\" height=\"" +
           num(cell) + "\" fill=\"" + colour + "\"><title>" +
           xml_escape("GT " + c.labels[i] + ", predicted " + c.labels[j] + ": " + fmt("%.0f", count) + " pixels (" +
                      fmt("%.1f", share * 100) + "% of the GT's)") +
           "</title></rect>\n";
      if (numbers && count > 0)
        s += "<text class=\"cellnum\" x=\"" + num(cx + cell / 2) + "\" y=\"" + num(y + cell / 2 + 3) +
             "\" text-anchor=\"middle\" fill=\"" + (share > 0.5 ? "#fff" : "#222") + "\">" + fmt("%.0f", share * 100) +
             "</text>\n";
    }
  }
  s += "<rect class=\"frame\" x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(cell * double(n)) +
       "\" height=\"" + num(cell * double(n)) + "\" fill=\"none\"/>\n";
  return s + "</svg>\n";
}

}  // namespace wsss::report
