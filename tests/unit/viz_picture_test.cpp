// Pictures (wsss-viz, wsss-cam --preview, the report): pixel values on tiny
// inputs against colours known independently of the code (VOC's colour map,
// the ends of JET) and against the blending formula written out here.
#include <catch2/catch.hpp>

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "wsss/core/error.hpp"
#include "wsss/io/png.hpp"
#include "wsss/viz/picture.hpp"

using namespace wsss;
using namespace wsss::viz;

namespace {

cv::Vec3b px(const cv::Mat& m, int y, int x) { return m.at<cv::Vec3b>(y, x); }
cv::Vec3b rgb(int r, int g, int b) { return cv::Vec3b(std::uint8_t(r), std::uint8_t(g), std::uint8_t(b)); }
cv::Vec3b vec(const Rgb& c) { return rgb(c[0], c[1], c[2]); }

cv::Mat constant_image(int w, int h, int r, int g, int b) { return cv::Mat(h, w, CV_8UC3, cv::Scalar(r, g, b)); }

// The JET level (0..255) of an unblended heat colour, by exact match.
int heat_level(const cv::Vec3b& c) {
  for (int i = 0; i < 256; ++i)
    if (vec(heat_lut()[std::size_t(i)]) == c) return i;
  return -1;
}

}  // namespace

TEST_CASE("a known mask gives VOC's palette colours, 255 included", "[viz]") {
  Mask m(3, 2);
  m.data = {0, 1, 2, 15, 255, 7};
  const cv::Mat c = mask_colors(m, voc_palette());
  REQUIRE(c.type() == CV_8UC3);
  REQUIRE((c.cols == 3 && c.rows == 2));
  CHECK(px(c, 0, 0) == rgb(0, 0, 0));        // background
  CHECK(px(c, 0, 1) == rgb(128, 0, 0));      // aeroplane
  CHECK(px(c, 0, 2) == rgb(0, 128, 0));      // bicycle
  CHECK(px(c, 1, 0) == rgb(192, 128, 128));  // person
  CHECK(px(c, 1, 1) == rgb(224, 224, 192));  // 255: VOC's cream
  CHECK(px(c, 1, 2) == rgb(128, 128, 128));  // car
}

TEST_CASE("mask overlays blend classes with the image and paint 255 opaque", "[viz]") {
  Mask m(4, 1);
  m.data = {0, 1, 255, 3};
  const cv::Mat image = constant_image(4, 1, 100, 101, 30);
  // alpha 1: the palette itself, alpha 0: the image, except 255 in both.
  const cv::Mat full = mask_overlay(image, m, voc_palette(), 255, 1.0);
  CHECK(px(full, 0, 0) == rgb(0, 0, 0));
  CHECK(px(full, 0, 1) == rgb(128, 0, 0));
  CHECK(px(full, 0, 2) == rgb(224, 224, 192));
  CHECK(px(full, 0, 3) == rgb(128, 128, 0));
  const cv::Mat none = mask_overlay(image, m, voc_palette(), 255, 0.0);
  CHECK(px(none, 0, 0) == rgb(100, 101, 30));
  CHECK(px(none, 0, 2) == rgb(224, 224, 192));
  // alpha 0.5: round((image + colour) / 2), halves rounded up.
  const cv::Mat half = mask_overlay(image, m, voc_palette(), 255, 0.5);
  CHECK(px(half, 0, 0) == rgb(50, 51, 15));    // (100+0)/2, (101+0)/2 = 50.5 -> 51, 30/2
  CHECK(px(half, 0, 1) == rgb(114, 51, 15));   // (100+128)/2
  CHECK(px(half, 0, 2) == rgb(224, 224, 192));
  CHECK(px(half, 0, 3) == rgb(114, 115, 15));  // (101+128)/2 = 114.5 -> 115
  // 255 stays distinct from every class over any image at any opacity.
  for (int v = 0; v < 21; ++v) {
    Mask one(1, 1, std::uint8_t(v));
    for (double a : {0.3, 0.5, 1.0})
      for (int grey : {0, 128, 255})
        CHECK(px(mask_overlay(constant_image(1, 1, grey, grey, grey), one, voc_palette(), 255, a), 0, 0) !=
              rgb(224, 224, 192));
  }
  CHECK_THROWS_AS(mask_overlay(constant_image(3, 1, 0, 0, 0), m, voc_palette(), 255, 0.5), Error);
}

