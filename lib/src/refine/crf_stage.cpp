#include "wsss/refine/crf_stage.hpp"

#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/core/error.hpp"
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
    crf_preset(o.preset);  // an unknown preset is a usage error before any item
  }
  std::vector<fs::path> outputs(const Record& r) const override {
    return {item_file(out_dir_, "refined", record_id(r), ".npy")};
  }
  std::vector<std::string> fields() const override { return {"refined", "refined_classes"}; }
  Record process(const Record& r, std::uint64_t) override {
    cv::Mat rgb = read_image_rgb(record_path(r, "image", manifest_));
    RecordScores scores = load_scores(r, options_.field, vocab_, manifest_, rgb.cols, rgb.rows);
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
  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  CrfStageOptions options_;
};

}  // namespace

std::unique_ptr<ItemProcessor> make_crf_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                  const fs::path& out_dir, const CrfStageOptions& options) {
  return std::make_unique<CrfProcessor>(vocab, manifest, out_dir, options);
}

}  // namespace wsss::refine
