// wsss-cam: class activation maps exactly as IRN's make_cam computes them.
#include <sstream>

#include "tool.hpp"
#include "wsss/core/parse.hpp"
#include "wsss/cam/classifier.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/models/threads.hpp"

using namespace wsss;

int main(int argc, char** argv) {
  cli::ToolInfo info{"wsss-cam",
                     "Computes class activation maps (IRN's make_cam: multi-scale, flip, ReLU, summed over scales, "
                     "each class divided by its max) and writes one .npy score map per image.",
                     "wsss-cam -j 8 --model exp/cls/model.safetensors exp/data/train.jsonl exp/cam",
                     "wsss-classify(1), wsss-miou(1) --pred cam --bg-sweep, wsss-pseudo(1), docs/cam.md"};
  static cli::CommonOptions common;
  static std::string manifest, out_dir, model, scales = "1.0,0.5,1.5,2.0", classes = "labels";
  static cam::CamStageOptions options;
  return cli::run_tool(argc, argv, info, [](CLI::App& app, cli::Action& action) {
    app.add_option("manifest", manifest, "Input manifest (needs image; labels unless --cam-classes says otherwise)")
        ->required();
    app.add_option("out_dir", out_dir, "Output directory")->required();
    app.add_option("--model", model, "CAM classifier from wsss-classify train")->required();
    app.add_option("--scales", scales, "Comma-separated input scales");
    app.add_flag("!--no-flip", options.flip, "Skip the horizontally flipped pass");
    app.add_flag("!--no-lowres", options.lowres, "Skip the stride-4 maps (cam_lowres, needed by the IRN random walk)");
    app.add_flag("--float16", options.float16, "Store score maps as float16 (half the disk)");
    app.add_flag("--preview", options.preview, "Also write OUT_DIR/preview/<id>.jpg: the CAMs as heat maps over the image");
    app.add_option("--cam-classes", classes, "Classes to map: labels, pred (pred_labels) or all")
        ->check(CLI::IsMember({"labels", "pred", "all"}));
    cli::add_common_options(app, common, cli::kPerImage | cli::kDevice | cli::kClasses);
    action = [&app] {
      cli::apply_common_options(app, common);
      // One single-threaded network per worker keeps the maps identical for any -j.
      models::set_torch_threads(1);
      options.scales = parse_scales(scales, "--scales");
      options.classes = classes == "labels" ? cam::CamClassSource::Labels
                        : classes == "pred" ? cam::CamClassSource::Predicted
                                            : cam::CamClassSource::All;
      options.device = common.device;
      StageOptions stage = common.stage_options(out_dir);
      Manifest m = read_manifest(manifest, {common.allow_empty});
      Vocabulary vocab = vocabulary_for(m.dir, common.classes);
      auto processor = cam::make_cam_processor(model, vocab, m.path, out_dir, options);
      StageSummary s = run_stage(*processor, m, stage, &vocab);
      log::info(summary_line(s));
      return s.ok ? 0 : 1;
    };
  });
}
