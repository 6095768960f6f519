#include "wsss/eval/confusion.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "wsss/core/error.hpp"

namespace wsss {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string size_text(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

[[noreturn]] void bad_value(const fs::path& file, int value, int k, int ignore) {
  throw InputError(file, "value " + std::to_string(value) + " is not a class id 0.." + std::to_string(k - 1) +
                             " nor the ignore id " + std::to_string(ignore));
}

// GT row for each mask value: the class id, -1 for ignore, -2 for invalid.
std::array<int, 256> gt_rows(int k, int ignore) {
  std::array<int, 256> rows;
  rows.fill(-2);
  for (int v = 0; v < k && v < 256; ++v) rows[std::size_t(v)] = v;
  if (ignore >= 0 && ignore < 256) rows[std::size_t(ignore)] = -1;
  return rows;
}

}  // namespace

void Confusion::add(const Confusion& other) {
  if (other.k != k) throw Error("cannot add confusion matrices of " + std::to_string(k) + " and " +
                                std::to_string(other.k) + " classes");
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
}

void accumulate_masks(Confusion& c, const Mask& gt, const Mask& pred, PredIgnore pred_ignore, int ignore,
                      const fs::path& gt_file, const fs::path& pred_file) {
  if (gt.width != pred.width || gt.height != pred.height)
    throw InputError(pred_file, "size " + size_text(pred.width, pred.height) + " differs from the GT's " +
                                    size_text(gt.width, gt.height) + " (" + gt_file.string() + ")");
  const int k = c.k;
  const auto rows = gt_rows(k, ignore);
  // Column for each predicted value; lookup tables keep the pixel loop branch-light.
  std::array<int, 256> cols;
  cols.fill(-1);
  for (int v = 0; v < k && v < 256; ++v) cols[std::size_t(v)] = v;
  if (ignore >= 0 && ignore < 256) cols[std::size_t(ignore)] = pred_ignore == PredIgnore::Wrong ? k : 0;
  const std::uint8_t* g = gt.data.data();
  const std::uint8_t* p = pred.data.data();
  std::uint64_t* counts = c.counts.data();
  const std::size_t n = gt.data.size(), stride = std::size_t(k) + 1;
  for (std::size_t i = 0; i < n; ++i) {
    int row = rows[g[i]];
    if (row < 0) {
      if (row == -1) continue;
      bad_value(gt_file, g[i], k, ignore);
    }
    int col = cols[p[i]];
    if (col < 0) bad_value(pred_file, p[i], k, ignore);
    ++counts[std::size_t(row) * stride + std::size_t(col)];
  }
}

void accumulate_empty(Confusion& c, const Mask& gt, int ignore, const fs::path& gt_file) {
  const auto rows = gt_rows(c.k, ignore);
  for (std::uint8_t v : gt.data) {
    int row = rows[v];
    if (row == -1) continue;
    if (row < 0) bad_value(gt_file, v, c.k, ignore);
    ++c.at(row, 0);
  }
}

Scores compute_scores(const Confusion& c) {
  Scores s;
  const int k = c.k;
  s.classes.resize(std::size_t(k));
  std::vector<std::uint64_t> col_sums(std::size_t(k), 0);
  for (int g = 0; g < k; ++g)
    for (int p = 0; p < k; ++p) col_sums[std::size_t(p)] += c.at(g, p);
  double iou_sum = 0, fg_fp_sum = 0, fg_fn_sum = 0;
  int fg_valid = 0;
  for (int j = 0; j < k; ++j) {
    ClassScore& cs = s.classes[std::size_t(j)];
    std::uint64_t gtj = c.pred_ignored(j);  // ignored predictions are misses of the GT class
    for (int p = 0; p < k; ++p) gtj += c.at(j, p);
    cs.tp = c.at(j, j);
    cs.gt_pixels = gtj;
    cs.pred_pixels = col_sums[std::size_t(j)];
    std::uint64_t uni = gtj + cs.pred_pixels - cs.tp;
    cs.valid = uni > 0;
    cs.precision = cs.pred_pixels > 0 ? double(cs.tp) / double(cs.pred_pixels) : kNaN;
    cs.recall = gtj > 0 ? double(cs.tp) / double(gtj) : kNaN;
    if (!cs.valid) {
      cs.iou = cs.fp = cs.fn = kNaN;
      continue;
    }
    cs.iou = double(cs.tp) / double(uni);
    cs.fp = 1.0 - double(gtj) / double(uni);
    cs.fn = 1.0 - double(cs.pred_pixels) / double(uni);
    iou_sum += cs.iou;
    ++s.valid;
    if (j > 0) {
      fg_fp_sum += cs.fp;
      fg_fn_sum += cs.fn;
      ++fg_valid;
    }
  }
  s.miou = s.valid > 0 ? iou_sum / s.valid : kNaN;
  s.bg_fp = k > 0 ? s.classes[0].fp : kNaN;
  s.bg_fn = k > 0 ? s.classes[0].fn : kNaN;
  s.fg_fp_mean = fg_valid > 0 ? fg_fp_sum / fg_valid : kNaN;
  s.fg_fn_mean = fg_valid > 0 ? fg_fn_sum / fg_valid : kNaN;
  return s;
}

void check_score_map(const ScoreMap& map, const std::vector<int>& classes, int num_classes, int width, int height,
                     const fs::path& file) {
  if (map.shape.size() != 3)
    throw InputError(file, "score map must have shape [k,H,W], not " + std::to_string(map.shape.size()) + " dimensions");
  if (map.channels() != std::int64_t(classes.size()))
    throw InputError(file, "score map has " + std::to_string(map.channels()) + " channels but the record lists " +
                               std::to_string(classes.size()) + " classes");
  if (map.width() != width || map.height() != height)
    throw InputError(file, "score map size " + size_text(int(map.width()), int(map.height())) +
                               " differs from the GT's " + size_text(width, height));
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (i == 0 && classes[0] == 0) continue;  // a background channel (e.g. CRF marginals) comes first
    if (classes[i] < 1 || classes[i] >= num_classes)
      throw InputError(file, "channel class " + std::to_string(classes[i]) + " outside 1.." +
                                 std::to_string(num_classes - 1));
    if (i > 0 && classes[i] <= classes[i - 1]) throw InputError(file, "channel classes must be ascending");
  }
}

