#include "subcommands.hpp"
#include "wsss/refine/densecrf.hpp"

using namespace wsss;

namespace wsss_refine {

void add_crf(CLI::App& app, CrfArgs& a, cli::Action& action) {
  auto* sub = app.add_subcommand("crf", "Dense-CRF refinement of score maps (marginals with a background channel)");
  std::string presets;
  for (const auto& p : refine::crf_presets()) presets += (presets.empty() ? "" : ", ") + p.name + " (" + p.origin + ")";
  cli::describe(*sub,
                "Runs the fully connected CRF (permutohedral lattice, pydensecrf semantics) on each score map with "
                "a background score, and writes the marginals as OUT_DIR/refined/<id>.npy with classes [0, ...]. "
                "Presets: " + presets + ".",
                "wsss-refine crf --preset deeplab --bg-power 1 exp/cam/manifest.jsonl exp/crf",
                "wsss-pseudo(1) --field refined, wsss-miou(1) --pred refined");
  cli::add_per_image_arguments(*sub, a.stage, "Input manifest with score maps", cli::kClasses);
  sub->add_option("--field", a.options.field, "Score-map field (its classes in <field>_classes)");
  sub->add_option("--preset", a.options.preset, "CRF parameters: irn, psa or deeplab");
  cli::add_background_options(*sub, a.background, "default: --bg-power 1 (CLIP-ES)");
  sub->add_flag("--float16", a.options.float16, "Store the marginals as float16");
  sub->callback([&action, sub, &a] {
    action = [sub, &a] {
      return cli::run_per_image(*sub, a.stage, [&a](const cli::PerImageInputs& in) {
        a.options.background = a.background.rule({BackgroundRule::Power, 1.0});
        return refine::make_crf_processor(in.vocab, in.manifest.path, in.args.out_dir, a.options);
      });
    };
  });
}

}  // namespace wsss_refine
