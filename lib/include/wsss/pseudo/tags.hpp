#pragma once
// Zero-shot image labels from a tagger (RAM): tags -> dataset classes through a
// SynonymTable, and the per-image caption file an open-vocabulary detector
// (Grounding DINO) is run on elsewhere. wsss-tags is the command; docs/prompts.md.
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "wsss/core/provenance.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/pseudo/prompts.hpp"

namespace wsss::pseudo {

namespace fs = std::filesystem;

struct TaggedImage {
  std::string key;                // as written in the file (RecordLookup resolves it)
  std::vector<std::string> tags;  // trimmed, non-empty, file order
  long line = 0;                  // text format: 1-based line; JSON: 0
};

// RAM's "tag | tag | tag" (also split on commas, as SAM_WSSS does), trimmed.
std::vector<std::string> split_tags(const std::string& text);

// A tagger's output: JSON {"<image>": ["tag", ...] | "tag | tag", ...}, or text
// lines "<image><TAB>tag | tag" (blank lines skipped). InputError names the file
// and line or key: malformed JSON, a line without a tab, a value that is neither
// a list of strings nor a string, a key given twice.
std::vector<TaggedImage> read_tags(const fs::path& file);

enum class MissingTags {
  Error,  // a manifest record without tags is an InputError
  Empty,  // it gets empty labels
  Skip,   // it is left out of the output
};

struct TagLabels {
  std::vector<Record> records;  // "labels" from tags, "labels_gt" (the old labels), "tags"
  std::map<std::string, std::size_t> unmatched;  // normalised tag naming no class -> images
  std::vector<std::string> no_class;             // ids whose tags name no class
  std::size_t tags = 0, matched_tags = 0, missing = 0;
  // Against the records' previous labels, where they had some (micro counts).
  std::size_t gt_images = 0, tp = 0, fp = 0, fn = 0, exact = 0;
};

// Maps every tagged record's tags to classes. A tag key that is not in the
// manifest, or two keys for one record, is an InputError naming the file and the
// line (text) or key (JSON).
TagLabels labels_from_tags(const std::vector<TaggedImage>& tags, const fs::path& tags_file, const Manifest& manifest,
                           const SynonymTable& synonyms, MissingTags missing);

// detector_prompts.jsonl: one line per record with labels,
// {"id", "image" (relative to the file's directory), "text": "wild bird . dining table .",
//  "prompts": ["wild bird", "dining table"], "category_ids": [...]} (ids as read_detections
// reads them back). Returns the text; `lines` gets the number of lines.
std::string detector_prompts(const std::vector<Record>& records, const fs::path& manifest, const Vocabulary& vocab,
                             const PromptNames& names, CategoryIds ids, const fs::path& out_file, std::size_t* lines);

struct TagsStageOptions {
  fs::path out_dir;
  bool overwrite = false;
  MissingTags missing = MissingTags::Error;
  CategoryIds category_ids = CategoryIds::Auto;
  Provenance provenance;  // recorded in meta.json
};

// wsss-tags labels: OUT/manifest.jsonl (written last), classes.json, meta.json,
// detector_prompts.jsonl, and when non-empty unmatched_tags.tsv (tag<TAB>images)
// and no_class.txt (id<TAB>tags). Returns the mapping for the report.
TagLabels run_tags_stage(const fs::path& tags_file, const Manifest& manifest, const Vocabulary& vocab,
                         const SynonymTable& synonyms, const PromptNames& names, const TagsStageOptions& options);

}  // namespace wsss::pseudo
