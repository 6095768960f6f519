// libFuzzer target: VOC annotation XML (data/voc): the object-name scanner, the
// labels it gives through the VOC vocabulary, and (the same bytes) a split list.
#include "fuzz_util.hpp"
#include "wsss/data/voc.hpp"

using namespace wsss;
using wsss_fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wsss_fuzz::quiet();
  const std::string xml(reinterpret_cast<const char*>(data), size);
  wsss_fuzz::expect_clean("fuzz.xml", [&] {
    for (const voc::ObjectName& o : voc::object_names(xml, "fuzz.xml"))
      require(o.line >= 1, "object name without a line number");
  });
  const fs::path file = wsss_fuzz::input_file("fuzz.xml", data, size);
  static const Vocabulary voc12 = builtin_vocabulary("voc12");
  wsss_fuzz::expect_clean("fuzz.xml", [&] {
    std::vector<int> labels = voc::labels_from_xml(file, voc12);
    for (std::size_t i = 0; i < labels.size(); ++i)
      require(labels[i] >= 1 && labels[i] <= 20 && (i == 0 || labels[i - 1] < labels[i]), "bad VOC labels");
  });
  const fs::path list = wsss_fuzz::input_file("fuzz-split.txt", data, size);
  wsss_fuzz::expect_clean("fuzz-split.txt", [&] {
    for (const std::string& id : voc::read_split_list(list)) require(!id.empty(), "empty id in a split list");
  });
  return 0;
}
