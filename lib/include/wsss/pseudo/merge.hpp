#pragma once
// Merging per-prompt binary masks into one label map (class ids, 255 = ignore).
#include <cstdint>
#include <string>
#include <vector>

#include "wsss/io/png.hpp"

namespace wsss::pseudo {

// One mask a prompt produced, full image size.
struct InstanceMask {
  int class_id = 0;                 // vocabulary id (>= 1)
  float score = 1.0f;               // prompt score x mask quality (SAM's predicted IoU)
  std::vector<std::uint8_t> mask;   // height*width, 0/1
};

enum class MergeRule {
  MaxId,     // SAM_WSSS: per pixel the highest class id wins; no ignore
  Score,     // the highest score wins
  Smallest,  // the smallest mask wins (small objects in front of large ones)
  // + an optional ignore band, see MergeOptions
};

struct MergeOptions {
  // Smallest: the best rule on the synthetic data with CAM prompts and with GT
  // boxes, GrabCut standing in for SAM (docs/sam.md, Measurements;
  // scripts/sam_measure.sh). max-id (SAM_WSSS) stays available.
  MergeRule rule = MergeRule::Smallest;
  // Pixels covered by masks of two or more different classes become `ignore`.
  bool ignore_contested = false;
  int ignore = 255;
  // "max-id", "score", "smallest", each optionally with "+ignore"; UsageError otherwise.
  static MergeOptions parse(const std::string& text);
  std::string name() const;
};

// Background (0) outside every mask.
Mask merge_masks(const std::vector<InstanceMask>& masks, int width, int height, const MergeOptions& options);

}  // namespace wsss::pseudo