namespace {

// Per pixel: the maximum score and the class of the first channel reaching it
// (np.argmax keeps the first maximum). Pixels of a map without channels get
// class 0 and -inf.
void max_and_argmax(const ScoreMap& map, const std::vector<int>& classes, std::vector<float>& best,
                    std::vector<std::uint8_t>& cls) {
  const std::size_t n = std::size_t(map.height() * map.width());
  best.assign(n, -std::numeric_limits<float>::infinity());
  cls.assign(n, 0);
  for (std::int64_t ch = 0; ch < map.channels(); ++ch) {
    const float* s = map.channel(ch);
    const std::uint8_t id = std::uint8_t(classes[std::size_t(ch)]);
    for (std::size_t i = 0; i < n; ++i)
      if (s[i] > best[i]) {
        best[i] = s[i];
        cls[i] = id;
      }
  }
}

}  // namespace

Mask score_map_to_mask(const ScoreMap& map, const std::vector<int>& classes, const BackgroundRule& rule) {
  std::vector<float> best;
  std::vector<std::uint8_t> cls;
  max_and_argmax(map, classes, best, cls);
  Mask out(int(map.width()), int(map.height()), 0);
  if (has_background_channel(classes)) {  // the map scores background itself: plain argmax
    out.data.assign(cls.begin(), cls.end());
    return out;
  }
  if (rule.kind == BackgroundRule::Threshold) {
    const float t = float(rule.value);
    for (std::size_t i = 0; i < best.size(); ++i) out.data[i] = best[i] > t ? cls[i] : 0;
  } else {
    // CLIP-ES/PSA: bg = (1 - max)^A in float32; NaN (a max above 1 with a
    // fractional A) never wins the comparison, like np.argmax's NaN-first rule.
    const float a = float(rule.value);
    for (std::size_t i = 0; i < best.size(); ++i) {
      float bg = std::pow(1.0f - best[i], a);
      out.data[i] = !std::isnan(bg) && best[i] > bg ? cls[i] : 0;
    }
  }
  return out;
}

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
