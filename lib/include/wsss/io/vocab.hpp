#pragma once
// A class vocabulary: names (id 0 = background), the ignore id and the palette.
// It travels with the data as classes.json beside each manifest, so stages never
// need it repeated on the command line.
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/io/png.hpp"

namespace wsss {

namespace fs = std::filesystem;

struct Vocabulary {
  std::string name;
  std::vector<std::string> classes;  // index = class id; classes[0] is background
  int ignore = 255;
  Palette palette = voc_palette();

  int size() const { return static_cast<int>(classes.size()); }           // incl. background
  int num_foreground() const { return static_cast<int>(classes.size()) - 1; }
  int id_of(const std::string& name) const;  // -1 when unknown

  // classes.json, or a plain list (classes.txt: one name per line, background first).
  static Vocabulary load(const fs::path& file);
  std::string to_json() const;
  void save(const fs::path& file) const;  // atomic
};

inline const char* kVocabularyFile = "classes.json";

// The vocabulary for a manifest: `override_file` when given, else classes.json in
// the manifest's directory. Throws InputError when neither exists.
Vocabulary vocabulary_for(const fs::path& manifest_dir, const std::string& override_file);

// The vocabularies shipped under data_manifests/ (voc12, coco), by name.
Vocabulary builtin_vocabulary(const std::string& name);

// A file shipped under data_manifests/, e.g. "voc12/synonyms.json": looked for in
// $WSSS_DATA_MANIFESTS, then in data_manifests/ (or share/wsss/data_manifests/)
// beside the running executable and up to three directories above it, which finds
// the source tree's copy from any build directory. Empty when not found.
fs::path find_data_manifest(const std::string& relative);

}  // namespace wsss
