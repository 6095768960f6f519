// wsss-pseudo: score maps (CAMs or refined maps) to pseudo-label PNGs.
#include "background.hpp"
#include "tool.hpp"
#include "wsss/core/log.hpp"
#include "wsss/pseudo/pseudo.hpp"

using namespace wsss;

int main(int argc, char** argv) {
  cli::ToolInfo info{"wsss-pseudo",
                     "Turns score maps into pseudo-label PNGs: a background score (constant threshold or "
                     "(1 - max)^A), an optional dense CRF, an optional ignore rule (255), then argmax over the "
                     "image's classes. IRN's IR labels are --ignore irn --crf irn --out-field ir_label.",
                     "wsss-pseudo -j 8 --bg-threshold 0.15 exp/cam/manifest.jsonl exp/pseudo",
                     "wsss-cam(1), wsss-refine(1), wsss-miou(1) --pred pseudo, docs/pseudo.md"};
  static cli::CommonOptions common;
  static cli::BackgroundOptions background;
  static pseudo::PseudoOptions options;
  static std::string manifest, out_dir, ignore = "none";
  return cli::run_tool(argc, argv, info, [](CLI::App& app, cli::Action& action) {
    app.add_option("manifest", manifest, "Input manifest with score maps")->required();
    app.add_option("out_dir", out_dir, "Output directory")->required();
    app.add_option("--field", options.field, "Score-map field (its classes in <field>_classes): cam, refined, ...");
    app.add_option("--out-field", options.out_field, "Field of the label PNGs: pseudo, or ir_label for IRN");
    cli::add_background_options(app, background, "default 0.15 (IRN's cam_eval_thres)");
    app.add_option("--ignore", ignore, "none, irn[:FG:BG] (default 0.30:0.05) or confidence[:P] (default 0.95)");
    app.add_option("--crf", options.crf, "CRF preset applied before the argmax: irn, psa or deeplab");
    cli::add_common_options(app, common, cli::kPerImage | cli::kClasses);
    action = [&app] {
      cli::apply_common_options(app, common);
      options.background = background.rule({BackgroundRule::Threshold, 0.15});
      options.ignore = pseudo::IgnoreRule::parse(ignore);
      if (options.ignore.kind == pseudo::IgnoreRule::Irn && (background.threshold >= 0 || background.power >= 0))
        throw UsageError("--ignore irn sets the background with its own two thresholds; drop --bg-threshold/--bg-power");
      StageOptions stage = common.stage_options(out_dir);
      Manifest m = read_manifest(manifest, {common.allow_empty});
      Vocabulary vocab = vocabulary_for(m.dir, common.classes);
      auto processor = pseudo::make_pseudo_processor(vocab, m.path, out_dir, options);
      StageSummary s = run_stage(*processor, m, stage, &vocab);
      log::info(summary_line(s));
      return s.ok ? 0 : 1;
    };
  });
}
