#include "wsss/viz/picture.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "wsss/core/error.hpp"

namespace wsss::viz {

namespace {

const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kBlack(0, 0, 0);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kFontScale = 0.4;

std::uint8_t blend(std::uint8_t image, std::uint8_t colour, double alpha) {
  const double v = (1 - alpha) * image + alpha * colour;
  return std::uint8_t(std::clamp(std::floor(v + 0.5), 0.0, 255.0));
}

void check_rgb(const cv::Mat& rgb, const char* what) {
  if (rgb.type() != CV_8UC3) throw Error(std::string(what) + ": expected an 8-bit RGB image");
}

// `text` shortened with ".." until it fits in `width` pixels.
std::string fit_text(std::string text, int width) {
  int baseline = 0;
  auto fits = [&](const std::string& t) { return cv::getTextSize(t, kFont, kFontScale, 1, &baseline).width <= width; };
  if (fits(text)) return text;
  while (!text.empty() && !fits(text + "..")) text.pop_back();
  return text.empty() ? "" : text + "..";
}

}  // namespace

cv::Mat mask_colors(const Mask& mask, const Palette& palette) {
  cv::Mat out(mask.height, mask.width, CV_8UC3);
  for (int y = 0; y < mask.height; ++y) {
    auto* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < mask.width; ++x) {
      const Rgb& c = palette[mask.at(y, x)];
      row[x] = {c[0], c[1], c[2]};
    }
  }
  return out;
}

cv::Mat mask_overlay(const cv::Mat& rgb, const Mask& mask, const Palette& palette, int ignore, double alpha) {
  check_rgb(rgb, "mask_overlay");
  if (rgb.cols != mask.width || rgb.rows != mask.height)
    throw Error("mask_overlay: the mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) +
                ", the image " + std::to_string(rgb.cols) + "x" + std::to_string(rgb.rows));
  cv::Mat out(rgb.rows, rgb.cols, CV_8UC3);
  for (int y = 0; y < rgb.rows; ++y) {
    const auto* in = rgb.ptr<cv::Vec3b>(y);
    auto* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      const int v = mask.at(y, x);
      const Rgb& c = palette[std::size_t(v)];
      if (v == ignore) {
        row[x] = {c[0], c[1], c[2]};
      } else {
        for (int k = 0; k < 3; ++k) row[x][k] = blend(in[x][k], c[std::size_t(k)], alpha);
      }
    }
  }
  return out;
}

const std::array<Rgb, 256>& heat_lut() {
  static const std::array<Rgb, 256> lut = [] {
    cv::Mat ramp(1, 256, CV_8UC1), bgr;
    for (int i = 0; i < 256; ++i) ramp.at<std::uint8_t>(0, i) = std::uint8_t(i);
    cv::applyColorMap(ramp, bgr, cv::COLORMAP_JET);
    std::array<Rgb, 256> t{};
    for (int i = 0; i < 256; ++i) {
      const cv::Vec3b p = bgr.at<cv::Vec3b>(0, i);
      t[std::size_t(i)] = {p[2], p[1], p[0]};
    }
    return t;
  }();
  return lut;
}

const Rgb& heat_color(float value) {
  const float v = std::isnan(value) ? 0.f : std::clamp(value, 0.f, 1.f);
  return heat_lut()[std::size_t(std::lround(v * 255.f))];
}

cv::Mat heat_overlay(const cv::Mat& rgb, const float* values, int width, int height, double alpha) {
  check_rgb(rgb, "heat_overlay");
  cv::Mat map(height, width, CV_32FC1, const_cast<float*>(values));
  if (width != rgb.cols || height != rgb.rows) {
    cv::Mat resized;
    cv::resize(map, resized, cv::Size(rgb.cols, rgb.rows), 0, 0, cv::INTER_LINEAR);
    map = resized;
  }
  cv::Mat out(rgb.rows, rgb.cols, CV_8UC3);
  for (int y = 0; y < rgb.rows; ++y) {
    const auto* in = rgb.ptr<cv::Vec3b>(y);
    const float* m = map.ptr<float>(y);
    auto* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      const Rgb& c = heat_color(m[x]);
      for (int k = 0; k < 3; ++k) row[x][k] = blend(in[x][k], c[std::size_t(k)], alpha);
    }
  }
  return out;
}

const Rgb& error_color(ErrorKind kind) {
  static const std::array<Rgb, kErrorKinds> colours = {{
      {0, 0, 0},        // correct background: black
      {0, 150, 0},      // correct foreground: green
      {230, 30, 30},    // wrong class: red
      {40, 100, 255},   // missed foreground: blue
      {255, 210, 0},    // false foreground: yellow
      {150, 150, 150},  // prediction 255: grey
      {255, 255, 255},  // GT 255: white
  }};
  return colours[std::size_t(kind)];
}

const char* error_name(ErrorKind kind) {
  static const char* names[kErrorKinds] = {"correct bg", "correct fg", "wrong class", "missed fg",
                                           "false fg",   "pred 255",   "GT 255"};
  return names[int(kind)];
}

