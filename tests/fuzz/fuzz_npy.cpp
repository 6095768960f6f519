// libFuzzer target: score maps as .npy (io/npy). A map that reads has shape
// [k, H, W] and exactly k*H*W values (every one is touched, so a shape that
// overflows into a short buffer shows up under ASan).
#include <cmath>

#include "fuzz_util.hpp"
#include "wsss/io/npy.hpp"

using namespace wsss;
using wsss_fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wsss_fuzz::quiet();
  const fs::path file = wsss_fuzz::input_file("fuzz.npy", data, size);
  for (bool allow_non_finite : {false, true}) {
    wsss_fuzz::expect_clean("fuzz.npy", [&] {
      ScoreMap m = read_npy(file, allow_non_finite);
      require(m.shape.size() == 3, "score map without three dimensions");
      std::size_t count = 1;
      for (std::int64_t d : m.shape) {
        require(d >= 0, "negative dimension");
        count *= std::size_t(d);
      }
      require(m.data.size() == count, "data size differs from the shape");
      require(std::size_t(m.channels()) * std::size_t(m.height()) * std::size_t(m.width()) == m.data.size(),
              "channels*height*width differs from the data size");
      // Read every value through channel(), as the stages do.
      volatile float sink = 0;
      for (std::int64_t c = 0; c < m.channels(); ++c)
        for (std::int64_t i = 0; i < m.height() * m.width(); ++i) {
          const float v = m.channel(c)[i];
          require(allow_non_finite || std::isfinite(v), "non-finite value accepted");
          sink = v;
        }
      (void)sink;
    });
  }
  return 0;
}
