#pragma once
// Colour images via OpenCV, always handed out as RGB uint8 (the reference code
// reads RGB with imageio/PIL; OpenCV's BGR is converted once here).
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>

namespace wsss {

namespace fs = std::filesystem;

// Reads a colour image as CV_8UC3 RGB; throws InputError naming the file. A
// JPEG whose data is truncated or damaged is an error, although libjpeg would
// decode it with grey fill (docs/formats.md, "Images"). Pixels come as stored:
// an EXIF orientation is not applied, because masks and annotations (VOC's
// PNGs, COCO's polygons at the JSON's size) and the file headers whose sizes
// every stage compares are in stored order too.
cv::Mat read_image_rgb(const fs::path& file);
// The same for the bytes of `file` already in memory.
cv::Mat decode_image_rgb(const std::string& bytes, const fs::path& file);
// The EXIF orientation (1..8) of a JPEG's APP1 segment, or 0 when it has none
// (or is no JPEG). 1 is "as stored"; the others ask viewers to rotate or flip.
int exif_orientation(const std::string& bytes);
// Writes an RGB image atomically; the format follows the extension.
// `png_compression` 0..9 (zlib's level; -1: OpenCV's default, fast) changes the
// size of a PNG, never its pixels.
void write_image_rgb(const fs::path& file, const cv::Mat& rgb, int png_compression = -1);
// Encodes an RGB image in memory: `ext` ".png" or ".jpg" (JPEG at `quality`,
// PNG at compression level `quality` when 0..9).
std::string encode_image_rgb(const cv::Mat& rgb, const std::string& ext, int quality = -1);

}  // namespace wsss
