#include "wsss/io/image.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss {

cv::Mat read_image_rgb(const fs::path& file) {
  std::string bytes = read_file(file);
  if (bytes.empty()) throw InputError(file, "empty image file");
  cv::Mat raw(1, int(bytes.size()), CV_8UC1, bytes.data());
  cv::Mat bgr = cv::imdecode(raw, cv::IMREAD_COLOR);
  if (bgr.empty()) throw InputError(file, "corrupt or unsupported image");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

void write_image_rgb(const fs::path& file, const cv::Mat& rgb) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> buf;
  std::string ext = file.extension().string();
  if (!cv::imencode(ext.empty() ? ".png" : ext, bgr, buf)) throw Error(file.string() + ": cannot encode image");
  write_file_atomic(file, std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}

}  // namespace wsss
