#pragma once
// Shared plumbing of the data importers (voc, coco, folder): an importer builds
// the records of a data set in memory and hands them to run_stage, which gives
// every importer the same sharding, clobber protection, meta.json and manifest.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "wsss/stage/stage.hpp"
#include "wsss/io/manifest.hpp"

namespace wsss {

// An in-memory input manifest (absolute paths) for run_stage: records sorted by
// id, `source` named in messages and `source_bytes` hashed for meta.json.
// Refuses an empty list unless allow_empty.
Manifest in_memory_manifest(std::vector<Record> records, const fs::path& source, const std::string& source_bytes,
                            bool allow_empty);

// The processor of importers whose records are complete before the stage runs
// except for per-item checks (`check` throws for a bad item).
class CheckOnlyProcessor : public ItemProcessor {
 public:
  using Check = std::function<void(const Record&)>;
  explicit CheckOnlyProcessor(Check check) : check_(std::move(check)) {}
  std::vector<fs::path> outputs(const Record&) const override { return {}; }
  std::vector<std::string> fields() const override { return {}; }
  Record process(const Record& input, std::uint64_t) override {
    check_(input);
    return Record::object();
  }

 private:
  Check check_;
};

// Throws InputError naming `where` unless `file` is an existing regular file.
void require_file(const fs::path& file, const std::string& what, const std::string& where);

}  // namespace wsss
