#include "wsss/data/ir_label.hpp"

#include <algorithm>

#include "wsss/core/error.hpp"
#include "wsss/io/png.hpp"

namespace wsss {

namespace {

constexpr std::uint8_t kUnsure = 255;

}  // namespace

cv::Mat read_ir_label(const Record& r, const std::string& field, const fs::path& manifest, int num_foreground,
                      cv::Size image_size, const std::vector<int>* image_labels) {
  const fs::path file = record_path(r, field, manifest);
  const std::string& id = record_id(r);
  if (!fs::exists(file)) throw InputError(file, "item " + quote_id(id) + ": the " + field + " file does not exist");
  Mask mask = read_mask(file);
  if (mask.width != image_size.width || mask.height != image_size.height)
    throw InputError(file, "item " + quote_id(id) + ": " + field + " is " + std::to_string(mask.width) + "x" +
                               std::to_string(mask.height) + " but the image is " + std::to_string(image_size.width) +
                               "x" + std::to_string(image_size.height));
  // allowed[v]: 0 and 255 always; a class id when it is in range (and, with
  // image_labels, among them).
  bool allowed[256] = {};
  allowed[0] = allowed[kUnsure] = true;
  if (image_labels) {
    for (int c : *image_labels)
      if (c >= 1 && c <= num_foreground && c < 255) allowed[c] = true;
  } else {
    for (int c = 1; c <= std::min(num_foreground, 254); ++c) allowed[c] = true;
  }
  for (std::size_t i = 0; i < mask.data.size(); ++i) {
    const int v = mask.data[i];
    if (allowed[v]) continue;
    const std::string where = " at (x=" + std::to_string(i % std::size_t(mask.width)) +
                              ", y=" + std::to_string(i / std::size_t(mask.width)) + ")";
    if (v > num_foreground || !image_labels)
      throw InputError(file, "item " + quote_id(id) + ": label " + std::to_string(v) + where + " is outside 0.." +
                                 std::to_string(num_foreground) + " and not 255 (unsure)");
    std::string labels;
    for (int c : *image_labels) labels += (labels.empty() ? "" : ",") + std::to_string(c);
    throw InputError(file, "item " + quote_id(id) + ": label " + std::to_string(v) + where +
                               " is not among the image's labels [" + labels + "]");
  }
  return cv::Mat(mask.height, mask.width, CV_8UC1, mask.data.data()).clone();
}

}  // namespace wsss
