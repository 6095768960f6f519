#pragma once
// A plain folder of images with a labels CSV -> wsss manifest.
//   file,labels[,mask]
//   cat1.jpg,cat dog,masks/cat1.png
//   street.jpg,traffic light;person
// The header line is optional. Labels are class names or ids; they are split
// on ';' when the field holds one (so names with spaces work), else on spaces.
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/manifest.hpp"

namespace wsss::folder {

namespace fs = std::filesystem;

// Splits one CSV line into fields (RFC 4180 quotes); throws InputError naming
// the file and line on an unterminated quote.
std::vector<std::string> split_csv_line(const std::string& line, const fs::path& file, long line_no);

// Sorted unique class ids of a labels field; an unknown name or an id outside
// 1..K is an InputError naming the file and line.
std::vector<int> parse_labels(const std::string& field, const Vocabulary& vocabulary, const fs::path& file,
                              long line_no);

// The records of a CSV: id = the file name without extension (relative path
// inside IMAGE_DIR kept), image under image_dir, mask relative to the CSV's
// folder. Missing files and duplicate ids are InputErrors naming the CSV line.
std::vector<Record> read_labels_csv(const fs::path& csv, const fs::path& image_dir, const Vocabulary& vocabulary);

StageSummary import_folder(const fs::path& image_dir, const fs::path& csv, const Vocabulary& vocabulary,
                           const StageOptions& options);

}  // namespace wsss::folder
