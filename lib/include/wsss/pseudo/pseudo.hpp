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

#include "wsss/core/stage.hpp"
#include "wsss/data/vocab.hpp"
#include "wsss/eval/confusion.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"

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
  std::string field = "cam";        // score-map field; its classes are in <field>_classes
  std::string out_field = "pseudo"; // label PNG field (e.g. ir_label for IRN's IR labels)
  BackgroundRule background;        // ignored when the map has its own background channel
  IgnoreRule ignore;
  std::string crf;                  // preset name ("irn", "psa", "deeplab") or empty for none
  int crf_threads = 1;
};

// A record's score map with the checks every consumer needs: the channel classes
// are ascending ids of the vocabulary (a leading 0 is a background channel),
// among the record's labels when it has labels, and the map is width x height.
struct RecordScores {
  ScoreMap map;
  std::vector<int> classes;
};
RecordScores load_scores(const Record& record, const std::string& field, const Vocabulary& vocab,
                         const fs::path& manifest, int width, int height);

// Probabilities over [background, classes...], label-major (k+1) x H x W, and the
// class id of each channel. A map with its own background channel is used as is.
struct ChannelScores {
  std::vector<float> prob;
  std::vector<int> ids;
  int width = 0, height = 0;
  int channels() const { return int(ids.size()); }
};
ChannelScores with_background(const RecordScores& scores, const BackgroundRule& rule);

// Index of the largest channel per pixel of label-major scores (channels x n);
// the first maximum wins, so channel 0 (background) wins ties, as np.argmax over
// [bg, cams] does.
std::vector<std::uint8_t> argmax(const float* prob, int channels, std::size_t n);

// The CRF of a preset on channel scores: returns the marginals (same layout).
// Label-unary presets (irn) start from the argmax. With one channel it is the input.
std::vector<float> crf_marginals(const cv::Mat& rgb, const ChannelScores& scores, const std::string& preset,
                                 int threads);

// Label map (class ids, 255 = ignore) of a score map under the options. `rgb` is
// needed only with a CRF.
Mask pseudo_labels(const cv::Mat& rgb, const RecordScores& scores, const PseudoOptions& options);

// wsss-pseudo's per-image stage: OUT/<out_field>/<id>.png and the field.
std::unique_ptr<ItemProcessor> make_pseudo_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                     const fs::path& out_dir, const PseudoOptions& options);

}  // namespace wsss::pseudo
