// libFuzzer target: class vocabularies, classes.json (io/vocab). A vocabulary
// that loads has 2..255 distinct non-empty names and an ignore id outside them,
// and what the toolkit writes from it loads back equal.
#include <set>

#include "fuzz_util.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/vocab.hpp"

using namespace wsss;
using wsss_fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wsss_fuzz::quiet();
  const fs::path file = wsss_fuzz::input_file("fuzz-classes.json", data, size);
  wsss_fuzz::expect_clean("fuzz-classes.json", [&] {
    Vocabulary v = Vocabulary::load(file);
    require(v.size() >= 2 && v.size() <= 255, "class count out of range");
    require(v.ignore >= v.size() && v.ignore <= 255, "ignore id among the classes");
    std::set<std::string> names(v.classes.begin(), v.classes.end());
    require(names.size() == v.classes.size(), "duplicate class names accepted");
    for (int c = 0; c < v.size(); ++c) require(v.id_of(v.classes[std::size_t(c)]) == c, "id_of disagrees");
    const fs::path again_file = wsss_fuzz::scratch() / "fuzz-classes-again.json";
    write_file_atomic(again_file, v.to_json());
    Vocabulary again = Vocabulary::load(again_file);
    require(again.name == v.name && again.classes == v.classes && again.ignore == v.ignore &&
                again.palette == v.palette,
            "round trip changed the vocabulary");
  });
  return 0;
}
