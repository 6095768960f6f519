#include "wsss/pseudo/grabcut.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <string>

#include "wsss/core/error.hpp"
#include "wsss/stage/stage.hpp"

namespace wsss::pseudo {

namespace {

// cv::grabCut's GMMs have 5 components; its k-means needs at least as many samples.
constexpr int kComponents = 5;

// Restores the thread's cv::theRNG() state on scope exit, so that seeding it for
// one prompt leaves other OpenCV users of the thread as they were.
struct RngScope {
  std::uint64_t saved;
  explicit RngScope(std::uint64_t seed) : saved(cv::theRNG().state) {
    cv::theRNG().state = seed ? seed : 0x9E3779B97F4A7C15ULL;  // state 0 would stay 0
  }
  ~RngScope() { cv::theRNG().state = saved; }
};

class GrabCutSegmenter : public PromptSegmenter {
 public:
  explicit GrabCutSegmenter(const GrabCutOptions& o) : options_(o) { o.validate(); }
  std::vector<PromptedMask> segment(const cv::Mat& rgb, const std::vector<Prompt>& prompts,
                                    std::uint64_t seed) override {
    std::vector<PromptedMask> out(prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i)
      out[i].mask = grabcut_mask(rgb, prompts[i], options_, item_seed(seed, "prompt" + std::to_string(i)));
    return out;
  }

 private:
  GrabCutOptions options_;
};

}  // namespace

void GrabCutOptions::validate() const {
  if (iterations < 1 || iterations > 100)
    throw UsageError("--grabcut-iterations " + std::to_string(iterations) + ": expected 1..100");
  if (point_radius < 0 || point_radius > 100)
    throw UsageError("--grabcut-point-radius " + std::to_string(point_radius) + ": expected 0..100");
}

std::vector<std::uint8_t> grabcut_mask(const cv::Mat& rgb, const Prompt& prompt, const GrabCutOptions& options,
                                       std::uint64_t seed) {
  if (rgb.type() != CV_8UC3 || rgb.empty()) throw Error("grabcut: expected a non-empty 8-bit 3-channel image");
  if (prompt.point_labels.size() != prompt.points.size())
    throw Error(prompt.origin + ": " + std::to_string(prompt.points.size()) + " points but " +
                std::to_string(prompt.point_labels.size()) + " point labels");
  const int w = rgb.cols, h = rgb.rows;
  cv::Mat mask(h, w, CV_8U, cv::Scalar(cv::GC_PR_BGD));
  cv::Rect rect;
  if (prompt.box) {
    // Pixels whose area the box touches: a box over columns a..b has x0 = a, x1 = b + 1.
    const Box& b = *prompt.box;
    int x0 = std::clamp(int(std::floor(b.x0)), 0, w), x1 = std::clamp(int(std::ceil(b.x1)), 0, w);
    int y0 = std::clamp(int(std::floor(b.y0)), 0, h), y1 = std::clamp(int(std::ceil(b.y1)), 0, h);
    rect = cv::Rect(x0, y0, std::max(x1 - x0, 0), std::max(y1 - y0, 0));
    mask.setTo(cv::GC_BGD);  // as GC_INIT_WITH_RECT: outside the box is background
    mask(rect).setTo(cv::GC_PR_FGD);
  } else if (prompt.points.empty()) {
    throw Error(prompt.origin + ": a prompt with neither a box nor points");
  }
  for (std::size_t i = 0; i < prompt.points.size(); ++i) {
    cv::Point p(int(std::lround(prompt.points[i][0])), int(std::lround(prompt.points[i][1])));
    cv::circle(mask, p, options.point_radius, prompt.point_labels[i] ? cv::GC_FGD : cv::GC_BGD, cv::FILLED);
  }
  int fg = 0;
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* m = mask.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) fg += m[x] == cv::GC_FGD || m[x] == cv::GC_PR_FGD;
  }
  if (fg >= kComponents && w * h - fg >= kComponents) {
    RngScope rng(seed);
    cv::Mat bgd_model, fgd_model;
    // Without points the mask above is exactly what GC_INIT_WITH_RECT builds.
    cv::grabCut(rgb, mask, rect, bgd_model, fgd_model, options.iterations,
                prompt.points.empty() ? cv::GC_INIT_WITH_RECT : cv::GC_INIT_WITH_MASK);
  }
  std::vector<std::uint8_t> out(std::size_t(w) * std::size_t(h));
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* m = mask.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) out[std::size_t(y) * w + x] = m[x] == cv::GC_FGD || m[x] == cv::GC_PR_FGD;
  }
  return out;
}

std::unique_ptr<PromptSegmenter> make_grabcut_segmenter(const GrabCutOptions& options) {
  return std::make_unique<GrabCutSegmenter>(options);
}

}  // namespace wsss::pseudo
