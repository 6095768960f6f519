#pragma once
// wsss-miou's one-pass background-threshold sweep (docs/evaluation.md).
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"
#include "wsss/metrics/confusion.hpp"

namespace wsss {

namespace fs = std::filesystem;

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
