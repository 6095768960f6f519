#include "background.hpp"
#include "subcommands.hpp"
#include "wsss/core/log.hpp"
#include "wsss/refine/crf_stage.hpp"
#include "wsss/refine/densecrf.hpp"

using namespace wsss;

namespace wsss_refine {

void add_crf(CLI::App& app, cli::Action& action) {
  static cli::CommonOptions common;
  static cli::BackgroundOptions background;
  static refine::CrfStageOptions options;
  static std::string manifest, out_dir;
  auto* sub = app.add_subcommand("crf", "Dense-CRF refinement of score maps or label masks (marginals with a background channel)");
  std::string presets;
  for (const auto& p : refine::crf_presets()) presets += (presets.empty() ? "" : ", ") + p.name + " (" + p.origin + ")";
  cli::describe(*sub,
                "Runs the fully connected CRF (permutohedral lattice, pydensecrf semantics) on each score map with "
                "a background score, or with --mask-field on each label mask (pydensecrf's unary_from_labels: "
                "--gt-prob on the mask's class, 255 unsure; the CRF's labels are background, the record's labels "
                "and the classes in the mask), and writes the marginals as OUT_DIR/refined/<id>.npy with classes "
                "[0, ...]. Presets: " + presets + ".",
                "wsss-refine crf --preset deeplab --bg-power 1 exp/cam/manifest.jsonl exp/crf\n"
                "  wsss-refine crf --mask-field pseudo exp/pseudo/manifest.jsonl exp/crf-masks",
                "wsss-pseudo(1) --field refined, wsss-miou(1) --pred refined");
  sub->add_option("manifest", manifest, "Input manifest with score maps")->required();
  sub->add_option("out_dir", out_dir, "Output directory")->required();
  auto* field = sub->add_option("--field", options.field, "Score-map field (its classes in <field>_classes)");
  sub->add_option("--mask-field", options.mask_field,
                  "Refine the label PNGs of this field instead (pseudo masks, SAM masks, predictions)")
      ->excludes(field);
  sub->add_option("--preset", options.preset,
                                 "CRF parameters: irn, psa or deeplab (default: deeplab, irn with --mask-field)");
  sub->add_option("--gt-prob", options.gt_prob, "With --mask-field: probability of the mask's class, in (0,1) (default 0.7)");
  sub->add_option("--iterations", options.iterations, "Mean-field iterations (default: the preset's, 10)")
      ->check(CLI::NonNegativeNumber);
  cli::add_background_options(*sub, background, "default: --bg-power 1 (CLIP-ES)");
  sub->add_flag("--float16", options.float16, "Store the marginals as float16");
  cli::add_common_options(*sub, common, cli::kPerImage | cli::kClasses);
  sub->callback([&action, sub] {
    action = [sub] {
      cli::apply_common_options(*sub, common);
      options.background = background.rule({BackgroundRule::Power, 1.0});
      if (!options.mask_field.empty() && sub->count("--preset") == 0) options.preset = "irn";  // IRN's label CRF
      if (sub->count("--gt-prob") && options.mask_field.empty())
        throw UsageError("--gt-prob applies to --mask-field only");
      if (!options.mask_field.empty() && (sub->count("--bg-power") || sub->count("--bg-threshold")))
        throw UsageError("--bg-power and --bg-threshold apply to score maps, not to --mask-field");
      StageOptions stage = common.stage_options(out_dir);
      Manifest m = read_manifest(manifest, {common.allow_empty});
      Vocabulary vocab = vocabulary_for(m.dir, common.classes);
      auto processor = refine::make_crf_processor(vocab, m.path, out_dir, options);
      StageSummary s = run_stage(*processor, m, stage, &vocab);
      log::info(summary_line(s));
      return s.ok ? 0 : 1;
    };
  });
}

}  // namespace wsss_refine
