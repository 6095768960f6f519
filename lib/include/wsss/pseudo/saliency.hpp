#pragma once
// Saliency-guided pseudo masks, the external-data family of the survey's Table 1
// (DRS, EPS, L2G, OAA...): an off-the-shelf saliency model decides background
// against foreground, the CAMs decide which class. The rule is OAA's proxy
// ground truth (PengtaoJiang/OAA-PyTorch gen_gt.py), the one L2G's authors ship
// for making pseudo masks from saliency; docs/pseudo.md ("Saliency") cites it and
// compares EPS's and L2G's use of saliency.
#include <filesystem>
#include <vector>

#include "wsss/scores/score_map.hpp"
#include "wsss/io/png.hpp"

namespace wsss::pseudo {

namespace fs = std::filesystem;

struct SaliencyRule {
  // Background only where the saliency is below this and no class score is
  // above `object` (OAA's bg_thr: 32 of 255).
  double threshold = 0.125;
  // Scores (1 - saliency for background, the min-max normalised CAMs for the
  // classes) below this count as 0 (OAA's fg_thr).
  double floor = 0.3;
  // Pixels where two or more scores exceed this are 255 (OAA's conflict).
  double conflict = 0.9;
  // A class score above this makes the pixel salient (OAA's att_thr).
  double object = 0.8;
  // An image whose foreground share (pixels labelled 1..K) is below this is all
  // 255 (OAA: 0.01).
  double min_foreground = 0.01;
  void validate() const;  // UsageError naming the option
};

// A saliency map as floats in [0, 1], row-major, width x height: an 8-bit
// greyscale PNG (value / 255) or a float .npy ([H, W] or [1, H, W]) in [0, 1].
// InputError naming the file when it is unreadable, of another size, or outside
// [0, 1].
std::vector<float> read_saliency(const fs::path& file, int width, int height);

// The pseudo mask of one image (OAA's gen_gt.py), per pixel:
//   scores: background 1 - s, each class its CAM min-max normalised over the
//   image ((c - min) / (max - min + 1e-8)); scores below `floor` become 0;
//   label = argmax over [background, classes] (background wins ties);
//   255 where two or more scores exceed `conflict`;
//   255 where the label is background but s >= `threshold` or a class's
//   normalised CAM exceeds `object` (salient, yet no class claims it);
// and the whole mask 255 when less than `min_foreground` of it is foreground.
// `scores` must have no background channel.
Mask saliency_labels(const RecordScores& scores, const std::vector<float>& saliency, const SaliencyRule& rule);

}  // namespace wsss::pseudo
