#pragma once
// Multi-label classification metrics for `wsss-classify` validation and predict.
#include <string>
#include <vector>

namespace wsss {

struct ClassificationMetrics {
  std::vector<double> ap;       // per foreground class; NaN when the class has no positive
  double mean_ap = 0;           // over classes with at least one positive
  std::vector<double> f1;       // per class at the threshold; NaN when undefined (no positive, no prediction)
  double micro_f1 = 0;          // over all (image, class) decisions
  double macro_f1 = 0;          // mean of the defined per-class F1
};

// scores[i][k] and truth[i][k] for image i and foreground class k (0-based).
// AP is scikit-learn's average_precision_score: sum over distinct score
// thresholds of (R_n - R_{n-1}) * P_n, with tied scores taken together.
ClassificationMetrics classification_metrics(const std::vector<std::vector<float>>& scores,
                                             const std::vector<std::vector<bool>>& truth, float threshold);

double average_precision(const std::vector<float>& scores, const std::vector<bool>& truth);

}  // namespace wsss