std::vector<ErrorKind> error_kinds(const Mask& gt, const Mask& pred, int ignore) {
  if (gt.width != pred.width || gt.height != pred.height)
    throw Error("error_kinds: the prediction is " + std::to_string(pred.width) + "x" + std::to_string(pred.height) +
                ", the GT " + std::to_string(gt.width) + "x" + std::to_string(gt.height));
  std::vector<ErrorKind> kinds(gt.data.size());
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const int g = gt.data[i], p = pred.data[i];
    if (g == ignore) kinds[i] = ErrorKind::GtIgnored;
    else if (p == ignore) kinds[i] = ErrorKind::PredIgnored;
    else if (g == p) kinds[i] = g == 0 ? ErrorKind::CorrectBackground : ErrorKind::CorrectForeground;
    else if (g == 0) kinds[i] = ErrorKind::FalseForeground;
    else if (p == 0) kinds[i] = ErrorKind::MissedForeground;
    else kinds[i] = ErrorKind::WrongClass;
  }
  return kinds;
}

cv::Mat error_map(const Mask& gt, const Mask& pred, int ignore) {
  const std::vector<ErrorKind> kinds = error_kinds(gt, pred, ignore);
  cv::Mat out(gt.height, gt.width, CV_8UC3);
  for (int y = 0; y < gt.height; ++y) {
    auto* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < gt.width; ++x) {
      const Rgb& c = error_color(kinds[std::size_t(y) * std::size_t(gt.width) + std::size_t(x)]);
      row[x] = {c[0], c[1], c[2]};
    }
  }
  return out;
}

cv::Mat fit(const cv::Mat& rgb, int long_side, bool crisp) {
  const int longer = std::max(rgb.cols, rgb.rows);
  if (long_side <= 0 || longer == long_side || longer == 0) return rgb;
  const double s = double(long_side) / longer;
  const cv::Size size(std::max(1, int(std::lround(rgb.cols * s))), std::max(1, int(std::lround(rgb.rows * s))));
  cv::Mat out;
  cv::resize(rgb, out, size, 0, 0, s < 1 && !crisp ? cv::INTER_AREA : cv::INTER_NEAREST);
  return out;
}

cv::Mat titled(const Panel& panel) {
  check_rgb(panel.rgb, "titled");
  cv::Mat out(panel.rgb.rows + kTitleHeight, panel.rgb.cols, CV_8UC3, kWhite);
  const std::string text = fit_text(panel.title, panel.rgb.cols - 2);
  if (!text.empty()) cv::putText(out, text, {1, kTitleHeight - 5}, kFont, kFontScale, kBlack, 1, cv::LINE_AA);
  panel.rgb.copyTo(out(cv::Rect(0, kTitleHeight, panel.rgb.cols, panel.rgb.rows)));
  return out;
}

cv::Mat panel_row(const std::vector<Panel>& panels) {
  std::vector<cv::Mat> parts;
  int width = 0, height = 0;
  for (const Panel& p : panels) {
    parts.push_back(titled(p));
    width += parts.back().cols + (parts.size() > 1 ? kGap : 0);
    height = std::max(height, parts.back().rows);
  }
  cv::Mat out(std::max(height, 1), std::max(width, 1), CV_8UC3, kWhite);
  int x = 0;
  for (const cv::Mat& p : parts) {
    p.copyTo(out(cv::Rect(x, 0, p.cols, p.rows)));
    x += p.cols + kGap;
  }
  return out;
}

cv::Mat stack_rows(const std::vector<cv::Mat>& rows) {
  int width = 0, height = 0;
  for (const cv::Mat& r : rows) {
    check_rgb(r, "stack_rows");
    width = std::max(width, r.cols);
    height += r.rows + (height > 0 ? kGap : 0);
  }
  cv::Mat out(std::max(height, 1), std::max(width, 1), CV_8UC3, kWhite);
  int y = 0;
  for (const cv::Mat& r : rows) {
    r.copyTo(out(cv::Rect(0, y, r.cols, r.rows)));
    y += r.rows + kGap;
  }
  return out;
}

cv::Mat error_legend(int width) {
  constexpr int kSwatch = 10, kLine = 16;
  int baseline = 0;
  // Lay the entries out first to know the height.
  std::vector<cv::Point> at;
  int x = 2, y = 0;
  for (int k = 0; k < kErrorKinds; ++k) {
    const int w = kSwatch + 4 + cv::getTextSize(error_name(ErrorKind(k)), kFont, kFontScale, 1, &baseline).width + 10;
    if (x > 2 && x + w > width) {
      x = 2;
      y += kLine;
    }
    at.push_back({x, y});
    x += w;
  }
  cv::Mat out(y + kLine, std::max(width, 1), CV_8UC3, kWhite);
  for (int k = 0; k < kErrorKinds; ++k) {
    const Rgb& c = error_color(ErrorKind(k));
    const cv::Rect swatch(at[std::size_t(k)].x, at[std::size_t(k)].y + 3, kSwatch, kSwatch);
    cv::rectangle(out, swatch, cv::Scalar(c[0], c[1], c[2]), cv::FILLED);
    cv::rectangle(out, swatch, cv::Scalar(90, 90, 90), 1);
    cv::putText(out, error_name(ErrorKind(k)), {swatch.x + kSwatch + 4, swatch.y + kSwatch - 1}, kFont, kFontScale,
                kBlack, 1, cv::LINE_AA);
  }
  return out;
}

}  // namespace wsss::viz
