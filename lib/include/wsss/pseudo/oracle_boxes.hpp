#pragma once
// An oracle "detector" for data with ground-truth masks (wsss-data boxes): one
// box per 8-connected component of each class in a label field, written as
// COCO results JSON that wsss-sam --detections reads. An evaluation aid, not a
// weak-supervision source: it gives the box-supervised upper bound of the
// text-input (detector box) path, and with jitter a detector of known error
// (docs/sam.md, Measurements).
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "wsss/io/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/pseudo/prompts.hpp"

namespace wsss::pseudo {

struct OracleBoxOptions {
  std::string field = "mask";  // the label field the boxes come from
  // Each edge moves by a uniform draw in [-jitter, jitter] x the box's width
  // (x edges) or height (y edges), clipped to the image and at least one pixel
  // wide; the score becomes the IoU of the moved box with the true one. 0: the
  // true boxes, score 1.
  double jitter = 0;
  std::uint64_t seed = 0;  // the jitter's draws: per record, item_seed(seed, id)
  CategoryIds category_ids = CategoryIds::Auto;  // what "category_id" holds, as wsss-sam --category-ids reads it
  void validate() const;  // UsageError on a bad value
};

struct OracleBoxStats {
  std::size_t images = 0, boxes = 0;
};

// [{"image_id": record id, "category_id", "bbox": [x, y, w, h] (pixel edges),
// "score"}], records in manifest order, classes ascending, components in the
// raster order of their first pixel. Mask values above K other than the ignore
// id are an InputError naming the file.
nlohmann::json oracle_boxes(const Manifest& manifest, const Vocabulary& vocab, const OracleBoxOptions& options,
                            OracleBoxStats* stats = nullptr);

}  // namespace wsss::pseudo
