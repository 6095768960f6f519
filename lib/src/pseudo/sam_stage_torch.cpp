// The SAM-family segmenter of wsss-sam's loop (sam_stage.cpp) and the choice of segmenter.
#include <mutex>

#include "wsss/core/error.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/sam.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/pseudo/sam_stage.hpp"

namespace wsss::pseudo {

namespace {

class SamSegmenter : public PromptSegmenter {
 public:
  SamSegmenter(const SamStageOptions& o, SamStageCounts& counts)
      : model_(o.model, o.device), multimask_(o.multimask), counts_(counts) {}

  std::vector<PromptedMask> segment(const cv::Mat& rgb, const std::vector<Prompt>& prompts,
                                    std::uint64_t) override {
    models::use_single_threaded_torch();
    {
      // A model whose outputs have the wrong shape fails every item: after the
      // first, the others fail at once instead of each running the encoder.
      std::lock_guard<std::mutex> lock(broken_mu_);
      if (!broken_.empty()) throw Error(broken_);
    }
    std::vector<models::SamMask> masks;
    try {
      auto lock = gate_.enter();  // one shared module (models::DeviceGate)
      models::SamImage image = model_.embed(rgb);  // once per image, for all its prompts
      counts_.embeddings++;
      masks = model_.predict(image, prompts, multimask_);
    } catch (const InputError& e) {  // the model's outputs (prompt problems are plain Errors)
      std::lock_guard<std::mutex> lock(broken_mu_);
      broken_ = e.what();
      throw;
    }
    std::vector<PromptedMask> out(masks.size());
    for (std::size_t i = 0; i < masks.size(); ++i) {
      out[i].mask = std::move(masks[i].mask);
      out[i].quality = masks[i].iou;
    }
    return out;
  }

 private:
  models::SamModel model_;
  models::DeviceGate gate_{model_.device()};
  bool multimask_;
  SamStageCounts& counts_;
  std::mutex broken_mu_;
  std::string broken_;
};

}  // namespace

std::unique_ptr<ItemProcessor> make_sam_processor(const Manifest& manifest, const Vocabulary& vocab,
                                                  const fs::path& out_dir, const SamStageOptions& options,
                                                  SamStageCounts& counts) {
  // One single-threaded network per worker (the model loads on this thread):
  // outputs identical for any -j (docs/determinism.md).
  options.validate();  // before a large model is loaded
  models::use_single_threaded_torch();
  if (options.segmenter == SegmenterKind::GrabCut)
    return make_prompt_processor(manifest, vocab, out_dir, options, counts,
                                 [&] { return make_grabcut_segmenter(options.grabcut); });
  return make_prompt_processor(manifest, vocab, out_dir, options, counts,
                               [&]() -> std::unique_ptr<PromptSegmenter> {
                                 return std::make_unique<SamSegmenter>(options, counts);
                               });
}

}  // namespace wsss::pseudo
