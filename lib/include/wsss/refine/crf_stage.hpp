#pragma once
// wsss-refine crf: dense-CRF refinement of score maps, or of label masks (pseudo
// masks, SAM masks, predictions) through pydensecrf's label unary. The output is
// the CRF's marginals as a score map whose first channel is background (classes
// [0, ...]), so wsss-pseudo and wsss-miou take it like any other score map.
#include <filesystem>
#include <opencv2/core.hpp>
#include <memory>
#include <string>

#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/scores/score_map.hpp"

namespace wsss::refine {

namespace fs = std::filesystem;

// The CRF of a preset (densecrf.hpp) on channel scores, as wsss-refine crf,
// wsss-pseudo --crf and wsss-train-seg predict --crf run it: returns the
// marginals (same layout). Label-unary presets (irn) start from the argmax.
// With one channel it is the input.
std::vector<float> crf_marginals(const cv::Mat& rgb, const ChannelScores& scores, const std::string& preset,
                                 int threads);

struct CrfStageOptions {
  std::string field = "cam";
  // A label-PNG field to refine instead of the score map: its classes, the record's
  // labels and background are the CRF's labels (refine::mask_label_set), 255 is unsure.
  std::string mask_field;
  double gt_prob = -1;  // label unary's confidence; < 0: the preset's (0.7)
  int iterations = -1;  // -1: the preset's
  std::string preset = "deeplab";
  BackgroundRule background{BackgroundRule::Power, 1.0};  // CLIP-ES: bg = (1 - max)^1
  bool drop_bg_channel = false;  // drop a map's own background channel; `background` decides instead
  bool float16 = false;
  int threads = 1;  // CRF threads per image
};

// Writes OUT/refined/<id>.npy and adds "refined" and "refined_classes".
std::unique_ptr<ItemProcessor> make_crf_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                  const fs::path& out_dir, const CrfStageOptions& options);

}  // namespace wsss::refine
