#pragma once
// GrabCut (Rother et al. 2004, OpenCV's cv::grabCut) as a promptable segmenter
// that needs no weights: wsss-sam --segmenter grabcut. It stands in for SAM
// where no SAM checkpoint is at hand, to run and measure the prompt sources and
// merge rules end to end (docs/sam.md, Measurements). It is not SAM: it models
// the colours inside and outside a box with two Gaussian mixtures and cuts
// along colour edges.
//   box:          outside the box is background, inside probably foreground
//                 (GC_INIT_WITH_RECT);
//   box + points: the same, and a disk of `point_radius` around each point is
//                 certain foreground (label 1) or background (label 0)
//                 (GC_INIT_WITH_MASK);
//   points only:  everything is probably background except the points' disks
//                 (so the foreground model learns the colours under the points).
// A prompt that leaves fewer than 5 pixels (the mixtures' component count) on
// either side, such as a box over the whole image, gets its initial foreground
// (the box, the disks) as its mask: there is nothing to learn the other side from.
#include <cstdint>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "wsss/pseudo/segmenter.hpp"

namespace wsss::pseudo {

struct GrabCutOptions {
  int iterations = 5;    // cv::grabCut's iterCount
  int point_radius = 3;  // pixels; 0 = the point's pixel only
  void validate() const;  // UsageError on a bad value
};

// One prompt's mask (height*width, 0/1). GrabCut's mixture initialisation
// (k-means++) draws from cv::theRNG(); it is seeded with `seed` (and restored
// afterwards), so the mask depends only on the inputs and the seed.
std::vector<std::uint8_t> grabcut_mask(const cv::Mat& rgb, const Prompt& prompt, const GrabCutOptions& options,
                                       std::uint64_t seed);

// Masks of quality 1 (the prompt's score alone ranks them); prompt i of an item
// is seeded with item_seed(seed, "prompt<i>").
std::unique_ptr<PromptSegmenter> make_grabcut_segmenter(const GrabCutOptions& options);

}  // namespace wsss::pseudo
