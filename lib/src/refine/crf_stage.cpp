#include "wsss/refine/crf_stage.hpp"

#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/pseudo/pseudo.hpp"
#include "wsss/refine/densecrf.hpp"

namespace wsss::refine {

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
    pseudo::RecordScores scores = pseudo::load_scores(r, options_.field, vocab_, manifest_, rgb.cols, rgb.rows);
    pseudo::ChannelScores channels = pseudo::with_background(scores, options_.background);
    std::vector<float> q = pseudo::crf_marginals(rgb, channels, options_.preset, options_.threads);
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
