#include "wsss/metrics/classification.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace wsss {

double average_precision(const std::vector<float>& scores, const std::vector<bool>& truth) {
  std::size_t n = scores.size();
  std::size_t positives = std::count(truth.begin(), truth.end(), true);
  if (positives == 0) return std::nan("");
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  double ap = 0, prev_recall = 0;
  std::size_t tp = 0, seen = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) {  // a threshold takes all ties at once
      tp += truth[order[j]];
      ++j;
    }
    seen = j;
    double recall = double(tp) / positives, precision = double(tp) / seen;
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    i = j;
  }
  return ap;
}

ClassificationMetrics classification_metrics(const std::vector<std::vector<float>>& scores,
                                             const std::vector<std::vector<bool>>& truth, float threshold) {
  ClassificationMetrics m;
  std::size_t classes = scores.empty() ? 0 : scores[0].size();
  std::size_t all_tp = 0, all_fp = 0, all_fn = 0;
  double ap_sum = 0, f1_sum = 0;
  int ap_count = 0, f1_count = 0;
  for (std::size_t k = 0; k < classes; ++k) {
    std::vector<float> s(scores.size());
    std::vector<bool> t(scores.size());
    std::size_t tp = 0, fp = 0, fn = 0;
    for (std::size_t i = 0; i < scores.size(); ++i) {
      s[i] = scores[i][k];
      t[i] = truth[i][k];
      bool pred = s[i] >= threshold;
      tp += pred && t[i];
      fp += pred && !t[i];
      fn += !pred && t[i];
    }
    double ap = average_precision(s, t);
    m.ap.push_back(ap);
    if (!std::isnan(ap)) { ap_sum += ap; ++ap_count; }
    double f1 = (2 * tp + fp + fn) == 0 ? std::nan("") : 2.0 * tp / double(2 * tp + fp + fn);
    m.f1.push_back(f1);
    if (!std::isnan(f1)) { f1_sum += f1; ++f1_count; }
    all_tp += tp; all_fp += fp; all_fn += fn;
  }
  m.mean_ap = ap_count ? ap_sum / ap_count : std::nan("");
  m.macro_f1 = f1_count ? f1_sum / f1_count : std::nan("");
  m.micro_f1 = (2 * all_tp + all_fp + all_fn) ? 2.0 * all_tp / double(2 * all_tp + all_fp + all_fn) : std::nan("");
  return m;
}

}  // namespace wsss
