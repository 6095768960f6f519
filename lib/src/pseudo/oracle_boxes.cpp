#include "wsss/pseudo/oracle_boxes.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <random>

#include "wsss/core/error.hpp"
#include "wsss/stage/stage.hpp"
#include "wsss/io/png.hpp"

namespace wsss::pseudo {

namespace {

struct Edges {
  double x0, y0, x1, y1;
};

double iou(const Edges& a, const Edges& b) {
  double iw = std::max(0.0, std::min(a.x1, b.x1) - std::max(a.x0, b.x0));
  double ih = std::max(0.0, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
  double inter = iw * ih;
  return inter / ((a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter);
}

// Two decimals keep the file readable; the boxes are pixel edges anyway.
double round2(double v) { return std::round(v * 100.0) / 100.0; }

}  // namespace

void OracleBoxOptions::validate() const {
  if (!(jitter >= 0 && jitter <= 1)) throw UsageError("--jitter " + std::to_string(jitter) + ": expected 0..1");
  if (field.empty()) throw UsageError("--field: empty");
}

nlohmann::json oracle_boxes(const Manifest& manifest, const Vocabulary& vocab, const OracleBoxOptions& options,
                            OracleBoxStats* stats) {
  options.validate();
  const std::vector<long long> ids = category_ids(vocab, options.category_ids);
  nlohmann::json out = nlohmann::json::array();
  OracleBoxStats st;
  for (const Record& r : manifest.records) {
    const std::string& id = record_id(r);
    fs::path file = record_path(r, options.field, manifest.path);
    Mask m = read_mask(file);
    cv::Mat labels(m.height, m.width, CV_8U, m.data.data());
    // The draws depend on the record alone (std::mt19937_64 is fully specified;
    // the uniform is made from its bits, not a library distribution).
    std::mt19937_64 rng(item_seed(options.seed, id));
    auto uniform = [&rng] { return double(rng() >> 11) * 0x1.0p-53 * 2.0 - 1.0; };  // [-1, 1)
    std::vector<bool> present(std::size_t(vocab.size()), false);
    for (std::uint8_t v : m.data) {
      if (v == vocab.ignore) continue;
      if (v >= vocab.size())
        throw InputError(file, "label " + std::to_string(v) + " is not a class of the vocabulary (0.." +
                                   std::to_string(vocab.num_foreground()) + " or " + std::to_string(vocab.ignore) + ")");
      present[v] = true;
    }
    bool any = false;
    for (int c = 1; c < vocab.size(); ++c) {
      if (!present[std::size_t(c)]) continue;
      cv::Mat cls = labels == c, comp, boxes, centroids;
      int n = cv::connectedComponentsWithStats(cls, comp, boxes, centroids, 8, CV_32S);
      for (int k = 1; k < n; ++k) {  // label 0 is everything else
        const int* b = boxes.ptr<int>(k);
        Edges truth{double(b[cv::CC_STAT_LEFT]), double(b[cv::CC_STAT_TOP]),
                    double(b[cv::CC_STAT_LEFT] + b[cv::CC_STAT_WIDTH]),
                    double(b[cv::CC_STAT_TOP] + b[cv::CC_STAT_HEIGHT])};
        Edges box = truth;
        double score = 1.0;
        if (options.jitter > 0) {
          const double bw = truth.x1 - truth.x0, bh = truth.y1 - truth.y0, j = options.jitter;
          box.x0 = round2(std::clamp(truth.x0 + uniform() * j * bw, 0.0, double(m.width) - 1));
          box.y0 = round2(std::clamp(truth.y0 + uniform() * j * bh, 0.0, double(m.height) - 1));
          box.x1 = round2(std::clamp(truth.x1 + uniform() * j * bw, box.x0 + 1, double(m.width)));
          box.y1 = round2(std::clamp(truth.y1 + uniform() * j * bh, box.y0 + 1, double(m.height)));
          score = round2(iou(box, truth));
        }
        out.push_back({{"image_id", id},
                       {"category_id", ids[std::size_t(c)]},
                       {"bbox", {box.x0, box.y0, round2(box.x1 - box.x0), round2(box.y1 - box.y0)}},
                       {"score", score}});
        st.boxes++;
        any = true;
      }
    }
    st.images += any;
  }
  if (stats) *stats = st;
  return out;
}

}  // namespace wsss::pseudo
