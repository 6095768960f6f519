#pragma once
// `wsss-data check`: validates a manifest and reports every problem it finds,
// not just the first, each as "FILE:LINE: message". Unlike read_manifest it
// keeps going after a malformed line or a duplicate id.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace wsss {

namespace fs = std::filesystem;

struct CheckOptions {
  std::string classes;      // --classes; "" = classes.json beside the manifest (if any)
  bool decode = false;      // fully decode images, masks and score maps
  bool masks_only = false;  // with decode: leave the images' pixels alone (header sizes still checked)
  bool allow_empty = false;
  bool allow_no_image = false;  // records without "image" are fine (evaluation-only manifests)
  int threads = 1;
};

struct CheckProblem {
  long line = 0;  // 0 = about the file as a whole
  std::string message;
};

struct CheckReport {
  fs::path manifest;
  std::size_t records = 0;        // parsed records (with a usable id)
  std::size_t files = 0;          // path fields checked
  std::size_t decoded = 0;        // files fully decoded
  int num_foreground = -1;        // K, or -1 when no vocabulary was found
  std::vector<CheckProblem> problems;  // ordered by line
  bool ok() const { return problems.empty(); }
  // "FILE:LINE: message" (or "FILE: message" for line 0).
  std::string format(const CheckProblem& p) const;
};

// Label PNG fields: checked for size against "image" and, with decode, for
// values above K that are not the ignore id.
bool is_label_field(const std::string& field);

// Throws only when the manifest itself cannot be read (or the vocabulary given
// with --classes is unusable); everything else becomes a problem in the report.
CheckReport check_manifest(const fs::path& manifest, const CheckOptions& options);

}  // namespace wsss
