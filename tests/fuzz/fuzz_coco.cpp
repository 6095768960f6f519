// libFuzzer target: COCO instances JSON (data/coco): load_instances, then the
// semantic mask and labels of every image (painting only images of at most
// 2^16 pixels, to keep the fuzzer's memory small; the size check itself is
// what load_instances does for any size). The same bytes are also decoded as
// a compressed RLE string.
#include "fuzz_util.hpp"
#include "wsss/data/coco.hpp"

using namespace wsss;
using wsss_fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wsss_fuzz::quiet();
  const fs::path file = wsss_fuzz::input_file("fuzz-instances.json", data, size);
  wsss_fuzz::expect_clean("fuzz-instances.json", [&] {
    coco::Dataset ds = coco::load_instances(file);
    const int k = ds.vocabulary.num_foreground();
    require(k >= 1 && k <= 254, "vocabulary size out of range");
    for (std::size_t i = 0; i < ds.images.size(); ++i) {
      const coco::Image& im = ds.images[i];
      require(i == 0 || ds.images[i - 1].id < im.id, "images not sorted by id or duplicated");
      require(im.width > 0 && im.height > 0, "image without a size accepted");
      for (int c : coco::image_labels(im)) require(c >= 1 && c <= k, "label out of range");
      if (std::size_t(im.width) * std::size_t(im.height) > (1u << 16)) continue;
      Mask m = coco::paint_semantic(im, file);
      require(m.width == im.width && m.height == im.height, "mask size differs from the image's");
      for (std::uint8_t v : m.data) require(v <= k, "mask value above the class count");
    }
  });
  const std::string text(reinterpret_cast<const char*>(data), size);
  wsss_fuzz::expect_clean("", [&] { coco::decode_rle_counts(text); });
  return 0;
}
