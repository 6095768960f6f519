#pragma once
// IRN's inter-pixel relation labels (IR labels: 0 background, 1..K classes, 255
// unsure; `wsss-pseudo --ignore irn --out-field ir_label`) as the trainers and
// stages that read them check them: IRN's edge network, AMN's training and AMN's
// inference.
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "wsss/io/manifest.hpp"

namespace wsss {

namespace fs = std::filesystem;

// The label PNG in `field` of record `r` as CV_8UC1. InputError naming the file
// and the item when the field or the file is missing, when its size is not
// `image_size`, or when a pixel is neither 255 (unsure) nor a class id 0..K;
// with `image_labels`, a foreground id must also be one of them (the image's
// labels), the pixel's position named.
cv::Mat read_ir_label(const Record& r, const std::string& field, const fs::path& manifest, int num_foreground,
                      cv::Size image_size, const std::vector<int>* image_labels = nullptr);

}  // namespace wsss
