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

#include "wsss/io/vocab.hpp"
#include "wsss/models/prompt.hpp"
#include "wsss/io/manifest.hpp"

namespace wsss::pseudo {

namespace fs = std::filesystem;

// Prompts per manifest record id.
using PromptsByImage = std::map<std::string, std::vector<Prompt>>;

// Lower-case words of a name or tag (maximal runs of ASCII letters and digits)
// joined by single spaces: "Monitor/TV" -> "monitor tv", "hot-dog" -> "hot dog".
// Names, prompts and tags are compared in this form.
std::string normalize_phrase(const std::string& text);

// Finds the manifest record an external file's image key means: the record id;
// else the record whose image file has that name ("2007_000032.jpg") or stem;
// else, for a number (COCO's image_id), the record whose all-digit id has that
// value ("000000000009" for 9). A key two records share is ambiguous.
class RecordLookup {
 public:
  explicit RecordLookup(const Manifest& manifest);
  // The record index, or -1 when unknown; throws InputError(file, what + ...) when ambiguous.
  long find(const std::string& key, const fs::path& file, const std::string& what) const;
  long find_number(long long value, const fs::path& file, const std::string& what) const;

 private:
  std::map<std::string, long> ids_, names_;  // names_: image file names and stems, -2 = ambiguous
  std::map<long long, long> numbers_;        // -2 = ambiguous
};

// The text each class is asked for with (SAM_WSSS's Grounding DINO names, e.g.
// "wild bird", "dining table", "monitor/tv"); data_manifests/<set>/prompts.json.
// Classes absent from the file use their vocabulary name.
struct PromptNames {
  std::vector<std::string> by_class;  // index = class id
  std::vector<std::string> class_names;  // the vocabulary's names, index = class id
  // {"format": "wsss-prompts", "version": 1, "prompts": {"<class>": "<text>", ...}};
  // InputError names the file and key (an unknown class, an empty or ambiguous text).
  static PromptNames load(const fs::path& file, const Vocabulary& vocab);
  static PromptNames defaults(const Vocabulary& vocab);
  // data_manifests/<vocab.name>/prompts.json when shipped (find_data_manifest), else defaults.
  static PromptNames for_vocabulary(const Vocabulary& vocab);
  // A vocabulary or prompt name, compared after normalize_phrase ("Monitor / TV"
  // is "monitor/tv"); -1 when unknown.
  int class_of(const std::string& text) const;
};

// What a detector's "category_id" means.
enum class CategoryIds {
  Auto,        // Coco for the standard COCO vocabulary, else Vocabulary
  Vocabulary,  // the vocabulary id (1..K)
  Coco,        // COCO's official, non-contiguous ids (1..90, data_manifests/coco/category_ids.json)
};
CategoryIds parse_category_ids(const std::string& text);  // "auto", "vocab", "coco"; UsageError otherwise
// The detector category id of each class (index = class id; [0] = 0) under a rule.
std::vector<long long> category_ids(const Vocabulary& vocab, CategoryIds rule);
// COCO's official category ids of the 80 thing classes, in the coco vocabulary's order.
const std::vector<int>& coco_category_ids();

enum class UnknownImages { Warn, Error };
UnknownImages parse_unknown_images(const std::string& text);  // "warn", "error"; UsageError otherwise

struct DetectionOptions {
  float score_threshold = 0.3f;  // SAM_WSSS's box threshold
  bool restrict_to_labels = true;  // drop boxes of classes not in the record's labels (records without "labels" keep all)
  CategoryIds category_ids = CategoryIds::Auto;
  // Detections of images the manifest lacks. Warn (default): counted, one warning
  // line, ignored, because a subset manifest (a split, a shard's own list) meets
  // the detections a detector wrote for the whole data set. Error: the run stops.
  UnknownImages unknown_images = UnknownImages::Warn;
};

// Counts of read_detections, for the log and the tests.
struct DetectionStats {
  std::size_t items = 0;            // entries in the file
  std::size_t kept = 0;             // prompts returned
  std::size_t below_threshold = 0;  // score <= threshold
  std::size_t not_in_labels = 0;    // class not among the record's labels
  std::size_t clipped = 0;          // boxes partly outside the image, clipped to it
  std::size_t images = 0;           // records with at least one prompt
  std::size_t bad = 0;              // bad entries of known images (those images fail)
  std::size_t unknown_image = 0;    // entries of images not in the manifest (ignored)
};

// What read_detections found. A bad entry of a known image does not stop the run:
// its image fails (wsss-sam lists it in failed.txt, counted against --max-failed).
struct Detections {
  PromptsByImage prompts;
  // Record id -> the first bad entry's one-line message ("FILE: item N: ...", plus
  // "(and K more bad entries of this image)").
  std::map<std::string, std::string> failed;
  std::vector<std::string> unknown_images;  // image_id keys not in the manifest, distinct, file order
  DetectionStats stats;
};

// Boxes from an open-vocabulary detector's output in COCO results format: a JSON
// array of {"image_id", "category_id" or "category_name", "bbox": [x, y, w, h],
// "score"}. image_id is a record key (RecordLookup: id, image file name or stem,
// or COCO's number); category_id follows options.category_ids; a category_name is
// a vocabulary or prompt name. A box is kept when its score > the threshold (as
// Grounding DINO's logits > box_threshold). Boxes partly outside the image are
// clipped to it. Prompts of an image keep the file's order.
// Errors (docs/prompts.md), each naming the file and the 0-based item:
//   - the file is no JSON array, or an entry's image cannot be told (not an
//     object, no or a non-scalar image_id, a key of several records): InputError;
//   - a bad entry of a known image (unknown category id or name, a box of zero
//     area, outside the image or malformed, a non-finite number): the image goes
//     to Detections::failed, the rest of the file is read;
//   - image_ids not in the manifest: counted and warned about, or with
//     UnknownImages::Error one InputError naming the first items and ids.
Detections read_detections(const fs::path& file, const Manifest& manifest, const Vocabulary& vocab,
                           const PromptNames& names, const DetectionOptions& options);

// Whole-word synonym table tag -> classes (data_manifests/<set>/synonyms.json):
// "bush" is not bus, "carpet" is not car, "motorcycle" is motorbike.
// File: {"format": "wsss-synonyms", "version": 1, "classes": {"<class>": ["phrase", ...]},
//        "none": ["phrase", ...]}; "none" phrases name no class ("hot dog" is no dog).
// Matching (docs/prompts.md): tags and phrases are compared after normalize_phrase;
// a phrase matches when it is the tag or the tag's last words (the head of an
// English compound: "police car" is a car, "car seat" is not), the longest such
// phrase wins, and only if nothing matches is the tag's last word tried in
// singular form (-ies -> -y, -es, -s; irregular plurals are listed as phrases).
struct SynonymTable {
  static SynonymTable load(const fs::path& file, const Vocabulary& vocab);
  // data_manifests/<vocab.name>/synonyms.json; UsageError when none is shipped.
  static SynonymTable for_vocabulary(const Vocabulary& vocab);
  // Normalises and sorts entries (class 0 = a "none" phrase).
  static SynonymTable from_entries(std::vector<std::pair<std::string, int>> entries);
  // Classes a tag names, ascending (a tag is a word or phrase; matched whole-word, case-insensitive).
  std::vector<int> classes_of(const std::string& tag) const;
  std::vector<std::pair<std::string, int>> entries;  // normalised phrase -> class id (0: none), sorted
};

}  // namespace wsss::pseudo
