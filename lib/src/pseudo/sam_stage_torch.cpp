#include <cmath>
#include <mutex>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/png.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/sam.hpp"
#include "wsss/pseudo/pseudo.hpp"
#include "wsss/pseudo/sam_stage.hpp"

namespace wsss::pseudo {

namespace {

// A prompt SAM cannot take for this image is the item's failure, as any bad input of one image.
void check_prompt(const Prompt& p, int width, int height) {
  if (!p.box) return;
  const Box& b = *p.box;
  if (!(std::isfinite(b.x0) && std::isfinite(b.y0) && std::isfinite(b.x1) && std::isfinite(b.y1)))
    throw Error(p.origin + ": box with a non-finite coordinate");
  if (!(b.x1 > b.x0 && b.y1 > b.y0)) throw Error(p.origin + ": box of zero area");
  if (b.x0 < 0 || b.y0 < 0 || b.x1 > width || b.y1 > height)
    throw Error(p.origin + ": box [" + std::to_string(b.x0) + ", " + std::to_string(b.y0) + ", " +
                std::to_string(b.x1) + ", " + std::to_string(b.y1) + "] is outside the " + std::to_string(width) +
                "x" + std::to_string(height) + " image");
}

class SamProcessor : public ItemProcessor {
 public:
  SamProcessor(const Manifest& manifest, const Vocabulary& vocab, const fs::path& out_dir, const SamStageOptions& o,
               SamStageCounts& counts)
      : vocab_(vocab), manifest_(manifest.path), out_dir_(out_dir), options_(o), counts_(counts) {
    if (!is_path_field(o.out_field))
      throw UsageError("--out-field " + o.out_field + ": not a label-mask field (pseudo, ir_label, pred, refined)");
    if (o.cam_field.empty()) {
      PromptNames names = o.prompt_names.empty() ? PromptNames::for_vocabulary(vocab)
                                                 : PromptNames::load(o.prompt_names, vocab);
      detections_ = read_detections(o.detections, manifest, vocab, names, o.detection);  // logs its counts
    } else {
      o.cam.validate();
    }
    // Last: a large model takes a while to load, and the cheap checks above come first.
    model_ = std::make_unique<models::SamModel>(o.model, o.device);
  }

  std::vector<fs::path> outputs(const Record& r) const override {
    return {item_file(out_dir_, options_.out_field, record_id(r), ".png")};
  }
  std::vector<std::string> fields() const override { return {options_.out_field}; }

  Record process(const Record& r, std::uint64_t) override {
    models::use_single_threaded_torch();
    const std::string& id = record_id(r);
    cv::Mat rgb = read_image_rgb(record_path(r, "image", manifest_));
    const int w = rgb.cols, h = rgb.rows;
    std::vector<Prompt> prompts;
    if (options_.cam_field.empty()) {
      auto it = detections_.find(id);
      if (it != detections_.end()) prompts = it->second;
    } else {
      RecordScores scores = load_scores(r, options_.cam_field, vocab_, manifest_, w, h);
      prompts = cam_prompts(scores.map, scores.classes, options_.cam, "item '" + id + "' " + options_.cam_field);
    }
    for (const Prompt& p : prompts) check_prompt(p, w, h);

    std::vector<InstanceMask> instances;
    if (!prompts.empty()) {
      std::vector<models::SamMask> masks;
      {
        // A model whose outputs have the wrong shape fails every item: after the
        // first, the others fail at once instead of each running the encoder.
        std::lock_guard<std::mutex> lock(broken_mu_);
        if (!broken_.empty()) throw Error(broken_);
      }
      try {
        // On the CPU every worker runs its own single-threaded forward (one shared
        // module, byte-identical for any -j); a GPU takes one image at a time.
        std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
        if (!model_->device().is_cpu()) lock.lock();
        models::SamImage image = model_->embed(rgb);  // once per image, for all its prompts
        counts_.embeddings++;
        masks = model_->predict(image, prompts, options_.multimask);
      } catch (const InputError& e) {  // the model's outputs (prompt problems are plain Errors)
        std::lock_guard<std::mutex> lock(broken_mu_);
        broken_ = e.what();
        throw;
      }
      for (std::size_t i = 0; i < prompts.size(); ++i) {
        InstanceMask m;
        m.class_id = prompts[i].class_id;
        m.score = prompts[i].score * masks[i].iou;
        m.mask = std::move(masks[i].mask);
        instances.push_back(std::move(m));
      }
    }
    MergeOptions merge = options_.merge;
    merge.ignore = vocab_.ignore;
    Mask labels = instances.empty() ? Mask(w, h, 0) : merge_masks(instances, w, h, merge);
    fs::path file = outputs(r)[0];
    write_mask(file, labels, vocab_.palette);
    counts_.images++;
    counts_.prompts += prompts.size();
    if (prompts.empty()) counts_.no_prompts++;
    Record out;
    out[options_.out_field] = file.string();
    return out;
  }

 private:
  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  SamStageOptions options_;
  SamStageCounts& counts_;
  std::unique_ptr<models::SamModel> model_;
  PromptsByImage detections_;
  std::mutex mu_, broken_mu_;
  std::string broken_;
};

}  // namespace

std::unique_ptr<ItemProcessor> make_sam_processor(const Manifest& manifest, const Vocabulary& vocab,
                                                  const fs::path& out_dir, const SamStageOptions& options,
                                                  SamStageCounts& counts) {
  if (options.cam_field.empty() == options.detections.empty())
    throw UsageError("give one prompt source: --detections FILE or --cam-prompts MODE");
  return std::make_unique<SamProcessor>(manifest, vocab, out_dir, options, counts);
}

}  // namespace wsss::pseudo
