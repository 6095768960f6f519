#pragma once
// Joining manifests by id: copies fields of one manifest's records into
// another's, e.g. a prediction stage's "mask" as "pred" next to the GT "mask".
#include <string>
#include <vector>

#include "wsss/io/manifest.hpp"

namespace wsss {

struct JoinField {
  std::string from;  // field name in the second manifest
  std::string to;    // field name in the result
  // Parses "FIELD" or "FIELD:NEWNAME"; throws UsageError.
  static JoinField parse(const std::string& text);
};

enum class JoinMissing {
  Error,  // an id of A without a record (or the field) in B is an InputError
  Skip,   // such records of A are left out of the result
  Keep,   // such records of A are kept without the taken fields
};

struct JoinResult {
  std::vector<Record> records;  // sorted by id, path fields absolute
  std::size_t joined = 0, skipped = 0, kept = 0, unmatched_b = 0;
};

// Adds `take` fields of `b`'s records to the records of `a` with the same id.
// A field that already exists in A's record is an InputError: rename it with FIELD:NEWNAME.
JoinResult join_manifests(const Manifest& a, const Manifest& b, const std::vector<JoinField>& take,
                          JoinMissing missing);

// Per-image files of a folder as a manifest to join: for each record of `a`, the
// first of DIR/<id><ext> over `extensions` that exists becomes the record's
// `field` (absolute); ids without a file get no record (join_manifests' --missing
// decides). Imports e.g. a saliency model's maps by id.
Manifest folder_as_manifest(const Manifest& a, const fs::path& dir, const std::string& field,
                            const std::vector<std::string>& extensions);

}  // namespace wsss
