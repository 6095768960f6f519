#include "wsss/io/manifest.hpp"

#include <algorithm>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <unordered_map>

#include "wsss/core/error.hpp"
#include "wsss/core/hash.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss {

bool is_path_field(const std::string& field) {
  // One list for the whole toolkit (docs/formats.md): stages that add a file
  // field register its name here so that it is rebased when records move.
  static const std::set<std::string> fields = {
      "image", "mask", "cam", "cam_lowres", "pseudo", "pred", "refined", "ir_label", "edge", "sam_masks", "preview", "viz",
      "saliency"};
  return fields.count(field) > 0;
}

const std::string& record_id(const Record& record) { return record.at("id").get_ref<const std::string&>(); }

static void absolutise_paths(Record& record, const fs::path& dir, const fs::path& name, long line) {
  for (auto it = record.begin(); it != record.end(); ++it) {
    if (!is_path_field(it.key())) continue;
    if (!it.value().is_string())
      throw InputError(name, line, "field \"" + it.key() + "\" must be a path string");
    fs::path p = it.value().get<std::string>();
    if (p.empty()) throw InputError(name, line, "field \"" + it.key() + "\" is empty");
    if (p.is_relative()) p = dir / p;
    it.value() = p.lexically_normal().string();
  }
}

std::string_view without_bom(std::string_view text) {
  return text.substr(0, 3) == "\xEF\xBB\xBF" ? text.substr(3) : text;
}

Manifest parse_manifest(const std::string& text, const fs::path& name, const fs::path& dir,
                        const ManifestReadOptions& options) {
  Manifest m;
  m.path = name;
  m.dir = fs::absolute(dir).lexically_normal();  // records hold absolute paths, whatever the caller passed
  m.content_hash = hex64(fnv1a64(text));
  std::unordered_map<std::string, long> first_line;
  std::istringstream in{std::string(without_bom(text))};
  std::string line;
  long line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are allowed
    Record record;
    try {
      record = Record::parse(line);
    } catch (const nlohmann::json::exception& e) {
      std::string what = e.what();
      auto pos = what.find("syntax error");
      throw InputError(name, line_no, "malformed JSON: " + (pos == std::string::npos ? what : what.substr(pos)));
    }
    if (!record.is_object()) throw InputError(name, line_no, "record is not a JSON object");
    auto id = record.find("id");
    if (id == record.end() || !id->is_string() || id->get_ref<const std::string&>().empty())
      throw InputError(name, line_no, "record has no non-empty string \"id\"");
    const std::string& sid = id->get_ref<const std::string&>();
    auto [pos, inserted] = first_line.emplace(sid, line_no);
    if (!inserted)
      throw InputError(name, line_no, "duplicate id " + quote_id(sid) + " (first on line " + std::to_string(pos->second) + ")");
    absolutise_paths(record, m.dir, name, line_no);
    m.records.push_back(std::move(record));
  }
  if (m.records.empty() && !options.allow_empty)
    throw InputError(name, "empty manifest (use --allow-empty to accept)");
  // Line tools (shuf, cat of shards) may reorder records; the toolkit works in id order.
  std::stable_sort(m.records.begin(), m.records.end(),
                   [](const Record& a, const Record& b) { return record_id(a) < record_id(b); });
  return m;
}

Manifest read_manifest(const std::string& path, const ManifestReadOptions& options) {
  if (path == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return parse_manifest(text, "<stdin>", fs::current_path(), options);
  }
  fs::path file(path);
  std::string text = read_file(file);
  fs::path dir = fs::absolute(file).parent_path();
  return parse_manifest(text, file, dir, options);
}

fs::path record_path(const Record& record, const std::string& field, const fs::path& manifest) {
  auto it = record.find(field);
  if (it == record.end() || !it->is_string())
    throw InputError(manifest, "item " + quote_id(record_id(record)) + ": no \"" + field + "\" field");
  return fs::path(it->get<std::string>());
}

// A path is written relative to the manifest when both live in one tree; a path
// that shares nothing but the root with it (/data vs /home/u/exp) stays absolute,
// because a relative path across unrelated trees breaks when either moves.
static std::string rebase(const fs::path& p, const fs::path& base) {
  auto pi = p.begin(), bi = base.begin();
  int common = 0;
  for (; pi != p.end() && bi != base.end() && *pi == *bi; ++pi, ++bi) ++common;
  if (common <= 1) return p.string();
  fs::path rel = p.lexically_relative(base);
  return rel.empty() ? p.string() : rel.string();
}

std::string format_record(const Record& record, const fs::path& dir) {
  Record out = record;
  fs::path base = fs::absolute(dir).lexically_normal();
  for (auto it = out.begin(); it != out.end(); ++it) {
    if (!is_path_field(it.key()) || !it.value().is_string()) continue;
    fs::path p = it.value().get<std::string>();
    if (p.is_absolute()) it.value() = rebase(p, base);
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

void write_manifest(const fs::path& file, std::vector<Record> records) {
  std::stable_sort(records.begin(), records.end(),
                   [](const Record& a, const Record& b) { return record_id(a) < record_id(b); });
  fs::path dir = fs::absolute(file).parent_path();
  std::string text;
  for (const auto& r : records) {
    text += format_record(r, dir);
    text += '\n';
  }
  write_file_atomic(file, text);
}

std::vector<int> record_labels(const Record& record, int num_foreground, const fs::path& manifest) {
  std::vector<int> labels;
  auto it = record.find("labels");
  if (it == record.end()) return labels;
  const std::string& id = record_id(record);
  if (!it->is_array()) throw InputError(manifest, "item " + quote_id(id) + ": \"labels\" must be an array of class ids");
  for (const auto& v : *it) {
    if (!v.is_number_integer())
      throw InputError(manifest, "item " + quote_id(id) + ": label " + v.dump() + " is not an integer class id");
    int c = v.get<int>();
    if (c < 1 || c > num_foreground)
      throw InputError(manifest, "item " + quote_id(id) + ": label " + std::to_string(c) + " outside 1.." +
                                     std::to_string(num_foreground));
    labels.push_back(c);
  }
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  return labels;
}

}  // namespace wsss
