#include "wsss/cam/clip_es_stage.hpp"

#include <cmath>
#include <cstdio>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/threads.hpp"

namespace wsss::cam {

fs::path resolve_clip_bpe(const fs::path& model, const fs::path& bpe) {
  if (!bpe.empty()) return bpe;
  fs::path beside = model.parent_path() / "bpe_simple_vocab_16e6.txt.gz";
  if (fs::is_regular_file(beside)) return beside;
  throw InputError(beside, "no such file: CLIP's BPE vocabulary is looked for beside the model; pass it with --bpe "
                           "(docs/clip-es.md)");
}

namespace {

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

class ClipEsProcessor : public ItemProcessor {
 public:
  ClipEsProcessor(const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir,
                  const ClipEsStageOptions& options)
      : vocab_(vocab), manifest_(manifest), out_dir_(out_dir), options_(options),
        device_(models::resolve_device(options.device)),
        model_(models::ClipModel::load(options.model)),
        tokenizer_(text::ClipTokenizer::load(resolve_clip_bpe(options.model, options.bpe))),
        prompts_(options.prompts.empty() ? text::ClipEsPrompts::for_vocabulary(vocab)
                                         : text::ClipEsPrompts::load(options.prompts, vocab)) {
    if (model_.config().context_length > text::kClipContextLength)
      throw InputError(options.model, "context length " + std::to_string(model_.config().context_length) +
                                          " is longer than CLIP's 77");
    model_.to(device_);
    text_ = encode_prompts(model_, tokenizer_, prompts_);  // once per run
    maps_.box_threshold = options.box_threshold >= 0 ? options.box_threshold : prompts_.box_threshold;
    maps_.affinity_blocks = options.affinity_blocks;
    log::info("CLIP ", model_.config().describe(), "; ", text_.foreground.size(0), " class prompts and ",
              text_.background.size(0), " background prompts from ", prompts_.file.string(),
              options.mode == ClipEsMode::Cams ? "; box threshold " + short_number(maps_.box_threshold) : "");
  }

  std::vector<fs::path> outputs(const Record& r) const override {
    if (options_.mode == ClipEsMode::Tags) return {};
    return {item_file(out_dir_, "cam", record_id(r), ".npy")};
  }
  std::vector<std::string> fields() const override {
    if (options_.mode == ClipEsMode::Tags) return {"labels", "clip_scores"};
    return {"cam", "cam_classes"};
  }

  Record process(const Record& r, std::uint64_t) override {
    models::use_single_threaded_torch();
    const fs::path image = record_path(r, "image", manifest_);
    Record out;
    if (options_.mode == ClipEsMode::Tags) {
      cv::Mat rgb = read_image_rgb(image);
      ClipTags tags;
      {
        auto lock = gate_.enter();
        tags = clip_tags(model_, text_, rgb, options_.tags, image.string());
      }
      if (r.contains("labels")) out["labels_gt"] = r["labels"];
      out["labels"] = tags.labels;
      std::vector<double> scores;
      // Six significant digits keep manifests short and diffable.
      for (float s : tags.scores) scores.push_back(std::round(double(s) * 1e6) / 1e6);
      out["clip_scores"] = scores;
      return out;
    }
    if (!r.contains("labels"))
      throw InputError(manifest_, "item '" + record_id(r) +
                                      "': no \"labels\" (unlabelled images: run wsss-clip-es --mode tags first)");
    std::vector<int> classes = record_labels(r, vocab_.num_foreground(), manifest_);
    cv::Mat rgb = read_image_rgb(image);
    const fs::path file = outputs(r)[0];
    const NpyDType dtype = options_.float16 ? NpyDType::Float16 : NpyDType::Float32;
    if (classes.empty()) {
      // No class: an empty [0, H, W] map, as wsss-cam writes (and no network pass).
      std::vector<float> none;
      write_npy(file, none.data(), {0, rgb.rows, rgb.cols}, dtype);
    } else {
      ClipEsMaps maps;
      {
        auto lock = gate_.enter();
        maps = clip_es_maps(model_, text_, rgb, classes, maps_, image.string());
      }
      torch::Tensor refined = maps.refined.contiguous();
      write_npy(file, refined.data_ptr<float>(), {refined.size(0), refined.size(1), refined.size(2)}, dtype);
    }
    out["cam"] = file.string();
    out["cam_classes"] = classes;
    return out;
  }

 private:
  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  ClipEsStageOptions options_;
  torch::Device device_;
  models::ClipModel model_;
  text::ClipTokenizer tokenizer_;
  text::ClipEsPrompts prompts_;
  ClipEsText text_;
  ClipEsOptions maps_;
  models::DeviceGate gate_{device_};
};

}  // namespace

std::unique_ptr<ItemProcessor> make_clip_es_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                      const fs::path& out_dir, const ClipEsStageOptions& options) {
  // One single-threaded network per worker (the model loads on this thread):
  // outputs identical for any -j (docs/determinism.md).
  models::use_single_threaded_torch();
  return std::make_unique<ClipEsProcessor>(vocab, manifest, out_dir, options);
}

}  // namespace wsss::cam
