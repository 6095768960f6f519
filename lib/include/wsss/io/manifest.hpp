#pragma once
// JSON Lines manifests: one record per image with a unique string "id", sorted by
// id (byte order). Path fields are relative to the manifest's own directory on
// disk and absolute in memory, so stages can move records between directories.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace wsss {

namespace fs = std::filesystem;
using Record = nlohmann::ordered_json;

struct Manifest {
  fs::path path;                 // as given ("-" for stdin)
  fs::path dir;                  // directory that relative paths resolve against
  std::vector<Record> records;   // sorted by id
  std::string content_hash;      // fnv1a64 of the bytes read, hex
};

struct ManifestReadOptions {
  bool allow_empty = false;
};

// Reads and validates a manifest (or stdin for "-"). Problems are InputErrors
// naming the file and line: malformed JSON, a record that is not an object, a
// missing or non-string id, a duplicate id, an empty manifest.
Manifest read_manifest(const std::string& path, const ManifestReadOptions& options = {});

// Parses manifest text; `name` is used in messages, `dir` resolves relative paths.
// A UTF-8 byte-order mark at the start and CRLF line ends (Windows editors)
// are accepted.
Manifest parse_manifest(const std::string& text, const fs::path& name, const fs::path& dir,
                        const ManifestReadOptions& options = {});

// `text` without a leading UTF-8 byte-order mark.
std::string_view without_bom(std::string_view text);

// Fields whose string values are file paths and get rebased between directories.
bool is_path_field(const std::string& field);

const std::string& record_id(const Record& record);

// The absolute path held in a record's path field; throws InputError if absent.
fs::path record_path(const Record& record, const std::string& field, const fs::path& manifest);

// One line of manifest text, paths made relative to `dir`.
std::string format_record(const Record& record, const fs::path& dir);

// Writes records (sorted by id) atomically to `file`, rebasing path fields.
void write_manifest(const fs::path& file, std::vector<Record> records);

// Class ids in a record's "labels" field (empty when absent); checks the range
// 1..num_foreground and reports the id and value otherwise.
std::vector<int> record_labels(const Record& record, int num_foreground, const fs::path& manifest);

}  // namespace wsss
