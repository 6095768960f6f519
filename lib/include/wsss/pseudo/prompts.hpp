#pragma once
// Prompts for a promptable segmenter (SAM family): where the boxes and points
// come from, as the survey's foundation-model pipeline (Fig. 2b) uses them.
//   text input: an open-vocabulary detector's boxes (COCO results JSON, run
//     elsewhere, e.g. Grounding DINO prompted with data_manifests/<set>/prompts.json);
//   zero-shot:  a tagger's tags (RAM) mapped to dataset classes through a whole-word
//     synonym table (data_manifests/<set>/synonyms.json), then detector boxes;
//   CAM:        boxes and points derived from wsss-cam's maps (no detector).
// Everything here is torch-free; lib/models/sam runs the model.
#include <array>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wsss/data/vocab.hpp"
#include "wsss/io/manifest.hpp"

namespace wsss::pseudo {

namespace fs = std::filesystem;

// A box in the original image's pixel frame, corners (x0, y0) top-left and
// (x1, y1) bottom-right, as SAM's predictor takes it (xyxy).
struct Box {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  float area() const { return (x1 - x0) * (y1 - y0); }
};

struct Prompt {
  int class_id = 0;                        // vocabulary id (>= 1)
  float score = 1.0f;                      // detector score; 1 for tags without boxes and for CAM prompts
  std::optional<Box> box;
  std::vector<std::array<float, 2>> points;  // (x, y) pixels, original frame
  std::vector<int> point_labels;             // 1 foreground, 0 background (SAM's convention)
  std::string origin;                        // "FILE item N" etc., for messages
};

// Prompts per manifest record id.
using PromptsByImage = std::map<std::string, std::vector<Prompt>>;

// The text each class is asked for with (SAM_WSSS's Grounding DINO names, e.g.
// "wild bird", "dining table", "monitor/tv"); data_manifests/<set>/prompts.json.
// Classes absent from the file use their vocabulary name.
struct PromptNames {
  std::vector<std::string> by_class;  // index = class id
  static PromptNames load(const fs::path& file, const Vocabulary& vocab);  // InputError names the file and key
  static PromptNames defaults(const Vocabulary& vocab);
  int class_of(const std::string& text) const;  // a vocabulary or prompt name; -1 when unknown
};

struct DetectionOptions {
  float score_threshold = 0.3f;  // SAM_WSSS's box threshold
  bool restrict_to_labels = true;  // drop boxes of classes not in the record's labels
};

// Boxes from an open-vocabulary detector's output in COCO results format: a JSON
// array of {"image_id", "category_id" or "category_name", "bbox": [x, y, w, h],
// "score"}. image_id matches a record id (or its number, COCO style); a name is a
// vocabulary or prompt name. Bad entries (unknown image or category, a box of zero
// area or outside the image) are InputErrors naming the file and the item index.
PromptsByImage read_detections(const fs::path& file, const Manifest& manifest, const Vocabulary& vocab,
                               const PromptNames& names, const DetectionOptions& options);

// Whole-word synonym table tag -> classes (data_manifests/<set>/synonyms.json):
// "bush" is not bus, "carpet" is not car, "motorcycle" is motorbike.
struct SynonymTable {
  static SynonymTable load(const fs::path& file, const Vocabulary& vocab);
  // Classes a tag names (a tag is a word or phrase; matched whole-word, case-insensitive).
  std::vector<int> classes_of(const std::string& tag) const;
  std::vector<std::pair<std::string, int>> entries;  // lower-case phrase -> class id
};

}  // namespace wsss::pseudo