TEST_CASE("heat colours are JET from dark blue to dark red, clamped", "[viz]") {
  CHECK(vec(heat_color(0.f)) == rgb(0, 0, 128));
  CHECK(vec(heat_color(1.f)) == rgb(128, 0, 0));
  CHECK(vec(heat_color(-3.f)) == vec(heat_color(0.f)));
  CHECK(vec(heat_color(7.f)) == vec(heat_color(1.f)));
  CHECK(vec(heat_color(std::nanf(""))) == vec(heat_color(0.f)));
  CHECK(vec(heat_color(0.5f)) == vec(heat_lut()[128]));  // round(127.5)
  // Distinct levels, so a colour tells its level back.
  for (int i = 1; i < 256; ++i) CHECK(heat_lut()[std::size_t(i)] != heat_lut()[std::size_t(i - 1)]);
}

TEST_CASE("a heat map's maximum is at the CAM's maximum", "[viz]") {
  const int w = 9, h = 7, px0 = 6, py0 = 2;
  std::vector<float> cam(std::size_t(w * h));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      cam[std::size_t(y * w + x)] = std::exp(-float((x - px0) * (x - px0) + (y - py0) * (y - py0)) / 6.f);
  const cv::Mat image = constant_image(w, h, 90, 90, 90);
  const cv::Mat heat = heat_overlay(image, cam.data(), w, h, 1.0);
  int best = -1, bx = -1, by = -1;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int level = heat_level(px(heat, y, x));
      REQUIRE(level == int(std::lround(cam[std::size_t(y * w + x)] * 255.f)));
      if (level > best) best = level, bx = x, by = y;
    }
  CHECK(best == 255);
  CHECK((bx == px0 && by == py0));
  // Blended: round((1 - a) * image + a * colour) per channel.
  const cv::Mat half = heat_overlay(image, cam.data(), w, h, 0.25);
  const Rgb& top = heat_color(1.f);
  CHECK(px(half, py0, px0) == rgb(int(std::floor(0.75 * 90 + 0.25 * top[0] + 0.5)),
                                  int(std::floor(0.75 * 90 + 0.25 * top[1] + 0.5)),
                                  int(std::floor(0.75 * 90 + 0.25 * top[2] + 0.5))));
  // A coarser map is resized onto the image: its peak stays where it was.
  std::vector<float> coarse = {0, 0, 0, 0, 0, 1, 0, 0, 0};  // 3x3, peak at (2, 1)
  const cv::Mat big = heat_overlay(constant_image(12, 12, 0, 0, 0), coarse.data(), 3, 3, 1.0);
  int big_best = -1, big_x = -1, big_y = -1;
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 12; ++x) {
      const int level = heat_level(px(big, y, x));
      REQUIRE(level >= 0);
      if (level > big_best) big_best = level, big_x = x, big_y = y;
    }
  CHECK(big_best > 200);
  CHECK(big_x >= 8);
  CHECK((big_y >= 4 && big_y <= 7));
}

