#pragma once
// Image transforms of the reference pipelines (IRN's imutils), on OpenCV images.
// Images are RGB uint8 in, float32 CHW (ImageNet-normalised) out.
//
// Resizing: the reference uses PIL's bicubic (a = -0.5, antialiased when
// shrinking); OpenCV's INTER_CUBIC uses a = -0.75 and no antialiasing. We use
// INTER_CUBIC when enlarging and INTER_AREA when shrinking by more than 2x, which
// stays closer to PIL than INTER_CUBIC alone. docs/cam.md gives the measured
// agreement with PIL.
#include <cstdint>
#include <opencv2/core.hpp>
#include <random>
#include <string>
#include <vector>

namespace wsss {

struct Normalization {
  float mean[3] = {0.485f, 0.456f, 0.406f};  // ImageNet, RGB, on [0,1]
  float std[3] = {0.229f, 0.224f, 0.225f};
};

// A float32 image in CHW layout.
struct ChwImage {
  int channels = 3, height = 0, width = 0;
  std::vector<float> data;
  float* plane(int c) { return data.data() + std::size_t(c) * height * width; }
  const float* plane(int c) const { return data.data() + std::size_t(c) * height * width; }
};

// IRN's pil_rescale target size: np.round(h*s), np.round(w*s) (half to even), at least 1.
cv::Size scaled_size(cv::Size size, double scale);
cv::Mat resize_image(const cv::Mat& rgb, cv::Size size);    // bicubic (see above)
cv::Mat resize_labels(const cv::Mat& labels, cv::Size size); // nearest

ChwImage normalize(const cv::Mat& rgb, const Normalization& n = {});
ChwImage flip_horizontal(const ChwImage& image);

// IRN random_resize_long: the long side becomes a random integer in [lo, hi].
cv::Mat random_resize_long(const cv::Mat& rgb, int lo, int hi, std::mt19937_64& rng);

// IRN random_crop: a crop x crop window; where the image is smaller, it is placed
// at a random offset in a container filled with `fill` (0 after normalisation).
ChwImage random_crop(const ChwImage& image, int crop, float fill, std::mt19937_64& rng);

// IRN's VOC12SegmentationDataset sample, on which IRN's edge network and AMN
// train: a random rescale by a factor in [scale_min, scale_max] (bicubic image,
// nearest labels), ImageNet normalisation, a random horizontal flip, and a random
// crop x crop window (random_crop: the image padded with 0, the labels with 255).
// The random source is drawn in that order.
struct LabelledCrop {
  ChwImage image;                    // 3 x crop x crop
  std::vector<std::uint8_t> labels;  // crop x crop, row-major
};
LabelledCrop random_labelled_crop(const cv::Mat& rgb, const cv::Mat& labels, double scale_min, double scale_max,
                                  int crop, std::mt19937_64& rng);

// Training data order and augmentation depend only on the seed, the epoch and the
// image id, so a resumed run sees exactly the batches of an uninterrupted one and
// the loader's thread timing cannot change them.
// The visiting order of an epoch: a seeded shuffle of 0..n-1.
std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::uint64_t epoch);
// The random source of one image's augmentation in an epoch.
std::mt19937_64 augmentation_rng(std::uint64_t seed, std::uint64_t epoch, const std::string& id);

}  // namespace wsss
