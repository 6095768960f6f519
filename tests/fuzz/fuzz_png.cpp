// libFuzzer target: label-mask PNGs (io/png, libspng) and the PNG/JPEG header
// reader (image_size). A decoded mask has width*height values and survives an
// encode-decode round trip byte for byte.
#include "fuzz_util.hpp"
#include "wsss/io/png.hpp"

using namespace wsss;
using wsss_fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wsss_fuzz::quiet();
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  wsss_fuzz::expect_clean("fuzz.png", [&] {
    Mask m = decode_mask_png(bytes, "fuzz.png");
    require(m.width > 0 && m.height > 0, "empty mask decoded");
    require(m.data.size() == std::size_t(m.width) * std::size_t(m.height), "mask size differs from width*height");
    Mask again = decode_mask_png(encode_mask_png(m), "fuzz-again.png");
    require(again.width == m.width && again.height == m.height && again.data == m.data, "round trip changed the mask");
  });
  const fs::path file = wsss_fuzz::input_file("fuzz.png", data, size);
  wsss_fuzz::expect_clean("fuzz.png", [&] {
    auto [w, h] = image_size(file);
    require(w >= 0 && h >= 0, "negative image size");
  });
  return 0;
}
