#pragma once
// PASCAL VOC 2012 (VOCdevkit layout) -> wsss manifest. Labels come from the
// object names of Annotations/<id>.xml (difficult objects included, as IRN's
// make_cls_labels.py does) or from the GT mask's pixel values; GT masks are
// referenced in place (palette PNGs read as class ids), never copied.
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/io/vocab.hpp"
#include "wsss/stage/stage.hpp"

namespace wsss::voc {

namespace fs = std::filesystem;

struct ObjectName {
  std::string name;
  long line = 0;  // of the <name> tag, for messages
};

// The text of every <name> element that is a direct child of an <object>
// element, in document order (part names such as <part><name>head</name> are
// not objects). Throws InputError naming the file and line on malformed XML.
std::vector<ObjectName> object_names(const std::string& xml, const fs::path& file);

// Sorted unique class ids of an annotation file, through the VOC vocabulary;
// an unknown name is an InputError naming the file and line.
// The de-duplicated, sorted ids of the <object><name>s; a name outside the
// vocabulary is an error naming the file and line.
std::vector<int> labels_from_xml(const fs::path& xml_file, const Vocabulary& vocabulary);
// Sorted unique ids 1..20 present in a GT mask; values 21..254 are an InputError.
std::vector<int> labels_from_mask(const fs::path& mask_file, const Vocabulary& vocabulary);

// Image ids of a split list: one per line, first column; a path such as
// "/JPEGImages/2007_000032.jpg" (the DeepLab train_aug.txt form) gives its stem.
std::vector<std::string> read_split_list(const fs::path& list_file);

struct VocImportOptions {
  fs::path voc_dir;              // .../VOC2012
  std::string split = "train";   // ImageSets/Segmentation/<split>.txt, or train_aug
  std::string labels_from = "xml";  // xml | mask
  std::string gt;                // SegmentationClass | SegmentationClassAug; "" = by split
  fs::path sbd_list;             // overrides the train_aug list file
  Vocabulary vocabulary = builtin_vocabulary("voc12");  // a custom set's classes (--classes)
};

// The list file a split reads.
fs::path split_list_path(const VocImportOptions& options);

StageSummary import_voc(const VocImportOptions& options, const StageOptions& stage);

}  // namespace wsss::voc
