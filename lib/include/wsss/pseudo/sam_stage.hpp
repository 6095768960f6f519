#pragma once
// wsss-sam's per-image stage: prompts (detector boxes or CAM-derived boxes and
// points) -> a promptable segmenter (a SAM-family TorchScript model, or GrabCut)
// -> one mask per prompt -> merged into a label PNG, OUT/<out_field>/<id>.png,
// and the record field. docs/sam.md.
#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/pseudo/cam_prompts.hpp"
#include "wsss/pseudo/grabcut.hpp"
#include "wsss/pseudo/merge.hpp"
#include "wsss/pseudo/prompts.hpp"
#include "wsss/pseudo/segmenter.hpp"

namespace wsss::pseudo {

namespace fs = std::filesystem;

enum class SegmenterKind {
  Sam,      // a SAM-family TorchScript file (`model`)
  GrabCut,  // cv::grabCut, no weights (grabcut.hpp); masks of quality 1
};

struct SamStageOptions {
  SegmenterKind segmenter = SegmenterKind::Sam;
  fs::path model;                 // TorchScript file (scripts/export_sam.py)
  GrabCutOptions grabcut;
  std::string device = "cpu";
  bool multimask = false;         // SAM_WSSS: off; on: the best of M masks by predicted IoU
  // Prompt source: detections (a COCO results JSON) or the record's CAM.
  fs::path detections;
  fs::path prompt_names;          // empty: data_manifests/<vocab>/prompts.json when shipped
  DetectionOptions detection;
  std::string cam_field;          // non-empty: CAM prompts from this score-map field
  CamPromptOptions cam;
  MergeOptions merge;
  std::string out_field = "pseudo";

  // The prompt source chosen with --cam-prompts: CAM prompts from cam_field
  // ("cam" unless given); UsageError for a bad mode.
  void use_cam_prompts(const std::string& mode);
  // UsageError for options that contradict each other: both or neither prompt
  // source, --model with grabcut or without it for sam, --multimask with
  // grabcut, --cam-field without --cam-prompts; and each part's own checks.
  void validate() const;

 private:
  bool cam_prompts_ = false;
};

// Counted over the images processed (not the skipped ones), for the log.
struct SamStageCounts {
  std::atomic<std::size_t> images{0}, prompts{0}, no_prompts{0}, embeddings{0};
};

// The per-image loop with any segmenter: reads the detections (file-level
// problems throw here, before any item), then calls `make_segmenter` (last: a
// large model takes a while to load). torch-free; GrabCut needs nothing more.
using SegmenterFactory = std::function<std::unique_ptr<PromptSegmenter>()>;
std::unique_ptr<ItemProcessor> make_prompt_processor(const Manifest& manifest, const Vocabulary& vocab,
                                                     const fs::path& out_dir, const SamStageOptions& options,
                                                     SamStageCounts& counts, const SegmenterFactory& make_segmenter);

// make_prompt_processor with options.segmenter: for Sam, loads and checks the
// model (sam_stage_torch.cpp, wsss_torch).
std::unique_ptr<ItemProcessor> make_sam_processor(const Manifest& manifest, const Vocabulary& vocab,
                                                  const fs::path& out_dir, const SamStageOptions& options,
                                                  SamStageCounts& counts);

}  // namespace wsss::pseudo
