// wsss-sam's per-image loop, the same for every segmenter (segmenter.hpp).
#include <cmath>

#include "wsss/core/error.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/png.hpp"
#include "wsss/pseudo/pseudo.hpp"
#include "wsss/pseudo/sam_stage.hpp"

namespace wsss::pseudo {

namespace {

// A prompt the segmenter cannot take for this image is the item's failure, as any bad input of one image.
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

class PromptProcessor : public ItemProcessor {
 public:
  PromptProcessor(const Manifest& manifest, const Vocabulary& vocab, const fs::path& out_dir,
                  const SamStageOptions& o, SamStageCounts& counts, const SegmenterFactory& make_segmenter)
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
    segmenter_ = make_segmenter();
  }

  std::vector<fs::path> outputs(const Record& r) const override {
    return {item_file(out_dir_, options_.out_field, record_id(r), ".png")};
  }
  std::vector<std::string> fields() const override { return {options_.out_field}; }

  Record process(const Record& r, std::uint64_t seed) override {
    const std::string& id = record_id(r);
    const fs::path image = record_path(r, "image", manifest_);
    cv::Mat rgb = read_image_rgb(image);
    const int w = rgb.cols, h = rgb.rows;
    std::vector<Prompt> prompts;
    if (options_.cam_field.empty()) {
      // A bad detection of this image (read_detections kept reading the file) fails it alone.
      auto bad = detections_.failed.find(id);
      if (bad != detections_.failed.end()) throw Error(bad->second);
      auto it = detections_.prompts.find(id);
      if (it != detections_.prompts.end()) prompts = it->second;
    } else {
      RecordScores scores = load_scores(r, options_.cam_field, vocab_, manifest_, w, h, "the image " + image.string());
      prompts = cam_prompts(scores.map, scores.classes, options_.cam, "item " + quote_id(id) + " " + options_.cam_field);
    }
    for (const Prompt& p : prompts) check_prompt(p, w, h);

    std::vector<InstanceMask> instances;
    if (!prompts.empty()) {
      std::vector<PromptedMask> masks = segmenter_->segment(rgb, prompts, seed);
      if (masks.size() != prompts.size())
        throw Error("item " + quote_id(id) + ": the segmenter returned " + std::to_string(masks.size()) + " masks for " +
                    std::to_string(prompts.size()) + " prompts");
      for (std::size_t i = 0; i < prompts.size(); ++i) {
        InstanceMask m;
        m.class_id = prompts[i].class_id;
        m.score = prompts[i].score * masks[i].quality;
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
  Detections detections_;
  std::unique_ptr<PromptSegmenter> segmenter_;
};

}  // namespace

void SamStageOptions::use_cam_prompts(const std::string& mode) {
  const CamPromptOptions parsed = CamPromptOptions::parse(mode);
  cam.boxes = parsed.boxes;
  cam.points = parsed.points;
  cam_prompts_ = true;
}

void SamStageOptions::validate() const {
  if (detections.empty() == !cam_prompts_)
    throw UsageError("give one prompt source: --detections FILE or --cam-prompts box|point|box+point");
  if (segmenter == SegmenterKind::GrabCut) {
    if (!model.empty()) throw UsageError("--model is for --segmenter sam; grabcut needs no model file");
    if (multimask) throw UsageError("--multimask needs --segmenter sam");
    grabcut.validate();
  } else if (model.empty()) {
    throw UsageError("--model FILE is required (or --segmenter grabcut)");
  }
  if (cam_prompts_) cam.validate();
  else if (!cam_field.empty()) throw UsageError("--cam-field needs --cam-prompts");
}

std::unique_ptr<ItemProcessor> make_prompt_processor(const Manifest& manifest, const Vocabulary& vocab,
                                                     const fs::path& out_dir, const SamStageOptions& given,
                                                     SamStageCounts& counts, const SegmenterFactory& make_segmenter) {
  given.validate();
  SamStageOptions options = given;
  if (!options.detections.empty()) options.cam_field.clear();
  else if (options.cam_field.empty()) options.cam_field = "cam";
  return std::make_unique<PromptProcessor>(manifest, vocab, out_dir, options, counts, make_segmenter);
}

}  // namespace wsss::pseudo
