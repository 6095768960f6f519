#pragma once
// `wsss-data merge`: joins the per-shard manifests of a stage run with
// --shard J/N (manifest.J-of-N.jsonl) into one manifest, after checking that
// every shard is there, that no id appears twice, and that enough items
// succeeded compared with the input counts recorded in meta.J-of-N.json.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/core/provenance.hpp"

namespace wsss {

namespace fs = std::filesystem;

struct MergeOptions {
  double min_success_frac = 1.0;
  bool min_success_frac_given = false;  // without it, missing meta files only warn
  bool overwrite = false;
  Provenance provenance;  // recorded in the merged meta.json
};

struct MergeSummary {
  std::size_t inputs = 0, records = 0;
  std::size_t expected = 0;  // sum of the shards' input counts; 0 when unknown
  fs::path output;
};

// A shard manifest's name "STEM.J-of-N.jsonl": fills j and n; false otherwise.
bool parse_shard_name(const std::string& file_name, std::string& stem, int& j, int& n);

// OUT_DIR form: merges OUT_DIR/manifest.J-of-N.jsonl into OUT_DIR/manifest.jsonl
// and writes OUT_DIR/meta.json with the summed item counts.
MergeSummary merge_stage_dir(const fs::path& out_dir, const MergeOptions& options);

// List form: merges the given manifests into `output`. When every input is a
// shard manifest of the same N, all N must be present.
MergeSummary merge_manifests(const std::vector<fs::path>& inputs, const fs::path& output, const MergeOptions& options);

}  // namespace wsss
