// wsss-sam: pseudo masks from a Segment-Anything-family model prompted with boxes
// and points (detector boxes or CAM-derived prompts), merged into label PNGs.
#include "tool.hpp"
#include "wsss/core/log.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/pseudo/sam_stage.hpp"

using namespace wsss;

int main(int argc, char** argv) {
  cli::ToolInfo info{"wsss-sam",
                     "Pseudo masks from a SAM-family model (SAM ViT-B/L/H, MobileSAM, EfficientSAM exported to "
                     "TorchScript by scripts/export_sam.py) prompted with an open-vocabulary detector's boxes "
                     "(--detections, COCO results JSON) or with boxes and points derived from CAMs (--cam-prompts). "
                     "One mask per prompt, merged into one label PNG per image (field \"pseudo\"). "
                     "--segmenter grabcut runs OpenCV's GrabCut instead of SAM (no weights; to measure prompt "
                     "sources and merge rules).",
                     "wsss-sam -j 4 --model sam_vit_h.pt --detections dino_boxes.json exp/voc/train/manifest.jsonl "
                     "exp/voc/sam",
                     "wsss-cam(1), wsss-miou(1) --pred pseudo, wsss-train-seg(1), scripts/export_sam.py, docs/sam.md"};
  static cli::CommonOptions common;
  static pseudo::SamStageOptions options;
  static std::string manifest, out_dir, model, detections, prompt_names, cam_mode, merge, category_ids = "auto",
                     unknown_images = "warn", segmenter = "sam";
  static bool any_class = false;
  static float cam_threshold = 0.3f, cam_min_region = 0.1f;
  static int cam_regions = 3;
  return cli::run_tool(argc, argv, info, [](CLI::App& app, cli::Action& action) {
    app.add_option("manifest", manifest, "Input manifest (image; labels; the CAM field with --cam-prompts)")->required();
    app.add_option("out_dir", out_dir, "Output directory")->required();
    app.add_option("--segmenter", segmenter,
                   "sam (a SAM-family TorchScript --model) or grabcut (OpenCV GrabCut, no weights: box -> "
                   "GC_INIT_WITH_RECT, points -> certain-foreground disks; mask score = prompt score)")
        ->check(CLI::IsMember({"sam", "grabcut"}))->capture_default_str();
    app.add_option("--model", model, "SAM-family TorchScript model (scripts/export_sam.py; docs/sam.md)");
    app.add_option("--grabcut-iterations", options.grabcut.iterations, "GrabCut iterations")->capture_default_str();
    app.add_option("--grabcut-point-radius", options.grabcut.point_radius,
                   "GrabCut: radius in pixels of the certain-foreground disk around each point")
        ->capture_default_str();
    auto* det = app.add_option("--detections", detections,
                               "Detector boxes, COCO results JSON: [{image_id, category_id|category_name, bbox "
                               "[x,y,w,h], score}]");
    app.add_option("--prompt-names", prompt_names,
                   "Class prompt names for category_name (default: data_manifests/<vocab>/prompts.json if shipped)");
    app.add_option("--box-threshold", options.detection.score_threshold,
                   "Keep boxes whose score is above this (SAM_WSSS: 0.3)")->check(wsss::cli::range(0, 1));
    app.add_option("--category-ids", category_ids, "What category_id means: auto, vocab (1..K) or coco (1..90)");
    app.add_flag("--any-class", any_class, "Keep boxes of classes not among the image's labels");
    app.add_option("--unknown-images", unknown_images,
                   "Detections of images not in the manifest: warn (count, ignore; a split or subset manifest "
                   "meets detections of the whole data set) or error")
        ->check(CLI::IsMember({"warn", "error"}))->capture_default_str();
    auto* cam = app.add_option("--cam-prompts", cam_mode,
                               "Prompts from the record's CAM instead of detections: box, point or box+point");
    app.add_option("--cam-field", options.cam_field, "Score-map field of --cam-prompts (default cam)");
    app.add_option("--cam-threshold", cam_threshold, "CAM region: score >= this x the class's max")->check(wsss::cli::range(0, 1));
    app.add_option("--cam-regions", cam_regions, "At most this many regions (prompts) per class, largest first");
    app.add_option("--cam-min-region", cam_min_region,
                   "Drop regions smaller than this fraction of the class's largest")->check(wsss::cli::range(0, 1));
    det->excludes(cam);
    app.add_option("--merge", merge,
                   "How masks become one label map: max-id (SAM_WSSS), score, smallest, each optionally +ignore "
                   "(default: " + pseudo::MergeOptions().name() + ")");
    app.add_flag("--multimask", options.multimask, "Ask for M masks per prompt and keep the best by predicted IoU");
    app.add_option("--out-field", options.out_field, "Field of the label PNGs");
    // --seed: GrabCut's mixture initialisation (per image and prompt, whatever -j).
    cli::add_common_options(app, common, cli::kPerImage | cli::kDevice | cli::kClasses | cli::kSeed);
    action = [&app] {
      cli::apply_common_options(app, common);
      // One single-threaded model call per worker keeps the masks identical for any -j.
      models::set_torch_threads(1);
      if (detections.empty() == cam_mode.empty())
        throw UsageError("give one prompt source: --detections FILE or --cam-prompts box|point|box+point");
      if (segmenter == "grabcut") {
        if (!model.empty()) throw UsageError("--model is for --segmenter sam; grabcut needs no model file");
        if (options.multimask) throw UsageError("--multimask needs --segmenter sam");
        options.segmenter = pseudo::SegmenterKind::GrabCut;
        options.grabcut.validate();
      } else if (model.empty()) {
        throw UsageError("--model FILE is required (or --segmenter grabcut)");
      }
      options.model = model;
      options.device = common.device;
      options.detections = detections;
      options.prompt_names = prompt_names;
      options.detection.restrict_to_labels = !any_class;
      options.detection.category_ids = pseudo::parse_category_ids(category_ids);
      options.detection.unknown_images = pseudo::parse_unknown_images(unknown_images);
      if (!cam_mode.empty()) {
        options.cam = pseudo::CamPromptOptions::parse(cam_mode);
        options.cam.threshold = cam_threshold;
        options.cam.max_regions = cam_regions;
        options.cam.min_region = cam_min_region;
        options.cam.validate();
        if (options.cam_field.empty()) options.cam_field = "cam";
      } else if (!options.cam_field.empty()) {
        throw UsageError("--cam-field needs --cam-prompts");
      }
      if (!merge.empty()) options.merge = pseudo::MergeOptions::parse(merge);
      StageOptions stage = common.stage_options(out_dir);
      Manifest m = read_manifest(manifest, {common.allow_empty});
      Vocabulary vocab = vocabulary_for(m.dir, common.classes);
      pseudo::SamStageCounts counts;
      auto processor = pseudo::make_sam_processor(m, vocab, out_dir, options, counts);
      StageSummary s = run_stage(*processor, m, stage, &vocab);
      if (options.segmenter == pseudo::SegmenterKind::Sam)
        log::info(counts.images.load(), " images: ", counts.prompts.load(), " prompts, ", counts.embeddings.load(),
                  " image embeddings; ", counts.no_prompts.load(), " images had no prompt (all background)");
      else
        log::info(counts.images.load(), " images: ", counts.prompts.load(), " prompts (GrabCut); ",
                  counts.no_prompts.load(), " images had no prompt (all background)");
      log::info(summary_line(s));
      return s.ok ? 0 : 1;
    };
  });
}
