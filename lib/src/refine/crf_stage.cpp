#include "wsss/refine/crf_stage.hpp"

#include "wsss/core/error.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"
#include "wsss/refine/densecrf.hpp"

namespace wsss::refine {

namespace {

void check_image(const cv::Mat& rgb, const ChannelScores& s) {
  if (rgb.cols != s.width || rgb.rows != s.height)
    throw Error("score map is " + std::to_string(s.width) + "x" + std::to_string(s.height) + " but the image is " +
                std::to_string(rgb.cols) + "x" + std::to_string(rgb.rows));
}

}  // namespace

std::vector<float> crf_marginals(const cv::Mat& rgb, const ChannelScores& s, const std::string& preset, int threads) {
  const CrfPreset& p = crf_preset(preset);
  if (s.channels() < 2) return s.prob;
  check_image(rgb, s);
  cv::Mat contiguous = rgb.isContinuous() ? rgb : rgb.clone();
  const std::uint8_t* pixels = contiguous.ptr<std::uint8_t>();
  if (p.unary == CrfUnary::Labels) {
    std::vector<std::uint8_t> start = argmax(s.prob.data(), s.channels(), std::size_t(s.width) * s.height);
    return crf_from_labels(pixels, s.width, s.height, start.data(), s.channels(), p.params, threads).q;
  }
  return crf_from_probabilities(pixels, s.width, s.height, s.prob.data(), s.channels(), p.params, threads).q;
}


namespace {

class CrfProcessor : public ItemProcessor {
 public:
  CrfProcessor(const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir, const CrfStageOptions& o)
      : vocab_(vocab), manifest_(manifest), out_dir_(out_dir), options_(o) {
    // Usage errors before any item: an unknown preset, a bad override.
    params_ = crf_preset(o.preset).params;
    if (o.iterations >= 0) params_.iterations = o.iterations;
    if (o.gt_prob >= 0) params_.gt_prob = o.gt_prob;
    if (!(params_.gt_prob > 0 && params_.gt_prob < 1))
      throw UsageError("--gt-prob must be in (0,1), got " + std::to_string(params_.gt_prob));
    if (!o.mask_field.empty() && !is_path_field(o.mask_field))
      throw UsageError("--mask-field " + o.mask_field + ": not a label-mask field (mask, pseudo, pred, ir_label)");
  }
  std::vector<fs::path> outputs(const Record& r) const override {
    return {item_file(out_dir_, "refined", record_id(r), ".npy")};
  }
  std::vector<std::string> fields() const override { return {"refined", "refined_classes"}; }
  Record process(const Record& r, std::uint64_t) override {
    if (!options_.mask_field.empty()) return process_mask(r);
    const fs::path image = record_path(r, "image", manifest_);
    cv::Mat rgb = read_image_rgb(image);
    RecordScores scores = load_scores(r, options_.field, vocab_, manifest_, rgb.cols, rgb.rows, "the image " + image.string());
    if (options_.drop_bg_channel) drop_background_channel(scores);
    ChannelScores channels = with_background(scores, options_.background);
    std::vector<float> q = crf_marginals(rgb, channels, options_.preset, options_.threads);
    fs::path file = outputs(r)[0];
    write_npy(file, q.data(), {channels.channels(), rgb.rows, rgb.cols},
              options_.float16 ? NpyDType::Float16 : NpyDType::Float32);
    Record out;
    out["refined"] = file.string();
    out["refined_classes"] = channels.ids;
    return out;
  }

 private:
  // The label-mask input: pydensecrf's unary_from_labels over the image's classes.
  Record process_mask(const Record& r) {
    const std::string& id = record_id(r);
    cv::Mat rgb = read_image_rgb(record_path(r, "image", manifest_));
    const fs::path mask_file = record_path(r, options_.mask_field, manifest_);
    const Mask mask = read_mask(mask_file);
    if (mask.width != rgb.cols || mask.height != rgb.rows)
      throw InputError(mask_file, "mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) +
                                      " but the image of item " + quote_id(id) + " is " + std::to_string(rgb.cols) + "x" +
                                      std::to_string(rgb.rows));
    for (std::uint8_t v : mask.data)
      if (v != vocab_.ignore && v >= vocab_.size())
        throw InputError(mask_file, "value " + std::to_string(v) + " is not a class id 0.." +
                                        std::to_string(vocab_.size() - 1) + " nor the ignore id " +
                                        std::to_string(vocab_.ignore));
    const std::vector<int> labels = record_labels(r, vocab_.num_foreground(), manifest_);
    const auto unsure = static_cast<std::uint8_t>(vocab_.ignore);  // a vocabulary's ignore id is in k..255
    const std::vector<int> classes = mask_label_set(mask.data.data(), mask.data.size(), unsure, labels);
    cv::Mat contiguous = rgb.isContinuous() ? rgb : rgb.clone();
    const CrfResult crf = crf_from_mask(contiguous.ptr<std::uint8_t>(), rgb.cols, rgb.rows, mask.data.data(),
                                        unsure, classes, params_, options_.threads);
    fs::path file = outputs(r)[0];
    write_npy(file, crf.q.data(), {std::int64_t(classes.size()), rgb.rows, rgb.cols},
              options_.float16 ? NpyDType::Float16 : NpyDType::Float32);
    Record out;
    out["refined"] = file.string();
    out["refined_classes"] = classes;
    return out;
  }

  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  CrfStageOptions options_;
  CrfParams params_;
};

}  // namespace

std::unique_ptr<ItemProcessor> make_crf_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                  const fs::path& out_dir, const CrfStageOptions& options) {
  return std::make_unique<CrfProcessor>(vocab, manifest, out_dir, options);
}

}  // namespace wsss::refine
