#pragma once
// COCO instances JSON (2014 or 2017) -> wsss manifest with semantic GT masks
// painted the way WSSS work paints them (ReCAM's mscoco/annToMask.py):
// categories in id order map to 1..K, non-crowd instances are painted in
// annotation order (later ones overwrite earlier ones), everything else is 0.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/png.hpp"

namespace wsss::coco {

namespace fs = std::filesystem;

// Run-length encoding as pycocotools stores it: column-major (Fortran order)
// runs that alternate 0 and 1, starting with a (possibly empty) run of 0s.
struct Rle {
  int height = 0, width = 0;
  std::vector<std::uint32_t> counts;
};

// Decodes pycocotools' compressed string form (rleFrString): each count is a
// little-endian base-32 varint of 6-bit chars offset by 48 ('0'), sign-extended,
// and counts after the third are stored as the difference to the count two before.
// Throws Error on a truncated or out-of-range string.
std::vector<std::uint32_t> decode_rle_counts(const std::string& text);

// Paints `value` where the RLE is 1. Throws Error when the runs do not add up
// to height*width or the size differs from the mask's.
void paint_rle(Mask& label, const Rle& rle, std::uint8_t value);

// Throws Error unless the runs add up to height x width.
void check_rle_runs(const Rle& rle);

// Throws Error naming the polygon (0-based) unless each has an even number of
// coordinates, at least 3 points and coordinates within +-1e7.
void check_polygons(const std::vector<std::vector<double>>& polygons);

// Fills the polygons ([x0,y0,x1,y1,...] in pixel coordinates) with `value`, all
// polygons of one annotation in one cv::fillPoly call on rounded vertices (as
// the reference masks were made).
void paint_polygons(Mask& label, const std::vector<std::vector<double>>& polygons, std::uint8_t value);

struct Annotation {
  std::int64_t id = 0;
  int class_id = 0;  // contiguous 1..K
  bool crowd = false;
  std::vector<std::vector<double>> polygons;  // used when !is_rle
  bool is_rle = false;
  Rle rle;
};

struct Image {
  std::int64_t id = 0;
  std::string file_name;
  int width = 0, height = 0;
  std::vector<Annotation> annotations;  // in JSON order
};

struct Dataset {
  fs::path source;
  std::string content_hash;  // of the JSON bytes, for meta.json
  Vocabulary vocabulary;     // builtin coco when the 80 standard categories are present
  std::vector<Image> images;  // sorted by id
};

// Parses an instances JSON. Problems are InputErrors naming the file and the
// annotation or image id.
Dataset load_instances(const fs::path& json_file);

// The semantic mask of one image: 0 background, 1..K non-crowd instances.
Mask paint_semantic(const Image& image, const fs::path& json_file);

// Sorted unique class ids of all of an image's annotations, crowd included.
std::vector<int> image_labels(const Image& image);

// The manifest id and mask file name stem: the image id zero-padded to 12 digits.
std::string image_key(std::int64_t image_id);

// Writes OUT_DIR/masks/<key>.png for every image of the shard and the manifest
// (id, image, labels, mask) through run_stage.
StageSummary import_coco(const fs::path& instances_json, const fs::path& image_dir, const StageOptions& options);

}  // namespace wsss::coco