TEST_CASE("error maps tell correct, wrong class, missed and false foreground apart", "[viz]") {
  Mask gt(8, 1), pred(8, 1);
  gt.data = {0, 3, 3, 3, 0, 2, 255, 255};
  pred.data = {0, 3, 5, 0, 4, 255, 1, 0};
  const std::vector<ErrorKind> kinds = error_kinds(gt, pred, 255);
  const std::vector<ErrorKind> want = {ErrorKind::CorrectBackground, ErrorKind::CorrectForeground,
                                       ErrorKind::WrongClass,        ErrorKind::MissedForeground,
                                       ErrorKind::FalseForeground,   ErrorKind::PredIgnored,
                                       ErrorKind::GtIgnored,         ErrorKind::GtIgnored};
  CHECK(kinds == want);
  const cv::Mat map = error_map(gt, pred, 255);
  for (int x = 0; x < 8; ++x) CHECK(px(map, 0, x) == vec(error_color(want[std::size_t(x)])));
  // Seven distinct colours and names.
  for (int a = 0; a < kErrorKinds; ++a)
    for (int b = a + 1; b < kErrorKinds; ++b) {
      CHECK(error_color(ErrorKind(a)) != error_color(ErrorKind(b)));
      CHECK(std::string(error_name(ErrorKind(a))) != error_name(ErrorKind(b)));
    }
  CHECK_THROWS_AS(error_kinds(gt, Mask(7, 1), 255), Error);
}

TEST_CASE("fit keeps exact colours when enlarging or crisp", "[viz]") {
  cv::Mat m(2, 4, CV_8UC3);
  for (int x = 0; x < 4; ++x) {
    m.at<cv::Vec3b>(0, x) = rgb(10 * x, 0, 0);
    m.at<cv::Vec3b>(1, x) = rgb(0, 10 * x, 255);
  }
  const cv::Mat big = fit(m, 8);
  REQUIRE((big.cols == 8 && big.rows == 4));
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x) CHECK(px(big, y, x) == px(m, y / 2, x / 2));
  const cv::Mat small = fit(big, 4, true);
  REQUIRE((small.cols == 4 && small.rows == 2));
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 4; ++x) CHECK(px(small, y, x) == px(m, y, x));
  CHECK(fit(m, 0).data == m.data);
}

TEST_CASE("panels are titled and laid out left to right, rows top to bottom", "[viz]") {
  const int wa = 40;
  const cv::Mat a = constant_image(wa, 3, 200, 0, 0), b = constant_image(7, 4, 0, 200, 0);
  const cv::Mat row = panel_row({{"first", a}, {"", b}});
  REQUIRE(row.rows == 4 + kTitleHeight);
  REQUIRE(row.cols == wa + kGap + 7);
  CHECK(px(row, kTitleHeight, 0) == rgb(200, 0, 0));
  CHECK(px(row, kTitleHeight + 2, wa - 1) == rgb(200, 0, 0));
  CHECK(px(row, kTitleHeight + 3, 0) == rgb(255, 255, 255));  // below the shorter panel
  CHECK(px(row, kTitleHeight, wa + kGap) == rgb(0, 200, 0));
  CHECK(px(row, kTitleHeight + 3, wa + kGap + 6) == rgb(0, 200, 0));
  // A title is drawn (dark pixels in its bar), an empty one leaves the bar white.
  auto dark_in = [&](int x0, int x1) {
    int n = 0;
    for (int y = 0; y < kTitleHeight; ++y)
      for (int x = x0; x < x1; ++x) n += px(row, y, x)[0] < 128;
    return n;
  };
  CHECK(dark_in(0, wa) > 0);
  CHECK(dark_in(wa + kGap, wa + kGap + 7) == 0);
  const cv::Mat stacked = stack_rows({b, a});
  REQUIRE((stacked.rows == 4 + kGap + 3 && stacked.cols == wa));
  CHECK(px(stacked, 0, 6) == rgb(0, 200, 0));
  CHECK(px(stacked, 0, 7) == rgb(255, 255, 255));  // right of the narrower row
  CHECK(px(stacked, 4 + kGap, wa - 1) == rgb(200, 0, 0));
}

TEST_CASE("the error legend shows every error colour", "[viz]") {
  const cv::Mat legend = error_legend(200);
  REQUIRE(legend.cols == 200);
  for (int k = 0; k < kErrorKinds; ++k) {
    bool found = false;
    for (int y = 0; y < legend.rows && !found; ++y)
      for (int x = 0; x < legend.cols && !found; ++x) found = px(legend, y, x) == vec(error_color(ErrorKind(k)));
    CHECK(found);
  }
}
