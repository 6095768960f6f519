#include "wsss/data/transforms.hpp"

#include <algorithm>
#include <numeric>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "wsss/stage/stage.hpp"

namespace wsss {

cv::Size scaled_size(cv::Size size, double scale) {
  // np.round rounds half to even (75 * 1.5 = 112.5 -> 112); nearbyint does the same.
  return {std::max(1, int(std::nearbyint(size.width * scale))), std::max(1, int(std::nearbyint(size.height * scale)))};
}

cv::Mat resize_image(const cv::Mat& rgb, cv::Size size) {
  if (size == rgb.size()) return rgb.clone();
  bool big_shrink = size.width * 2 < rgb.cols && size.height * 2 < rgb.rows;
  cv::Mat out;
  cv::resize(rgb, out, size, 0, 0, big_shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

cv::Mat resize_labels(const cv::Mat& labels, cv::Size size) {
  cv::Mat out;
  cv::resize(labels, out, size, 0, 0, cv::INTER_NEAREST);
  return out;
}

ChwImage normalize(const cv::Mat& rgb, const Normalization& n) {
  ChwImage out;
  out.height = rgb.rows;
  out.width = rgb.cols;
  out.data.resize(std::size_t(3) * rgb.rows * rgb.cols);
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0f / (255.0f * n.std[c]);
    shift[c] = -n.mean[c] / n.std[c];
  }
  for (int y = 0; y < rgb.rows; ++y) {
    const std::uint8_t* row = rgb.ptr<std::uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x)
      for (int c = 0; c < 3; ++c)
        out.data[(std::size_t(c) * rgb.rows + y) * rgb.cols + x] = row[3 * x + c] * scale[c] + shift[c];
  }
  return out;
}

ChwImage flip_horizontal(const ChwImage& image) {
  ChwImage out = image;
  for (int c = 0; c < image.channels; ++c)
    for (int y = 0; y < image.height; ++y) {
      const float* src = image.plane(c) + std::size_t(y) * image.width;
      float* dst = out.plane(c) + std::size_t(y) * image.width;
      std::reverse_copy(src, src + image.width, dst);
    }
  return out;
}

cv::Mat random_resize_long(const cv::Mat& rgb, int lo, int hi, std::mt19937_64& rng) {
  int target = std::uniform_int_distribution<int>(lo, hi)(rng);
  double scale = double(target) / std::max(rgb.rows, rgb.cols);
  return resize_image(rgb, scaled_size(rgb.size(), scale));
}

ChwImage random_crop(const ChwImage& image, int crop, float fill, std::mt19937_64& rng) {
  // Same offsets as IRN: per axis, either the crop moves inside the image or the
  // image moves inside the crop-sized container.
  auto offsets = [&](int size, int& src, int& dst, int& len) {
    int range = size - crop;
    int r = std::uniform_int_distribution<int>(0, std::abs(range))(rng);
    if (range >= 0) { src = r; dst = 0; len = crop; }
    else { src = 0; dst = r; len = size; }
  };
  int sy, dy, ly, sx, dx, lx;
  offsets(image.height, sy, dy, ly);
  offsets(image.width, sx, dx, lx);
  ChwImage out;
  out.channels = image.channels;
  out.height = out.width = crop;
  out.data.assign(std::size_t(image.channels) * crop * crop, fill);
  for (int c = 0; c < image.channels; ++c)
    for (int y = 0; y < ly; ++y) {
      const float* src = image.plane(c) + std::size_t(sy + y) * image.width + sx;
      std::copy(src, src + lx, out.plane(c) + std::size_t(dy + y) * crop + dx);
    }
  return out;
}

LabelledCrop random_labelled_crop(const cv::Mat& rgb, const cv::Mat& labels, double scale_min, double scale_max,
                                  int crop, std::mt19937_64& rng) {
  const double scale = std::uniform_real_distribution<double>(scale_min, scale_max)(rng);
  const cv::Size size = scaled_size(rgb.size(), scale);
  ChwImage chw = normalize(resize_image(rgb, size));
  cv::Mat lab = resize_labels(labels, size);
  // The labels ride along as a 4th channel holding label - 255, so the crop's fill
  // of 0 means "unsure" there while the colour channels get IRN's 0.
  ChwImage joint;
  joint.channels = 4;
  joint.height = chw.height;
  joint.width = chw.width;
  joint.data = std::move(chw.data);
  joint.data.resize(std::size_t(4) * joint.height * joint.width);
  float* lp = joint.plane(3);
  for (int y = 0; y < lab.rows; ++y)
    for (int x = 0; x < lab.cols; ++x) lp[std::size_t(y) * lab.cols + x] = float(lab.at<std::uint8_t>(y, x)) - 255.f;
  if (rng() & 1) joint = flip_horizontal(joint);
  ChwImage cropped = random_crop(joint, crop, 0.0f, rng);
  LabelledCrop out;
  out.labels.resize(std::size_t(crop) * crop);
  const float* cl = cropped.plane(3);
  for (std::size_t i = 0; i < out.labels.size(); ++i)
    out.labels[i] = static_cast<std::uint8_t>(std::lround(cl[i] + 255.f));
  cropped.data.resize(std::size_t(3) * crop * crop);
  cropped.channels = 3;
  out.image = std::move(cropped);
  return out;
}

std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 1000003ULL + epoch);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

std::mt19937_64 augmentation_rng(std::uint64_t seed, std::uint64_t epoch, const std::string& id) {
  return std::mt19937_64(item_seed(seed + epoch * 7919ULL, id));
}

}  // namespace wsss
