#include "wsss/metrics/confusion.hpp"

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

}  // namespace

void bad_value(const fs::path& file, int value, int k, int ignore) {
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

void Confusion::add(const Confusion& other) {
  if (other.k != k) throw Error("cannot add confusion matrices of " + std::to_string(k) + " and " +
                                std::to_string(other.k) + " classes");
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
}

void accumulate_masks(Confusion& c, const Mask& gt, const Mask& pred, PredIgnore pred_ignore, int ignore,
                      const fs::path& gt_file, const fs::path& pred_file) {
  if (gt.width != pred.width || gt.height != pred.height)
    throw InputError(pred_file, "prediction is " + size_text(pred.width, pred.height) + " but the GT mask " +
                                    gt_file.string() + " is " + size_text(gt.width, gt.height) + " (width x height)");
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

}  // namespace wsss
