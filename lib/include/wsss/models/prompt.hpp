#pragma once
// A prompt for a promptable segmenter (SAM, GrabCut): a class with a box and/or
// points in the original image's frame. The SAM model (models/sam.hpp) takes
// them; the SAM path (pseudo/prompts.hpp) makes them from detections, tags and
// CAMs.
#include <array>
#include <optional>
#include <string>
#include <vector>

namespace wsss {

// A box in the original image's pixel frame, corners (x0, y0) top-left and
// (x1, y1) bottom-right, as SAM's predictor takes it (xyxy).
struct Box {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  float area() const { return (x1 - x0) * (y1 - y0); }
};

struct Prompt {
  int class_id = 0;                        // vocabulary id (>= 1)
  float score = 1.0f;                      // detector score; 1 for tags without boxes and for CAM prompts
  std::optional<Box> box;
  std::vector<std::array<float, 2>> points;  // (x, y) pixels, original frame
  std::vector<int> point_labels;             // 1 foreground, 0 background (SAM's convention)
  std::string origin;                        // "FILE item N" etc., for messages
};

}  // namespace wsss
