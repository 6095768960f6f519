#include "wsss/pseudo/pseudo.hpp"

#include <algorithm>
#include <cmath>

#include "wsss/core/error.hpp"
#include "wsss/io/image.hpp"
#include "wsss/refine/crf_stage.hpp"
#include "wsss/refine/densecrf.hpp"

namespace wsss::pseudo {

IgnoreRule IgnoreRule::parse(const std::string& text) {
  IgnoreRule r;
  auto bad = [&] { return UsageError("--ignore " + text + ": expected none, irn[:FG:BG] or confidence[:P]"); };
  auto number = [&](const std::string& s) {
    try {
      std::size_t used = 0;
      float v = std::stof(s, &used);
      if (used != s.size() || !(v >= 0 && v <= 1)) throw bad();
      return v;
    } catch (const std::invalid_argument&) {
      throw bad();
    }
  };
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    std::size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts[0] == "none" && parts.size() == 1) return r;
  if (parts[0] == "irn" && (parts.size() == 1 || parts.size() == 3)) {
    r.kind = Irn;
    if (parts.size() == 3) {
      r.fg = number(parts[1]);
      r.bg = number(parts[2]);
    }
    if (r.bg > r.fg) throw UsageError("--ignore " + text + ": the background threshold must not exceed the foreground one");
    return r;
  }
  if (parts[0] == "confidence" && parts.size() <= 2) {
    r.kind = Confidence;
    if (parts.size() == 2) r.min_confidence = number(parts[1]);
    return r;
  }
  throw bad();
}

namespace {

// Index labels (0..k) of channel scores, through the CRF when one is asked for.
std::vector<std::uint8_t> index_labels(const cv::Mat& rgb, const ChannelScores& s, const std::string& crf, int threads) {
  const std::size_t n = std::size_t(s.width) * std::size_t(s.height);
  if (crf.empty() || s.channels() < 2) return argmax(s.prob.data(), s.channels(), n);
  return argmax(refine::crf_marginals(rgb, s, crf, threads).data(), s.channels(), n);
}

}  // namespace

Mask pseudo_labels(const cv::Mat& rgb, const RecordScores& scores, const PseudoOptions& o) {
  const int w = int(scores.map.width()), h = int(scores.map.height());
  const std::size_t n = std::size_t(w) * std::size_t(h);
  Mask out(w, h, 0);
  std::vector<std::uint8_t> idx;
  std::vector<int> ids;
  if (o.ignore.kind == IgnoreRule::Irn) {
    if (has_background_channel(scores.classes))
      throw Error("the IRN ignore rule needs score maps without a background channel (it sets the background by "
                  "threshold; --drop-bg-channel drops it)");
    BackgroundRule high{BackgroundRule::Threshold, o.ignore.fg}, low{BackgroundRule::Threshold, o.ignore.bg};
    ChannelScores fg = with_background(scores, high), bg = with_background(scores, low);
    std::vector<std::uint8_t> fg_conf = index_labels(rgb, fg, o.crf, o.crf_threads);
    std::vector<std::uint8_t> bg_conf = index_labels(rgb, bg, o.crf, o.crf_threads);
    idx = fg_conf;
    for (std::size_t i = 0; i < n; ++i) {
      if (fg_conf[i] == 0) idx[i] = bg_conf[i] == 0 ? 0 : 255;  // IRN's cam_to_ir_label
    }
    ids = fg.ids;
  } else {
    ChannelScores s = with_background(scores, o.background);
    std::vector<float> prob = (!o.crf.empty() && s.channels() > 1) ? refine::crf_marginals(rgb, s, o.crf, o.crf_threads) : s.prob;
    idx = argmax(prob.data(), s.channels(), n);
    if (o.ignore.kind == IgnoreRule::Confidence) {
      for (std::size_t i = 0; i < n; ++i)
        if (prob[std::size_t(idx[i]) * n + i] < o.ignore.min_confidence) idx[i] = 255;
    }
    ids = s.ids;
  }
  for (std::size_t i = 0; i < n; ++i) out.data[i] = idx[i] == 255 ? 255 : std::uint8_t(ids[idx[i]]);
  return out;
}

namespace {

class PseudoProcessor : public ItemProcessor {
 public:
  PseudoProcessor(const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir, const PseudoOptions& o)
      : vocab_(vocab), manifest_(manifest), out_dir_(out_dir), options_(o) {
    if (!o.crf.empty()) refine::crf_preset(o.crf);  // an unknown preset is a usage error before any item
  }
  std::vector<fs::path> outputs(const Record& r) const override {
    return {item_file(out_dir_, options_.out_field, record_id(r), ".png")};
  }
  std::vector<std::string> fields() const override { return {options_.out_field}; }
  Record process(const Record& r, std::uint64_t) override {
    fs::path image = record_path(r, "image", manifest_);
    cv::Mat rgb;
    int w, h;
    if (options_.crf.empty()) {
      std::tie(w, h) = image_size(image);  // the header suffices to check the map's size
    } else {
      rgb = read_image_rgb(image);
      w = rgb.cols;
      h = rgb.rows;
    }
    RecordScores scores = load_scores(r, options_.field, vocab_, manifest_, w, h, "the image " + image.string());
    if (options_.drop_bg_channel) drop_background_channel(scores);
    Mask labels = options_.saliency_field.empty()
                      ? pseudo_labels(rgb, scores, options_)
                      : saliency_labels(scores, read_saliency(record_path(r, options_.saliency_field, manifest_), w, h),
                                        options_.saliency);
    fs::path file = outputs(r)[0];
    write_mask(file, labels, vocab_.palette);
    Record out;
    out[options_.out_field] = file.string();
    return out;
  }

 private:
  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  PseudoOptions options_;
};

}  // namespace

void PseudoOptions::validate() const {
  if (ignore.kind == IgnoreRule::Irn && background_given)
    throw UsageError("--ignore irn sets the background with its own two thresholds; drop --bg-threshold/--bg-power");
  if (!saliency_field.empty()) {
    saliency.validate();
    if (background_given || ignore.kind != IgnoreRule::None || !crf.empty())
      throw UsageError("--saliency sets the background and the ignored pixels itself; drop --bg-threshold, "
                       "--bg-power, --ignore and --crf");
  }
  if (!is_path_field(out_field))
    throw UsageError("--out-field " + out_field + ": not a label-mask field (pseudo, ir_label, pred, refined)");
}

std::unique_ptr<ItemProcessor> make_pseudo_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                     const fs::path& out_dir, const PseudoOptions& options) {
  options.validate();
  return std::make_unique<PseudoProcessor>(vocab, manifest, out_dir, options);
}

}  // namespace wsss::pseudo
