#pragma once
// wsss-viz: per image, the image beside its score maps as heat maps (one panel
// per class), its masks as palette overlays and the error maps of predictions
// against the ground truth, as one PNG; and a grid of the chosen images
// (docs/viz.md).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "wsss/io/manifest.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/stage/stage.hpp"

namespace wsss::viz {

namespace fs = std::filesystem;

struct VizOptions {
  std::vector<std::string> scores;  // score-map fields (heat maps, one panel per channel)
  std::vector<std::string> masks;   // mask fields (palette overlays)
  std::vector<std::string> errors;  // mask fields compared with `gt` (error maps)
  bool auto_fields = true;          // none of the three given: take them from the records (resolve_fields)
  std::string gt = "mask";
  double alpha = 0.5;               // overlay and heat-map opacity
  int size = 0;                     // longer side of each panel in pixels (0: the image's own size)
  std::size_t grid_max = 64;        // the grid is written for at most this many images
};

// Which images: all (no option), --ids, --sample N --seed S, or --worst N.
struct VizSelection {
  std::vector<std::string> ids;  // in the given order
  std::size_t sample = 0;
  std::uint64_t seed = 0;
  std::size_t worst = 0;
  std::string worst_field;       // the prediction ranked by --worst (default: the first error field)
  bool any() const { return !ids.empty() || sample > 0 || worst > 0; }
};

// Fills options.scores/masks/errors from the first record when auto_fields:
// score maps are the .npy path fields with a "<field>_classes" list; masks the
// other .png path fields but "image" and "viz"; errors every mask but gt when
// the record has gt. An error field that is gt itself is a UsageError.
void resolve_fields(VizOptions& options, const Record& first);

// The chosen records, sorted by id, each with "viz_rank" (its place in the
// selection: the order of --ids, id order for --sample and no option, lowest
// per-image mIoU first for --worst) and, for --worst, "viz_miou". A --ids id
// absent from the manifest is an InputError naming it; --sample/--worst larger
// than the manifest take every image. --worst reads every record's masks
// (`threads` workers).
Manifest select_records(const Manifest& manifest, const Vocabulary& vocab, const VizSelection& selection,
                        const VizOptions& options, int threads);

// The mIoU of one image's prediction against its GT (classes with a non-empty
// union in either; a predicted 255 counts as a miss, as wsss-miou's default).
double image_miou(const Mask& gt, const Mask& pred, int num_classes, int ignore, const fs::path& gt_file,
                  const fs::path& pred_file);

// OUT_DIR/viz/<id>.png per image; adds "viz" (the path) and keeps "viz_rank"
// (and "viz_miou").
std::unique_ptr<ItemProcessor> make_viz_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                  const fs::path& out_dir, const VizOptions& options);

// The panels of one record (the picture make_viz_processor writes).
cv::Mat record_picture(const Record& record, const Vocabulary& vocab, const fs::path& manifest,
                       const VizOptions& options);

fs::path grid_file(const fs::path& out_dir);

// Stacks the pictures of a finished stage's manifest in "viz_rank" order into
// OUT_DIR/grid.png (with the error colours' legend when there are error maps).
// Returns false, writing nothing, when the manifest holds more than grid_max
// images.
bool write_grid(const fs::path& out_dir, const Manifest& output, const VizOptions& options);

}  // namespace wsss::viz
