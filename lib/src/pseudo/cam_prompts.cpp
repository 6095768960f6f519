#include "wsss/pseudo/cam_prompts.hpp"

#include <algorithm>
#include <cstdint>
#include <opencv2/imgproc.hpp>

#include "wsss/core/error.hpp"

namespace wsss::pseudo {

CamPromptOptions CamPromptOptions::parse(const std::string& mode) {
  CamPromptOptions o;
  if (mode == "box") o.points = false;
  else if (mode == "point") o.boxes = false;
  else if (mode != "box+point") throw UsageError("--cam-prompts " + mode + ": expected box, point or box+point");
  return o;
}

std::string CamPromptOptions::mode() const { return boxes && points ? "box+point" : boxes ? "box" : "point"; }

void CamPromptOptions::validate() const {
  if (!boxes && !points) throw UsageError("CAM prompts need boxes, points or both");
  if (!(threshold > 0 && threshold <= 1)) throw UsageError("--cam-threshold must be within (0, 1]");
  if (max_regions < 1) throw UsageError("--cam-regions must be at least 1");
  if (!(min_region >= 0 && min_region <= 1)) throw UsageError("--cam-min-region must be within [0, 1]");
}

std::vector<Prompt> cam_prompts(const ScoreMap& map, const std::vector<int>& classes, const CamPromptOptions& o,
                                const std::string& origin) {
  o.validate();
  const int h = int(map.height()), w = int(map.width()), k = int(map.channels());
  if (std::size_t(k) != classes.size())
    throw Error(origin + ": score map has " + std::to_string(k) + " channels for " + std::to_string(classes.size()) +
                " classes");
  const std::size_t n = std::size_t(h) * std::size_t(w);
  // The winning channel per pixel (the first of equal scores).
  std::vector<int> best(n, 0);
  for (int c = 1; c < k; ++c) {
    const float* s = map.channel(c);
    for (std::size_t i = 0; i < n; ++i)
      if (s[i] > map.channel(best[i])[i]) best[i] = c;
  }
  std::vector<Prompt> prompts;
  for (int c = 0; c < k; ++c) {
    if (classes[std::size_t(c)] == 0) continue;
    const float* s = map.channel(c);
    const float peak = *std::max_element(s, s + n);
    if (!(peak > 0)) continue;  // an empty or all-zero map proposes nothing
    cv::Mat region(h, w, CV_8U, cv::Scalar(0));
    for (std::size_t i = 0; i < n; ++i)
      if (best[i] == c && s[i] >= o.threshold * peak) region.data[i] = 1;
    cv::Mat labels, stats, centroids;
    const int count = cv::connectedComponentsWithStats(region, labels, stats, centroids, 8, CV_32S);
    struct Region {
      int label, area;
    };
    std::vector<Region> regions;  // OpenCV numbers components in raster order of their first pixel
    for (int l = 1; l < count; ++l) regions.push_back({l, stats.at<int>(l, cv::CC_STAT_AREA)});
    std::stable_sort(regions.begin(), regions.end(), [](const Region& a, const Region& b) { return a.area > b.area; });
    if (regions.empty()) continue;
    const int largest = regions.front().area;
    for (std::size_t r = 0; r < regions.size() && int(r) < o.max_regions; ++r) {
      const Region& g = regions[r];
      if (g.area < o.min_region * largest) break;
      const int x = stats.at<int>(g.label, cv::CC_STAT_LEFT), y = stats.at<int>(g.label, cv::CC_STAT_TOP);
      const int bw = stats.at<int>(g.label, cv::CC_STAT_WIDTH), bh = stats.at<int>(g.label, cv::CC_STAT_HEIGHT);
      // The region's peak: the first maximum in raster order.
      float top = -1;
      int px = x, py = y;
      for (int yy = y; yy < y + bh; ++yy)
        for (int xx = x; xx < x + bw; ++xx)
          if (labels.at<int>(yy, xx) == g.label && s[std::size_t(yy) * std::size_t(w) + std::size_t(xx)] > top) {
            top = s[std::size_t(yy) * std::size_t(w) + std::size_t(xx)];
            px = xx, py = yy;
          }
      Prompt p;
      p.class_id = classes[std::size_t(c)];
      p.score = top / peak;
      if (o.boxes) p.box = Box{float(x), float(y), float(x + bw), float(y + bh)};
      if (o.points) {
        p.points.push_back({float(px), float(py)});
        p.point_labels.push_back(1);
      }
      p.origin = origin + " class " + std::to_string(p.class_id) + " region " + std::to_string(r + 1);
      prompts.push_back(std::move(p));
    }
  }
  return prompts;
}

}  // namespace wsss::pseudo
