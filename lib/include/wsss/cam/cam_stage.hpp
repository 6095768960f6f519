#pragma once
// wsss-cam's per-image stage: IRN's make_cam (cam.hpp) with a trained CAM
// classifier, written as score maps (docs/cam.md); or, with the same scales,
// flips and outputs, ReCAM's maps (recam.hpp, docs/recam.md) or LPCAM's
// (lpcam.hpp, docs/lpcam.md).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "wsss/io/vocab.hpp"
#include "wsss/stage/stage.hpp"

namespace wsss::cam {

namespace fs = std::filesystem;

// Where the CAM classes of an image come from.
enum class CamClassSource { Labels, Predicted, All };
// "labels", "pred" or "all"; UsageError otherwise.
CamClassSource parse_cam_class_source(const std::string& text);

struct CamStageOptions {
  std::vector<double> scales = {1.0, 0.5, 1.5, 2.0};
  bool flip = true;
  bool lowres = true;
  bool float16 = false;
  bool preview = false;  // also OUT/preview/<id>.jpg: each class's CAM over the image
  CamClassSource classes = CamClassSource::Labels;
  std::string device = "cpu";
  bool recam = false;      // the model is a ReCAM model: CAM = relu(conv(feat, W_rec * W_cls))
  std::string prototypes;  // LPCAM with these prototypes (wsss-lpcam cluster) and the CAM classifier
};

// IRN's make_cam per image (ReCAM's or LPCAM's maps with options.recam or
// options.prototypes): writes OUT/cam/<id>.npy (and cam_lowres/<id>.npy) and
// adds "cam", "cam_classes" (and "cam_lowres").
std::unique_ptr<ItemProcessor> make_cam_processor(const fs::path& model, const Vocabulary& vocab,
                                                  const fs::path& manifest, const fs::path& out_dir, const CamStageOptions& options);


}  // namespace wsss::cam
