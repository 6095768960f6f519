#include "wsss/data/pil_resize.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace wsss {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images

double filter_value(PilFilter f, double x) {
  x = std::fabs(x);
  if (f == PilFilter::Bilinear) return x < 1.0 ? 1.0 - x : 0.0;
  const double a = -0.5;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double filter_support(PilFilter f) { return f == PilFilter::Bilinear ? 1.0 : 2.0; }

// Pillow's precompute_coeffs + normalize_coeffs_8bpc: for each output index the
// first input index, the tap count and ksize fixed-point weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<std::int32_t> weights;  // out_size x ksize
};

Coeffs precompute(int in_size, int out_size, PilFilter f) {
  const double scale = double(float(in_size)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support(f) * filterscale;
  Coeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.first.resize(std::size_t(out_size));
  c.count.resize(std::size_t(out_size));
  c.weights.assign(std::size_t(out_size) * std::size_t(c.ksize), 0);
  std::vector<double> k(std::size_t(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);  // C truncation, as Pillow
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[std::size_t(x)] = filter_value(f, (x + xmin - center + 0.5) * ss);
      ww += k[std::size_t(x)];
    }
    for (int x = 0; x < xmax; ++x) {
      double w = ww != 0.0 ? k[std::size_t(x)] / ww : k[std::size_t(x)];
      double fixed = w * double(1 << kPrecisionBits);
      c.weights[std::size_t(xx) * std::size_t(c.ksize) + std::size_t(x)] =
          std::int32_t(w < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    c.first[std::size_t(xx)] = xmin;
    c.count[std::size_t(xx)] = xmax;
  }
  return c;
}

inline std::uint8_t clip8(std::int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return std::uint8_t(v >> kPrecisionBits);
}

cv::Mat horizontal(const cv::Mat& in, int out_w, PilFilter f) {
  const int ch = in.channels();
  Coeffs c = precompute(in.cols, out_w, f);
  cv::Mat out(in.rows, out_w, in.type());
  for (int y = 0; y < in.rows; ++y) {
    const std::uint8_t* src = in.ptr<std::uint8_t>(y);
    std::uint8_t* dst = out.ptr<std::uint8_t>(y);
    for (int xx = 0; xx < out_w; ++xx) {
      const std::int32_t* k = &c.weights[std::size_t(xx) * std::size_t(c.ksize)];
      const int xmin = c.first[std::size_t(xx)], n = c.count[std::size_t(xx)];
      for (int b = 0; b < ch; ++b) {
        std::int32_t ss = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < n; ++x) ss += std::int32_t(src[(x + xmin) * ch + b]) * k[x];
        dst[xx * ch + b] = clip8(ss);
      }
    }
  }
  return out;
}

cv::Mat vertical(const cv::Mat& in, int out_h, PilFilter f) {
  const int row = in.cols * in.channels();
  Coeffs c = precompute(in.rows, out_h, f);
  cv::Mat out(out_h, in.cols, in.type());
  // Row by row accumulation (integer sums: the order does not change the result).
  std::vector<std::int32_t> acc(static_cast<std::size_t>(row));
  for (int yy = 0; yy < out_h; ++yy) {
    const std::int32_t* k = &c.weights[std::size_t(yy) * std::size_t(c.ksize)];
    const int ymin = c.first[std::size_t(yy)], n = c.count[std::size_t(yy)];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < n; ++y) {
      const std::uint8_t* src = in.ptr<std::uint8_t>(y + ymin);
      const std::int32_t w = k[y];
      for (int i = 0; i < row; ++i) acc[std::size_t(i)] += std::int32_t(src[i]) * w;
    }
    std::uint8_t* dst = out.ptr<std::uint8_t>(yy);
    for (int i = 0; i < row; ++i) dst[i] = clip8(acc[std::size_t(i)]);
  }
  return out;
}

}  // namespace

cv::Mat pil_resize(const cv::Mat& image, cv::Size size, PilFilter filter) {
  if (image.depth() != CV_8U || image.channels() < 1 || image.channels() > 4)
    throw std::invalid_argument("pil_resize: expected an 8-bit image with 1-4 channels");
  if (size.width < 1 || size.height < 1 || image.empty())
    throw std::invalid_argument("pil_resize: empty image or target size");
  // Pillow skips a pass whose size does not change (and copies when neither does).
  cv::Mat out = image.isContinuous() ? image : image.clone();
  if (size.width != image.cols) out = horizontal(out, size.width, filter);
  if (size.height != image.rows) out = vertical(out, size.height, filter);
  return out.data == image.data ? image.clone() : out;
}

}  // namespace wsss
