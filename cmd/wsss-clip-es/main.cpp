// wsss-clip-es: training-free class maps from CLIP (CLIP-ES), or CLIP's labels
// for unlabelled images; the computation lives in lib/src/cam/clip_es*.cpp.
#include "tool.hpp"
#include "wsss/cam/clip_es_stage.hpp"
#include "wsss/core/log.hpp"
#include "wsss/models/threads.hpp"

using namespace wsss;

int main(int argc, char** argv) {
  cli::ToolInfo info{"wsss-clip-es",
                     "CLIP-ES (CVPR'23) with OpenAI's CLIP ViT-B/16: per image, GradCAM of CLIP's softmax over the "
                     "image's classes and the class-related background names, refined by the attention affinity of "
                     "the last 8 blocks; one .npy score map per image (cam, cam_classes). --mode tags instead writes "
                     "the classes CLIP finds as the record's labels.",
                     "wsss-clip-es -j 2 --model ViT-B-16.pt exp/data/train.jsonl exp/clip_es",
                     "wsss-miou(1) --pred cam --bg-power 1, wsss-refine(1) crf, wsss-sam(1), docs/clip-es.md"};
  static cli::CommonOptions common;
  static std::string manifest, out_dir, mode = "cams";
  static cam::ClipEsStageOptions options;
  static std::string model, bpe, prompts;
  return cli::run_tool(argc, argv, info, [](CLI::App& app, cli::Action& action) {
    app.add_option("manifest", manifest, "Input manifest (needs image; labels in cams mode)")->required();
    app.add_option("out_dir", out_dir, "Output directory")->required();
    app.add_option("--model", model, "OpenAI's CLIP file (ViT-B-16.pt) or safetensors with its tensor names")
        ->required();
    app.add_option("--bpe", bpe, "CLIP's bpe_simple_vocab_16e6.txt.gz (default: beside the model)");
    app.add_option("--prompts", prompts,
                   "CLIP-ES prompt table (default: data_manifests/<vocabulary>/clip_es.json)");
    app.add_option("--mode", mode, "cams (score maps of the labels) or tags (labels from CLIP)")
        ->check(CLI::IsMember({"cams", "tags"}));
    app.add_option("--box-threshold", options.box_threshold,
                   "Fraction of the CAM's max bounding the refinement (default: the prompt table's, 0.4 VOC, 0.7 COCO)")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--tag-threshold", options.tags.threshold,
                   "tags: a class is found when softmax([class, background]) gives it at least this (default 0.5)")
        ->check(CLI::Range(0.0, 1.0));
    app.add_flag("!--allow-no-tags", options.tags.at_least_one,
                 "tags: leave an image without labels when no class passes (default: its best class)");
    app.add_flag("--float16", options.float16, "Store score maps as float16 (as the reference saves them)");
    cli::add_common_options(app, common, cli::kPerImage | cli::kDevice | cli::kClasses);
    action = [&app] {
      cli::apply_common_options(app, common);
      // One single-threaded network per worker keeps the maps identical for any -j.
      models::set_torch_threads(1);
      options.model = model;
      options.bpe = bpe;
      options.prompts = prompts;
      options.mode = mode == "tags" ? cam::ClipEsMode::Tags : cam::ClipEsMode::Cams;
      options.device = common.device;
      StageOptions stage = common.stage_options(out_dir);
      Manifest m = read_manifest(manifest, {common.allow_empty});
      Vocabulary vocab = vocabulary_for(m.dir, common.classes);
      auto processor = cam::make_clip_es_processor(vocab, m.path, out_dir, options);
      StageSummary s = run_stage(*processor, m, stage, &vocab);
      log::info(summary_line(s));
      return s.ok ? 0 : 1;
    };
  });
}
