#pragma once
// Prompts for a promptable segmenter derived from class activation maps, so that
// SAM can refine CAM pseudo masks without a detector (docs/sam.md). Per class of
// the map: the pixels where the class's score is at least `threshold` x its
// maximum and is the highest of all classes form regions (8-connected
// components); each of the largest regions gives one prompt: its bounding box
// and/or its peak as a positive point, scored by the peak (relative to the
// class's maximum).
#include <string>
#include <vector>

#include "wsss/io/npy.hpp"
#include "wsss/pseudo/prompts.hpp"

namespace wsss::pseudo {

struct CamPromptOptions {
  bool boxes = true;        // the region's bounding box
  bool points = true;       // the region's peak as a positive point (label 1)
  float threshold = 0.3f;   // region: score >= threshold x the class's max
  int max_regions = 3;      // per class, largest first
  float min_region = 0.1f;  // regions smaller than this fraction of the class's largest are dropped
  // "box", "point" or "box+point" (the --cam-prompts values); UsageError otherwise.
  static CamPromptOptions parse(const std::string& mode);
  std::string mode() const;
  void validate() const;  // UsageError on a bad value
};

// Boxes are continuous pixel edges, as COCO's [x, y, w, h] -> xyxy: a region over
// columns a..b spans x0 = a, x1 = b + 1. Points are pixel indices (SAM adds the
// half pixel itself). `map` is [k, H, W] with channel c of class classes[c]
// (background channels, id 0, are skipped). Prompts come per class in channel
// order, regions by decreasing area (ties: raster order of their first pixel).
std::vector<Prompt> cam_prompts(const ScoreMap& map, const std::vector<int>& classes, const CamPromptOptions& options,
                                const std::string& origin);

}  // namespace wsss::pseudo
