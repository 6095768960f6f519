#include "subcommands.hpp"
#include "wsss/core/error.hpp"
#include "wsss/refine/densecrf.hpp"

using namespace wsss;

namespace wsss_refine {

void add_crf(CLI::App& app, CrfArgs& a, cli::Action& action) {
  auto* sub =
      app.add_subcommand("crf", "Dense-CRF refinement of score maps or label masks (marginals with a background channel)");
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
  cli::add_per_image_arguments(*sub, a.stage, "Input manifest with score maps", cli::kClasses);
  auto* field = sub->add_option("--field", a.options.field, "Score-map field (its classes in <field>_classes)");
  sub->add_option("--mask-field", a.options.mask_field,
                  "Refine the label PNGs of this field instead (pseudo masks, SAM masks, predictions)")
      ->excludes(field);
  sub->add_option("--preset", a.options.preset,
                  "CRF parameters: irn, psa or deeplab (default: deeplab, irn with --mask-field)");
  sub->add_option("--gt-prob", a.options.gt_prob,
                  "With --mask-field: probability of the mask's class, strictly inside the range (default 0.7)")
      ->check(cli::range(0, 1));
  sub->add_option("--iterations", a.options.iterations, "Mean-field iterations (default: the preset's, 10)")
      ->check(cli::at_least(0));
  cli::add_background_options(*sub, a.background, "default: --bg-power 1 (CLIP-ES)");
  sub->add_flag("--float16", a.options.float16, "Store the marginals as float16");
  sub->callback([&action, sub, &a] {
    action = [sub, &a] {
      const bool masks = !a.options.mask_field.empty();
      if (masks && sub->count("--preset") == 0) a.options.preset = "irn";  // IRN's label CRF
      if (sub->count("--gt-prob") && !masks) throw UsageError("--gt-prob applies to --mask-field only");
      if (masks && (sub->count("--bg-power") || sub->count("--bg-threshold") || a.background.drop_channel))
        throw UsageError("--bg-power, --bg-threshold and --drop-bg-channel apply to score maps, not to --mask-field");
      return cli::run_per_image(*sub, a.stage, [&a](const cli::PerImageInputs& in) {
        a.options.background = a.background.rule({BackgroundRule::Power, 1.0});
        a.options.drop_bg_channel = a.background.drop_channel;
        return refine::make_crf_processor(in.vocab, in.manifest.path, in.args.out_dir, a.options);
      });
    };
  });
}

}  // namespace wsss_refine
