#include "wsss/data/folder.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <unordered_map>

#include "wsss/core/error.hpp"
#include "wsss/core/parse.hpp"
#include "wsss/core/log.hpp"
#include "wsss/data/import.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss::folder {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::vector<std::string> split_csv_line(const std::string& line, const fs::path& file, long line_no) {
  if (!is_valid_utf8(line))
    throw InputError(file, line_no, "not valid UTF-8 (file names and labels are written into JSON manifests)");
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) throw InputError(file, line_no, "unterminated quoted field");
  for (auto& f : fields) f = trim(f);
  return fields;
}

std::vector<int> parse_labels(const std::string& field, const Vocabulary& vocabulary, const fs::path& file,
                              long line_no) {
  std::vector<std::string> tokens;
  if (field.find(';') != std::string::npos) {
    std::istringstream in(field);
    std::string t;
    while (std::getline(in, t, ';'))
      if (!trim(t).empty()) tokens.push_back(trim(t));
  } else {
    std::istringstream in(field);
    std::string t;
    while (in >> t) tokens.push_back(t);
  }
  std::vector<int> labels;
  for (const std::string& t : tokens) {
    int id;
    if (all_digits(t)) {
      id = std::stoi(t);
      if (id < 1 || id > vocabulary.num_foreground())
        throw InputError(file, line_no, "class id " + t + " outside 1.." + std::to_string(vocabulary.num_foreground()));
    } else {
      id = vocabulary.id_of(t);
      if (id < 1)
        throw InputError(file, line_no, "unknown class '" + t + "' (not a foreground class of vocabulary '" +
                                            vocabulary.name + "')");
    }
    labels.push_back(id);
  }
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  return labels;
}

std::vector<Record> read_labels_csv(const fs::path& csv, const fs::path& image_dir, const Vocabulary& vocabulary) {
  std::istringstream in(read_file(csv));
  fs::path images = fs::absolute(image_dir).lexically_normal();
  fs::path csv_dir = fs::absolute(csv).parent_path();
  std::vector<Record> records;
  std::unordered_map<std::string, long> seen;
  std::string line;
  long line_no = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    auto fields = split_csv_line(line, csv, line_no);
    if (first) {
      first = false;
      // A header names its columns; a data line names an existing image.
      static const char* header_words[] = {"file", "filename", "file_name", "image", "image_name", "name", "path"};
      std::string head = lower(fields[0]);
      bool header = std::any_of(std::begin(header_words), std::end(header_words),
                                [&](const char* w) { return head == w; });
      if (header && !fs::exists(images / fields[0])) continue;
    }
    if (fields.size() < 2 || fields.size() > 3)
      throw InputError(csv, line_no, "expected 2 or 3 columns (file, labels[, mask]), got " + std::to_string(fields.size()));
    if (fields[0].empty()) throw InputError(csv, line_no, "empty file name");
    fs::path rel(fields[0]);
    fs::path image = (images / rel).lexically_normal();
    std::error_code ec;
    if (!fs::is_regular_file(image, ec)) throw InputError(csv, line_no, "image " + image.string() + " not found");
    std::string id = (rel.parent_path() / rel.stem()).lexically_normal().string();
    auto [it, inserted] = seen.emplace(id, line_no);
    if (!inserted)
      throw InputError(csv, line_no, "duplicate id " + quote_id(id) + " (first on line " + std::to_string(it->second) + ")");
    Record r;
    r["id"] = id;
    r["image"] = image.string();
    r["labels"] = parse_labels(fields[1], vocabulary, csv, line_no);
    if (fields.size() == 3 && !fields[2].empty()) {
      fs::path mask = fs::path(fields[2]).is_absolute() ? fs::path(fields[2]) : csv_dir / fields[2];
      mask = mask.lexically_normal();
      if (!fs::is_regular_file(mask, ec)) throw InputError(csv, line_no, "mask " + mask.string() + " not found");
      r["mask"] = mask.string();
    }
    records.push_back(std::move(r));
  }
  return records;
}

StageSummary import_folder(const fs::path& image_dir, const fs::path& csv, const Vocabulary& vocabulary,
                           const StageOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(image_dir, ec)) throw InputError(image_dir, "image folder not found");
  std::vector<Record> records = read_labels_csv(csv, image_dir, vocabulary);
  log::info(csv.string(), ": ", records.size(), " images, vocabulary '", vocabulary.name, "' (",
            vocabulary.num_foreground(), " classes)");
  Manifest input = in_memory_manifest(std::move(records), csv, read_file(csv), options.allow_empty);
  // Everything was checked while reading the CSV (with its line numbers).
  CheckOnlyProcessor nothing_more([](const Record&) {});
  return run_stage(nothing_more, input, options, &vocabulary);
}

}  // namespace wsss::folder
