#pragma once
// CLIP-ES's text side as data (data_manifests/<set>/clip_es.json, docs/clip-es.md):
//
//   {"format": "wsss-clip-es", "version": 1, "name": "voc12",
//    "template": "a clean origami {}.",
//    "box_threshold": 0.4,
//    "classes": {"bird": "bird avian", "person": "person with clothes,people,human", ...},
//    "background": ["ground", "land", ...]}
//
// - "classes" maps vocabulary class names to the text put into the template
//   (CLIP-ES's new_class_names: the class name or comma/space-joined synonyms);
//   a class left out is prompted with its vocabulary name.
// - "background": the class-related background names (25 for VOC, 23 for COCO),
//   prompted with the same template.
// - "box_threshold": the fraction of the CAM's maximum whose contours bound the
//   attention refinement (0.4 for VOC, 0.7 for COCO in the reference).
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/io/vocab.hpp"

namespace wsss::text {

namespace fs = std::filesystem;

struct ClipEsPrompts {
  fs::path file;  // where it was read from (empty for defaults)
  std::string templ = "a clean origami {}.";
  std::vector<std::string> names;       // the text of each class; index = class id; [0] unused
  std::vector<std::string> class_names; // the vocabulary's names (for messages); index = class id
  std::vector<std::string> background;  // background names
  double box_threshold = 0.4;

  // The template applied to each class id 1..K (index c-1) and to each background name.
  std::vector<std::string> foreground_prompts() const;
  std::vector<std::string> background_prompts() const;

  // InputError naming the file and key: an unknown class, an empty text, a
  // template without exactly one "{}", no background names, a threshold outside (0, 1).
  static ClipEsPrompts load(const fs::path& file, const Vocabulary& vocab);
  // data_manifests/<vocab.name>/clip_es.json when shipped; otherwise a
  // UsageError saying that a prompts file is needed (the background set has no
  // sensible default for an unknown vocabulary).
  static ClipEsPrompts for_vocabulary(const Vocabulary& vocab);
};

// `templ` with its "{}" replaced by `name` (Python's str.format with one field).
std::string apply_template(const std::string& templ, const std::string& name);

}  // namespace wsss::text
