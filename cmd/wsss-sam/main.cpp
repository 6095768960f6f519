// wsss-sam: pseudo masks from a Segment-Anything-family model prompted with boxes
// and points (detector boxes or CAM-derived prompts), merged into label PNGs.
#include "per_image.hpp"
#include "tool.hpp"
#include "wsss/core/log.hpp"
#include "wsss/pseudo/sam_stage.hpp"

using namespace wsss;

namespace {

struct Args {
  cli::PerImageArgs stage;
  pseudo::SamStageOptions options;
  pseudo::SamStageCounts counts;
};

void setup(CLI::App& app, Args& a, cli::Action& action) {
  // --seed: GrabCut's mixture initialisation (per image and prompt, whatever -j).
  cli::add_per_image_arguments(app, a.stage, "Input manifest (image; labels; the CAM field with --cam-prompts)",
                               cli::kDevice | cli::kClasses | cli::kSeed);
  auto& o = a.options;
  app.add_option("--segmenter",
               "sam (a SAM-family TorchScript --model) or grabcut (OpenCV GrabCut, no weights: box -> "
               "GC_INIT_WITH_RECT, points -> certain-foreground disks; mask score = prompt score)")
      ->check(CLI::IsMember({"sam", "grabcut"}))
      ->each([&o](const std::string& text) {
      o.segmenter = text == "grabcut" ? pseudo::SegmenterKind::GrabCut : pseudo::SegmenterKind::Sam;
      });
  app.add_option("--model", o.model, "SAM-family TorchScript model (scripts/export_sam.py; docs/sam.md)");
  app.add_option("--grabcut-iterations", o.grabcut.iterations, "GrabCut iterations")->capture_default_str();
  app.add_option("--grabcut-point-radius", o.grabcut.point_radius,
               "GrabCut: radius in pixels of the certain-foreground disk around each point")
      ->capture_default_str();
  auto* det = app.add_option("--detections", o.detections,
                           "Detector boxes, COCO results JSON: [{image_id, category_id|category_name, bbox "
                           "[x,y,w,h], score}]");
  app.add_option("--prompt-names", o.prompt_names,
               "Class prompt names for category_name (default: data_manifests/<vocab>/prompts.json if shipped)");
  app.add_option("--box-threshold", o.detection.score_threshold,
               "Keep boxes whose score is above this (SAM_WSSS: 0.3)")->check(wsss::cli::range(0, 1));
  app.add_option("--category-ids", "What category_id means: auto, vocab (1..K) or coco (1..90) (default auto)")
      ->each([&o](const std::string& text) { o.detection.category_ids = pseudo::parse_category_ids(text); });
  app.add_flag("!--any-class", o.detection.restrict_to_labels, "Keep boxes of classes not among the image's labels");
  app.add_option("--unknown-images",
               "Detections of images not in the manifest: warn (count, ignore; a split or subset manifest "
               "meets detections of the whole data set) or error")
      ->check(CLI::IsMember({"warn", "error"}))
      ->each([&o](const std::string& text) { o.detection.unknown_images = pseudo::parse_unknown_images(text); });
  auto* cam = app.add_option("--cam-prompts", "Prompts from the record's CAM instead of detections: box, point or box+point")
                ->each([&o](const std::string& text) { o.use_cam_prompts(text); });
  app.add_option("--cam-field", o.cam_field, "Score-map field of --cam-prompts (default cam)");
  app.add_option("--cam-threshold", o.cam.threshold, "CAM region: score >= this x the class's max")->check(wsss::cli::range(0, 1));
  app.add_option("--cam-regions", o.cam.max_regions, "At most this many regions (prompts) per class, largest first");
  app.add_option("--cam-min-region", o.cam.min_region,
               "Drop regions smaller than this fraction of the class's largest")->check(wsss::cli::range(0, 1));
  det->excludes(cam);
  app.add_option("--merge")
      ->description("How masks become one label map: max-id (SAM_WSSS), score, smallest, each optionally +ignore "
                    "(default: " + pseudo::MergeOptions().name() + ")")
      ->each([&o](const std::string& text) { o.merge = pseudo::MergeOptions::parse(text); });
  app.add_flag("--multimask", o.multimask, "Ask for M masks per prompt and keep the best by predicted IoU");
  app.add_option("--out-field", o.out_field, "Field of the label PNGs");
  action = [&app, &a] {
    return cli::run_per_image(
        app, a.stage,
        [&a](const cli::PerImageInputs& in) {
          a.options.device = in.args.common.device;
          return pseudo::make_sam_processor(in.manifest, in.vocab, in.args.out_dir, a.options, a.counts);
        },
        [&a] {
          const auto& c = a.counts;
          if (a.options.segmenter == pseudo::SegmenterKind::Sam)
            log::info(c.images.load(), " images: ", c.prompts.load(), " prompts, ", c.embeddings.load(),
                      " image embeddings; ", c.no_prompts.load(), " images had no prompt (all background)");
          else
            log::info(c.images.load(), " images: ", c.prompts.load(), " prompts (GrabCut); ", c.no_prompts.load(),
                      " images had no prompt (all background)");
        });
  };
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(argc, argv, {"wsss-sam",
                     "Pseudo masks from a SAM-family model (SAM ViT-B/L/H, MobileSAM, EfficientSAM exported to "
                     "TorchScript by scripts/export_sam.py) prompted with an open-vocabulary detector's boxes "
                     "(--detections, COCO results JSON) or with boxes and points derived from CAMs (--cam-prompts). "
                     "One mask per prompt, merged into one label PNG per image (field \"pseudo\"). "
                     "--segmenter grabcut runs OpenCV's GrabCut instead of SAM (no weights; to measure prompt "
                     "sources and merge rules).",
                     "wsss-sam -j 4 --model sam_vit_h.pt --detections dino_boxes.json exp/voc/train/manifest.jsonl "
                     "exp/voc/sam",
                     "wsss-cam(1), wsss-miou(1) --pred pseudo, wsss-train-seg(1), scripts/export_sam.py, docs/sam.md"}, setup);
}
