#include "wsss/pseudo/saliency.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "wsss/core/error.hpp"
#include "wsss/io/npy_array.hpp"

namespace wsss::pseudo {

void SaliencyRule::validate() const {
  auto unit = [](double v, const char* option) {
    if (!(v >= 0 && v <= 1)) throw UsageError(std::string(option) + " must be within [0, 1]");
  };
  unit(threshold, "--sal-threshold");
  unit(floor, "--sal-floor");
  unit(conflict, "--sal-conflict");
  unit(object, "--sal-object");
  unit(min_foreground, "--sal-min-fg");
}

std::vector<float> read_saliency(const fs::path& file, int width, int height) {
  if (!fs::exists(file)) throw InputError(file, "saliency map does not exist");
  std::vector<float> out;
  if (file.extension() == ".npy") {
    ScoreMap m = read_npy_array(file);  // finite values only
    const bool plane = m.shape.size() == 2 || (m.shape.size() == 3 && m.shape[0] == 1);
    if (!plane) throw InputError(file, "saliency map must be [H, W] or [1, H, W]");
    const std::int64_t h = m.shape[m.shape.size() - 2], w = m.shape.back();
    if (w != width || h != height)
      throw InputError(file, "saliency map is " + std::to_string(w) + "x" + std::to_string(h) + " but the image is " +
                                 std::to_string(width) + "x" + std::to_string(height));
    for (std::size_t i = 0; i < m.data.size(); ++i)
      if (!(m.data[i] >= 0 && m.data[i] <= 1))
        throw InputError(file, "saliency " + std::to_string(m.data[i]) + " at (x=" + std::to_string(i % std::size_t(w)) +
                                   ", y=" + std::to_string(i / std::size_t(w)) + ") is outside [0, 1]");
    out = std::move(m.data);
  } else {
    Mask m = read_mask(file);  // 8-bit greyscale (or palette indices), else an error naming the file
    if (m.width != width || m.height != height)
      throw InputError(file, "saliency map is " + std::to_string(m.width) + "x" + std::to_string(m.height) +
                                 " but the image is " + std::to_string(width) + "x" + std::to_string(height));
    out.resize(m.data.size());
    for (std::size_t i = 0; i < m.data.size(); ++i) out[i] = float(m.data[i]) / 255.0f;
  }
  return out;
}

Mask saliency_labels(const RecordScores& scores, const std::vector<float>& saliency, const SaliencyRule& rule) {
  if (has_background_channel(scores.classes))
    throw Error("the saliency rule needs score maps without a background channel (saliency sets the background; "
                "--drop-bg-channel drops it)");
  const int w = int(scores.map.width()), h = int(scores.map.height());
  const std::size_t n = std::size_t(w) * std::size_t(h);
  if (saliency.size() != n) throw Error("saliency_labels: saliency and score map differ in size");
  const std::size_t k = scores.classes.size();
  // OAA: att = (att - min) / (max - min + 1e-8), per class over the image.
  std::vector<float> low(k), span(k);
  for (std::size_t c = 0; c < k; ++c) {
    const float* s = scores.map.channel(std::int64_t(c));
    const auto [mn, mx] = std::minmax_element(s, s + n);
    low[c] = *mn;
    span[c] = float(double(*mx) - double(*mn) + 1e-8);
  }
  const float floor = float(rule.floor), conflict = float(rule.conflict), object = float(rule.object);
  const float threshold = float(rule.threshold);
  Mask out(w, h, 0);
  std::size_t foreground = 0;
  for (std::size_t i = 0; i < n; ++i) {
    float best = 1.0f - saliency[i];
    if (best < floor) best = 0;
    int label = 0, above = best > conflict ? 1 : 0;
    bool salient = saliency[i] >= threshold;
    for (std::size_t c = 0; c < k; ++c) {
      float v = (scores.map.channel(std::int64_t(c))[i] - low[c]) / span[c];
      if (v > object) salient = true;
      if (v < floor) v = 0;
      if (v > conflict) ++above;
      if (v > best) {
        best = v;
        label = scores.classes[c];
      }
    }
    if (above > 1 || (label == 0 && salient)) {
      out.data[i] = 255;
    } else {
      out.data[i] = std::uint8_t(label);
      if (label != 0) ++foreground;
    }
  }
  if (double(foreground) < rule.min_foreground * double(n)) std::fill(out.data.begin(), out.data.end(), 255);
  return out;
}

}  // namespace wsss::pseudo
