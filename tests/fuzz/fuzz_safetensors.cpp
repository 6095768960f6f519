// libFuzzer target: safetensors weight files (io/safetensors). A file that
// parses has tensors whose byte ranges lie inside the data, match their dtype
// and shape and do not overlap; every tensor converts to numel floats; the
// header-only reader agrees with the whole-file reader.
#include <algorithm>

#include "fuzz_util.hpp"
#include "wsss/io/safetensors.hpp"

using namespace wsss;
namespace st = wsss::safetensors;
using wsss_fuzz::require;
namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wsss_fuzz::quiet();
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  bool whole_ok = false;
  std::vector<std::string> names;
  wsss_fuzz::expect_clean("fuzz.safetensors", [&] {
    st::File f = st::File::parse(bytes, "fuzz.safetensors");
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (const st::TensorInfo& t : f.tensors()) {
      names.push_back(t.name);
      require(t.begin <= t.end, "reversed range accepted");
      std::uint64_t n = 1;
      for (std::int64_t d : t.shape) {
        require(d >= 0, "negative dimension accepted");
        n *= std::uint64_t(d);
      }
      require(n * st::dtype_size(t.dtype) == t.nbytes(), "range does not match dtype and shape: " + t.name);
      std::vector<float> values = f.to_float(t);
      require(values.size() == n, "to_float gave the wrong count: " + t.name);
      require(f.find(t.name) == &t, "find() misses " + t.name);
      if (t.nbytes() > 0) ranges.emplace_back(t.begin, t.end);
    }
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t i = 1; i < ranges.size(); ++i)
      require(ranges[i - 1].second <= ranges[i].first, "overlapping tensors accepted");
    // What the toolkit writes from these tensors parses back to the same tensors.
    std::vector<st::TensorView> views;
    for (const st::TensorInfo& t : f.tensors()) views.push_back({t.name, t.dtype, t.shape, f.data(t)});
    std::string encoded;
    try {
      encoded = st::encode(views, f.metadata());
    } catch (const std::exception& e) {
      wsss_fuzz::fail(std::string("the reader accepts tensors the writer refuses: ") + e.what());
    }
    st::File again = st::File::parse(encoded, "fuzz-again.safetensors");
    require(again.tensors().size() == f.tensors().size() && again.metadata() == f.metadata(), "round trip differs");
    for (std::size_t i = 0; i < f.tensors().size(); ++i) {
      const st::TensorInfo &a = f.tensors()[i], &b = again.tensors()[i];
      require(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape &&
                  std::equal(f.data(a), f.data(a) + a.nbytes(), again.data(b)),
              "round trip changed tensor " + a.name);
    }
    whole_ok = true;
  });
  // The header-only reader (used to learn a model's architecture) must accept
  // what the whole reader accepts, with the same tensors.
  const fs::path file = wsss_fuzz::input_file("fuzz.safetensors", data, size);
  wsss_fuzz::expect_clean("fuzz.safetensors", [&] {
    st::File h = st::File::read_header(file);
    if (whole_ok) {
      require(h.tensors().size() == names.size(), "header-only reader sees other tensors");
      for (std::size_t i = 0; i < names.size(); ++i) require(h.tensors()[i].name == names[i], "header-only names differ");
    }
  });
  if (whole_ok) {
    try {
      st::File::read_header(file);
    } catch (const std::exception& e) {
      wsss_fuzz::fail(std::string("header-only reader refuses a file the whole reader accepts: ") + e.what());
    }
  }
  return 0;
}
