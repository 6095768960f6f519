#pragma once
// Pseudo labels from score maps (CAMs or refined maps): a background score,
// optional dense CRF, an optional ignore rule, then argmax over the image's
// classes. The rules are those of the reference code:
//   background: a constant threshold t (IRN) or (1 - max)^A (PSA, CLIP-ES);
//   ignore (255): IRN's two-threshold rule (foreground where the high-threshold
//     labels say foreground, background where both say background), or a
//     minimum confidence (CLIP-ES: max probability < 0.95);
//   CRF: the presets of lib/refine (irn: label unary; psa, deeplab: probabilities).
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/scores/score_map.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"
#include "wsss/pseudo/saliency.hpp"

namespace wsss::pseudo {

namespace fs = std::filesystem;

struct IgnoreRule {
  enum Kind { None, Irn, Confidence } kind = None;
  float fg = 0.30f, bg = 0.05f;   // Irn: conf_fg_thres, conf_bg_thres
  float min_confidence = 0.95f;   // Confidence: pixels whose top probability is lower become 255
  // "none", "irn", "irn:FG:BG", "confidence", "confidence:P"; UsageError otherwise.
  static IgnoreRule parse(const std::string& text);
};

struct PseudoOptions {
  void validate() const;  // UsageError on contradicting options
  std::string field = "cam";        // score-map field; its classes are in <field>_classes
  std::string out_field = "pseudo"; // label PNG field (e.g. ir_label for IRN's IR labels)
  BackgroundRule background;        // ignored when the map has its own background channel
  bool background_given = false;    // the user chose `background` (the IRN ignore rule has its own)
  bool drop_bg_channel = false;     // drop a map's own background channel; `background`/`ignore` decide instead
  IgnoreRule ignore;
  std::string crf;                  // preset name ("irn", "psa", "deeplab") or empty for none
  // A field of saliency maps: background from saliency, classes from the maps
  // (saliency.hpp); excludes a background rule, --ignore and --crf.
  std::string saliency_field;
  SaliencyRule saliency;
  int crf_threads = 1;
};

// Label map (class ids, 255 = ignore) of a score map under the options. `rgb` is
// needed only with a CRF.
Mask pseudo_labels(const cv::Mat& rgb, const RecordScores& scores, const PseudoOptions& options);

// wsss-pseudo's per-image stage: OUT/<out_field>/<id>.png and the field.
std::unique_ptr<ItemProcessor> make_pseudo_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                     const fs::path& out_dir, const PseudoOptions& options);

}  // namespace wsss::pseudo
