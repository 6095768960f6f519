#pragma once
// Score maps (CAMs) as NumPy .npy files: float16 or float32, C order, shape
// [k, H, W] for an image's k classes in ascending id order.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace wsss {

namespace fs = std::filesystem;

struct ScoreMap {
  std::vector<std::int64_t> shape;  // [k, H, W]
  std::vector<float> data;
  std::int64_t channels() const { return shape.empty() ? 0 : shape[0]; }
  std::int64_t height() const { return shape.size() > 1 ? shape[1] : 0; }
  std::int64_t width() const { return shape.size() > 2 ? shape[2] : 0; }
  const float* channel(std::int64_t c) const { return data.data() + c * height() * width(); }
};

enum class NpyDType { Float32, Float16 };

std::string encode_npy(const float* data, const std::vector<std::int64_t>& shape, NpyDType dtype);
void write_npy(const fs::path& file, const float* data, const std::vector<std::int64_t>& shape,
               NpyDType dtype = NpyDType::Float32);
// Accepts little-endian float16/float32, C order. NaN/Inf are reported unless allowed.
ScoreMap read_npy(const fs::path& file, bool allow_non_finite = false);

std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t value);

}  // namespace wsss
