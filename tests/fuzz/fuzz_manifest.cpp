// libFuzzer target: JSON Lines manifests (io/manifest). A manifest that parses
// must hold unique non-empty ids in sorted order and absolute path fields, must
// survive a write-and-read round trip, and every id must either be refused as a
// file name or give one inside OUT_DIR (no "../x" escapes).
#include <set>

#include "fuzz_util.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/stage/stage.hpp"

using namespace wsss;
using wsss_fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wsss_fuzz::quiet();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const fs::path dir = "/fuzz/data";
  const fs::path out = "/fuzz/out";
  wsss_fuzz::expect_clean("fuzz.jsonl", [&] {
    ManifestReadOptions opt;
    opt.allow_empty = size % 2 == 0;
    Manifest m = parse_manifest(text, "fuzz.jsonl", dir, opt);
    std::set<std::string> ids;
    std::string previous;
    std::string written;
    for (const Record& r : m.records) {
      const std::string& id = record_id(r);
      require(!id.empty(), "empty id accepted");
      require(ids.insert(id).second, "duplicate id accepted: " + id);
      require(previous.empty() || previous < id, "records not sorted by id");
      previous = id;
      for (auto it = r.begin(); it != r.end(); ++it)
        if (is_path_field(it.key()))
          require(it.value().is_string() && fs::path(it.value().get<std::string>()).is_absolute(),
                  "path field '" + it.key() + "' not absolute after parsing");
      // The labels rule: throws InputError or gives ids in range, sorted, unique.
      wsss_fuzz::expect_clean("fuzz.jsonl", [&] {
        std::vector<int> labels = record_labels(r, 20, "fuzz.jsonl");
        for (std::size_t i = 0; i < labels.size(); ++i)
          require(labels[i] >= 1 && labels[i] <= 20 && (i == 0 || labels[i - 1] < labels[i]), "bad labels");
      });
      // An id is a file name under OUT_DIR or refused; never a path outside it.
      try {
        fs::path f = item_file(out, "masks", id, ".png").lexically_normal();
        std::string s = f.string();
        require(s.rfind((out / "masks").string() + "/", 0) == 0, "id '" + id + "' escapes OUT_DIR: " + s);
      } catch (const Error&) {
      }
      written += format_record(r, dir) + "\n";
    }
    // Round trip: what the toolkit writes reads back to the same records.
    Manifest again = parse_manifest(written, "fuzz-again.jsonl", dir, {true});
    require(again.records.size() == m.records.size(), "round trip changed the record count");
    for (std::size_t i = 0; i < m.records.size(); ++i)
      require(again.records[i] == m.records[i], "round trip changed record " + record_id(m.records[i]));
  });
  return 0;
}
