#pragma once
// The promptable segmenter behind wsss-sam's per-image loop (sam_stage.hpp): a
// SAM-family TorchScript model (models/sam.hpp, wsss_torch) or GrabCut
// (pseudo/grabcut.hpp, no weights). The loop around it (prompts, checks, merge,
// output) is the same for both.
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "wsss/pseudo/prompts.hpp"

namespace wsss::pseudo {

struct PromptedMask {
  std::vector<std::uint8_t> mask;  // height*width, 0/1
  float quality = 1.0f;            // SAM's predicted IoU; 1 for a segmenter without one
};

class PromptSegmenter {
 public:
  virtual ~PromptSegmenter() = default;
  // One mask per prompt of an RGB uint8 image. Called from several workers at
  // once; the masks depend only on the image, the prompts and `seed` (the
  // item's seed), so that a stage's output is the same for any -j.
  virtual std::vector<PromptedMask> segment(const cv::Mat& rgb, const std::vector<Prompt>& prompts,
                                            std::uint64_t seed) = 0;
};

}  // namespace wsss::pseudo
