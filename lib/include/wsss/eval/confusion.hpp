#pragma once
// Confusion matrices and the metrics derived from them, in the chainercv /
// IRN convention: rows are ground-truth classes, columns predicted classes,
// GT pixels equal to the ignore id are not counted. See docs/evaluation.md.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"

namespace wsss {

namespace fs = std::filesystem;

// What a predicted 255 ("ignore" in pseudo masks) counts as.
enum class PredIgnore {
  Wrong,       // a miss for the GT class (false negative), never a class of its own
  Background,  // class 0, as IRN's eval_sem_seg does (pred[pred == 255] = 0)
};

struct Confusion {
  int k = 0;  // number of classes, background included
  // k rows x (k + 1) columns: column k holds GT pixels whose prediction was an
  // ignored 255 under PredIgnore::Wrong (they count against the GT class only).
  std::vector<std::uint64_t> counts;

  Confusion() = default;
  explicit Confusion(int classes) : k(classes), counts(std::size_t(classes) * (classes + 1), 0) {}
  std::uint64_t& at(int gt, int pred) { return counts[std::size_t(gt) * (k + 1) + pred]; }
  std::uint64_t at(int gt, int pred) const { return counts[std::size_t(gt) * (k + 1) + pred]; }
  std::uint64_t& pred_ignored(int gt) { return counts[std::size_t(gt) * (k + 1) + k]; }
  std::uint64_t pred_ignored(int gt) const { return counts[std::size_t(gt) * (k + 1) + k]; }
  void add(const Confusion& other);  // same k
  bool operator==(const Confusion& o) const { return k == o.k && counts == o.counts; }
};

// Adds a GT/prediction mask pair (same size). GT pixels equal to `ignore` are
// skipped; other values >= k in either mask are an InputError naming the file.
void accumulate_masks(Confusion& confusion, const Mask& gt, const Mask& pred, PredIgnore pred_ignore,
                      int ignore, const fs::path& gt_file, const fs::path& pred_file);
// An all-background prediction for `gt` (wsss-miou --missing empty).
void accumulate_empty(Confusion& confusion, const Mask& gt, int ignore, const fs::path& gt_file);

struct ClassScore {
  bool valid = false;  // union non-empty
  double iou = 0, precision = 0, recall = 0, fp = 0, fn = 0;  // NaN where undefined
  std::uint64_t tp = 0, gt_pixels = 0, pred_pixels = 0;
};

struct Scores {
  std::vector<ClassScore> classes;
  int valid = 0;           // classes with a non-empty union
  double miou = 0;         // mean IoU over valid classes (NaN when none)
  double bg_fp = 0, bg_fn = 0;
  double fg_fp_mean = 0, fg_fn_mean = 0;  // over valid foreground classes
};

// IoU = tp / (gt + pred - tp); precision = tp / pred; recall = tp / gt;
// IRN's ratios fp = 1 - gt / union and fn = 1 - pred / union.
Scores compute_scores(const Confusion& confusion);

// How a score map's pixels become classes.
struct BackgroundRule {
  enum Kind { Threshold, Power } kind = Threshold;
  double value = 0.15;  // threshold t, or exponent A of bg = (1 - max)^A
};

// Labels of a [k,H,W] score map whose channels are `classes` (ascending ids):
// the max channel's class where it beats the background score, else 0 (ties
// go to background, as argmax over [bg, scores...] does).
// A score map whose first channel is class 0 scores background itself (e.g. CRF
// marginals): its label is the plain argmax and no background rule applies.
inline bool has_background_channel(const std::vector<int>& classes) { return !classes.empty() && classes[0] == 0; }

void check_score_map(const ScoreMap& map, const std::vector<int>& classes, int num_classes, int width, int height,
                     const fs::path& file);
Mask score_map_to_mask(const ScoreMap& map, const std::vector<int>& classes, const BackgroundRule& rule);

// Every constant background threshold of a sweep at once: each pixel is filed
// under (gt, argmax class, number of thresholds below its max score), and
// suffix sums over that last index give the confusion matrix of each threshold.
class ThresholdSweep {
 public:
  ThresholdSweep(int num_classes, std::vector<double> thresholds);
  const std::vector<double>& thresholds() const { return thresholds_; }
  void add_score_map(const Mask& gt, const ScoreMap& map, const std::vector<int>& classes, int ignore,
                     const fs::path& gt_file);
  void add_empty(const Mask& gt, int ignore, const fs::path& gt_file);
  void add(const ThresholdSweep& other);
  Confusion confusion_at(std::size_t i) const;

 private:
  int k_;
  std::vector<double> thresholds_;
  std::vector<float> thresholds_f_;  // compared as float32, as IRN's np.pad onto float32 CAMs does
  std::vector<std::uint64_t> hist_;  // [gt][class][bucket 0..n]
};

// "A:B:STEP" (inclusive of B within rounding) -> thresholds, each rounded to 9
// decimals so that a value printed by the sweep reads back as the same number.
std::vector<double> parse_sweep(const std::string& text);

// The shortest decimal text that reads back as exactly `value`.
std::string format_shortest(double value);

}  // namespace wsss
