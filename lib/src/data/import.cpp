#include "wsss/data/import.hpp"

#include <algorithm>
#include <unordered_set>

#include "wsss/core/error.hpp"
#include "wsss/core/hash.hpp"

namespace wsss {

Manifest in_memory_manifest(std::vector<Record> records, const fs::path& source, const std::string& source_bytes,
                            bool allow_empty) {
  if (records.empty() && !allow_empty) throw InputError(source, "no images to import (use --allow-empty to accept)");
  std::stable_sort(records.begin(), records.end(),
                   [](const Record& a, const Record& b) { return record_id(a) < record_id(b); });
  for (std::size_t i = 1; i < records.size(); ++i)
    if (record_id(records[i]) == record_id(records[i - 1]))
      throw InputError(source, "duplicate id " + quote_id(record_id(records[i])));
  Manifest m;
  m.path = source;
  m.dir = fs::absolute(source).parent_path();
  m.records = std::move(records);
  m.content_hash = hex64(fnv1a64(source_bytes));
  return m;
}

void require_file(const fs::path& file, const std::string& what, const std::string& where) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw InputError(where, what + " " + file.string() + " not found");
}

}  // namespace wsss
