#include "wsss/eval/sweep.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "wsss/core/error.hpp"
#include "wsss/scores/score_map.hpp"

namespace wsss {


ThresholdSweep::ThresholdSweep(int num_classes, std::vector<double> thresholds)
    : k_(num_classes), thresholds_(std::move(thresholds)) {
  if (thresholds_.empty()) throw UsageError("empty threshold sweep");
  for (std::size_t i = 1; i < thresholds_.size(); ++i)
    if (!(thresholds_[i] > thresholds_[i - 1])) throw UsageError("sweep thresholds must increase");
  for (double t : thresholds_) thresholds_f_.push_back(float(t));
  hist_.assign(std::size_t(k_) * k_ * (thresholds_.size() + 1), 0);
}

void ThresholdSweep::add_score_map(const Mask& gt, const ScoreMap& map, const std::vector<int>& classes, int ignore,
                                   const fs::path& gt_file) {
  std::vector<float> best;
  std::vector<std::uint8_t> cls;
  max_and_argmax(map, classes, best, cls);
  const auto rows = gt_rows(k_, ignore);
  const std::size_t buckets = thresholds_.size() + 1;
  for (std::size_t i = 0; i < gt.data.size(); ++i) {
    int row = rows[gt.data[i]];
    if (row == -1) continue;
    if (row < 0) bad_value(gt_file, gt.data[i], k_, ignore);
    // Number of thresholds strictly below the max: foreground for exactly those.
    std::size_t b = std::size_t(std::lower_bound(thresholds_f_.begin(), thresholds_f_.end(), best[i]) -
                                thresholds_f_.begin());
    ++hist_[(std::size_t(row) * k_ + cls[i]) * buckets + b];
  }
}

void ThresholdSweep::add_empty(const Mask& gt, int ignore, const fs::path& gt_file) {
  const auto rows = gt_rows(k_, ignore);
  const std::size_t buckets = thresholds_.size() + 1;
  for (std::uint8_t v : gt.data) {
    int row = rows[v];
    if (row == -1) continue;
    if (row < 0) bad_value(gt_file, v, k_, ignore);
    ++hist_[(std::size_t(row) * k_) * buckets];  // class 0: background at every threshold
  }
}

void ThresholdSweep::add(const ThresholdSweep& other) {
  if (other.k_ != k_ || other.thresholds_ != thresholds_) throw Error("cannot add different threshold sweeps");
  for (std::size_t i = 0; i < hist_.size(); ++i) hist_[i] += other.hist_[i];
}

Confusion ThresholdSweep::confusion_at(std::size_t t) const {
  Confusion c(k_);
  const std::size_t buckets = thresholds_.size() + 1;
  for (int g = 0; g < k_; ++g)
    for (int p = 0; p < k_; ++p) {
      const std::uint64_t* h = &hist_[(std::size_t(g) * k_ + p) * buckets];
      std::uint64_t fg = 0, all = 0;
      for (std::size_t b = 0; b < buckets; ++b) {
        all += h[b];
        if (b > t) fg += h[b];
      }
      if (p == 0) fg = 0;
      c.at(g, p) += fg;
      c.at(g, 0) += all - fg;
    }
  return c;
}

std::string format_shortest(double value) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::vector<double> parse_sweep(const std::string& text) {
  auto bad = [&](const std::string& why) { return UsageError("--bg-sweep " + text + ": " + why); };
  std::vector<double> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t colon = text.find(':', start);
    std::string part = text.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    char* end = nullptr;
    double v = std::strtod(part.c_str(), &end);
    if (part.empty() || *end != '\0' || !std::isfinite(v)) throw bad("expected FROM:TO:STEP, e.g. 0.05:0.60:0.01");
    parts.push_back(v);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() != 3) throw bad("expected FROM:TO:STEP, e.g. 0.05:0.60:0.01");
  double from = parts[0], to = parts[1], step = parts[2];
  if (!(step > 0)) throw bad("STEP must be positive");
  if (to < from) throw bad("TO must not be below FROM");
  double count = std::floor((to - from) / step + 1e-6) + 1;
  if (count > 100000) throw bad("more than 100000 thresholds");
  std::vector<double> out;
  for (int i = 0; i < int(count); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9f", from + i * step);
    out.push_back(std::strtod(buf, nullptr));
  }
  return out;
}

}  // namespace wsss
