#pragma once
// Label masks: 8-bit single-channel PNGs of class ids (255 = ignore), written as
// palette PNGs so they display like VOC's. Read with libspng because OpenCV
// expands palettes to colour and cannot write them.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace wsss {

namespace fs = std::filesystem;
using Palette = std::array<std::array<std::uint8_t, 3>, 256>;

struct Mask {
  int width = 0, height = 0;
  std::vector<std::uint8_t> data;  // row-major, height*width
  Mask() = default;
  Mask(int w, int h, std::uint8_t fill = 0) : width(w), height(h), data(std::size_t(w) * h, fill) {}
  std::uint8_t& at(int y, int x) { return data[std::size_t(y) * width + x]; }
  std::uint8_t at(int y, int x) const { return data[std::size_t(y) * width + x]; }
};

// The PASCAL VOC bit-interleaved colour map for all 256 indices.
const Palette& voc_palette();

// Decodes a palette (indices) or greyscale PNG; anything else is an InputError.
Mask decode_mask_png(const std::string& bytes, const fs::path& name);
Mask read_mask(const fs::path& file);

std::string encode_mask_png(const Mask& mask, const Palette& palette = voc_palette());
void write_mask(const fs::path& file, const Mask& mask, const Palette& palette = voc_palette());

// Width and height from a PNG or JPEG header without decoding the pixels.
std::pair<int, int> image_size(const fs::path& file);

}  // namespace wsss
