#pragma once
// Pictures of masks, score maps and errors, as RGB images (CV_8UC3), and the
// layout that puts them side by side with titles (docs/viz.md). One home for
// every picture the toolkit draws: wsss-viz, wsss-cam --preview and the
// experiment report (wsss-report).
#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "wsss/io/png.hpp"

namespace wsss::viz {

using Rgb = std::array<std::uint8_t, 3>;

// Each mask value's palette colour (255 included: VOC's is cream).
cv::Mat mask_colors(const Mask& mask, const Palette& palette);

// A mask over an image (same size): out = round((1 - alpha) * image + alpha *
// palette[v]) for every value v but `ignore`; ignore pixels are painted
// palette[ignore] opaque whatever alpha, so they stay distinct from every class.
cv::Mat mask_overlay(const cv::Mat& rgb, const Mask& mask, const Palette& palette, int ignore, double alpha);

// The colour of a heat-map value in [0, 1] (clamped): OpenCV's JET colour map,
// as the field draws CAMs (and as wsss-cam --preview always has), at level
// round(255 * value).
const Rgb& heat_color(float value);
const std::array<Rgb, 256>& heat_lut();

// A score-map channel (`width` x `height`, row-major; values clamped to [0, 1])
// as a heat map over an image: the channel is resized bilinearly to the image
// when their sizes differ, coloured by heat_color and blended as
// round((1 - alpha) * image + alpha * colour).
cv::Mat heat_overlay(const cv::Mat& rgb, const float* values, int width, int height, double alpha);

// Where a prediction agrees with the ground truth, and how it is wrong.
enum class ErrorKind : std::uint8_t {
  CorrectBackground,  // GT 0, prediction 0
  CorrectForeground,  // GT c > 0, prediction c
  WrongClass,         // GT c > 0, prediction another foreground class
  MissedForeground,   // GT c > 0, prediction background
  FalseForeground,    // GT 0, prediction foreground
  PredIgnored,        // GT scored, prediction 255 (an unsure pseudo-mask pixel)
  GtIgnored,          // GT 255: not scored
};
constexpr int kErrorKinds = 7;
const Rgb& error_color(ErrorKind kind);
const char* error_name(ErrorKind kind);  // "wrong class", ...

// The kind of each pixel of a prediction against its GT (same size; the caller
// checks). `ignore` is the vocabulary's ignore id.
std::vector<ErrorKind> error_kinds(const Mask& gt, const Mask& pred, int ignore);
// The error map as colours (error_color of each pixel's kind).
cv::Mat error_map(const Mask& gt, const Mask& pred, int ignore);

// Layout. Pictures are composed on white with black titles.
struct Panel {
  std::string title;
  cv::Mat rgb;
};

// Resizes a picture so that its longer side is `long_side` (0: unchanged):
// area averaging when shrinking, nearest neighbour when enlarging or when
// `crisp` (masks and error maps keep their exact colours).
cv::Mat fit(const cv::Mat& rgb, int long_side, bool crisp = false);
// A panel with its title in a bar above it (the title is shortened to fit).
cv::Mat titled(const Panel& panel);
// Panels left to right, titled, with a gap between them.
cv::Mat panel_row(const std::vector<Panel>& panels);
// Rows top to bottom, left-aligned, with a gap between them (narrower rows are
// padded with white).
cv::Mat stack_rows(const std::vector<cv::Mat>& rows);
// The error colours and their names, wrapped to `width` pixels.
cv::Mat error_legend(int width);

inline constexpr int kTitleHeight = 16;
inline constexpr int kGap = 4;

}  // namespace wsss::viz
