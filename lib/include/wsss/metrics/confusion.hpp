#pragma once
// Confusion matrices and the metrics derived from them, in the chainercv /
// IRN convention: rows are ground-truth classes, columns predicted classes,
// GT pixels equal to the ignore id are not counted. See docs/evaluation.md.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

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

// The confusion row of each 8-bit mask value: the class id for 0..k-1, -1 for
// the ignore id, -2 for anything else (an invalid value).
std::array<int, 256> gt_rows(int k, int ignore);
// InputError naming `file`: `value` is neither a class id 0..k-1 nor the ignore id.
[[noreturn]] void bad_value(const fs::path& file, int value, int k, int ignore);

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

}  // namespace wsss
