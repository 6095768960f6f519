#include <catch2/catch.hpp>

#include "wsss/data/pil_resize.hpp"

using namespace wsss;

namespace {

cv::Mat row(std::initializer_list<int> values) {
  cv::Mat m(1, int(values.size()), CV_8UC1);
  int i = 0;
  for (int v : values) m.at<std::uint8_t>(0, i++) = std::uint8_t(v);
  return m;
}

std::vector<int> values(const cv::Mat& m) {
  std::vector<int> out;
  for (int i = 0; i < int(m.total() * m.channels()); ++i) out.push_back(m.data[i]);
  return out;
}

}  // namespace

// Expected values worked out by hand from Pillow's Resample.c (triangle filter,
// support scaled by the reduction factor, taps normalised to sum 1).
TEST_CASE("pil_resize enlarges with PIL's bilinear taps", "[pil_resize]") {
  // Output centres 0.25, 0.75, 1.25, 1.75 in input pixels: the edges take one tap.
  CHECK(values(pil_resize(row({0, 200}), {4, 1})) == std::vector<int>{0, 50, 150, 200});
}

TEST_CASE("pil_resize shrinks with an antialiasing filter", "[pil_resize]") {
  // Halving: the support doubles, so each output averages three inputs with
  // weights 3/7, 3/7, 1/7 (OpenCV's INTER_LINEAR would give 35 and 175).
  CHECK(values(pil_resize(row({0, 70, 140, 210}), {2, 1})) == std::vector<int>{50, 160});
}

TEST_CASE("pil_resize keeps constant images and copies at the same size", "[pil_resize]") {
  cv::Mat c(13, 7, CV_8UC3, cv::Scalar(9, 120, 251));
  for (PilFilter f : {PilFilter::Bilinear, PilFilter::Bicubic}) {
    cv::Mat up = pil_resize(c, {31, 40}, f), down = pil_resize(c, {3, 2}, f);
    CHECK(cv::norm(up, cv::Mat(40, 31, CV_8UC3, cv::Scalar(9, 120, 251)), cv::NORM_INF) == 0);
    CHECK(cv::norm(down, cv::Mat(2, 3, CV_8UC3, cv::Scalar(9, 120, 251)), cv::NORM_INF) == 0);
  }
  cv::Mat same = pil_resize(c, {7, 13});
  CHECK(same.data != c.data);
  CHECK(cv::norm(same, c, cv::NORM_INF) == 0);
  CHECK_THROWS(pil_resize(c, {0, 3}));
  CHECK_THROWS(pil_resize(cv::Mat(3, 3, CV_32FC1, cv::Scalar(0)), {2, 2}));
}
