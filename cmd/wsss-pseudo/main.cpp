// wsss-pseudo: score maps (CAMs or refined maps) to pseudo-label PNGs.
#include "background.hpp"
#include "per_image.hpp"
#include "tool.hpp"
#include "wsss/pseudo/pseudo.hpp"

using namespace wsss;

namespace {

struct Args {
  cli::PerImageArgs stage;
  cli::BackgroundOptions background;
  std::string ignore = "none";
  pseudo::PseudoOptions options;
};

void setup(CLI::App& app, Args& a, cli::Action& action) {
  cli::add_per_image_arguments(app, a.stage, "Input manifest with score maps", cli::kClasses);
  app.add_option("--field", a.options.field, "Score-map field (its classes in <field>_classes): cam, refined, ...");
  app.add_option("--out-field", a.options.out_field, "Field of the label PNGs: pseudo, or ir_label for IRN");
  cli::add_background_options(app, a.background, "default 0.15 (IRN's cam_eval_thres)");
  app.add_option("--ignore", a.ignore, "none, irn[:FG:BG] (default 0.30:0.05) or confidence[:P] (default 0.95)");
  app.add_option("--crf", a.options.crf, "CRF preset applied before the argmax: irn, psa or deeplab");
  const std::string sal = "Saliency";
  auto& s = a.options.saliency;
  app.add_option("--saliency", a.options.saliency_field,
                 "Field of saliency maps (PNG 0-255 or .npy in [0,1]): background from saliency, classes from the "
                 "score maps, OAA's proxy-GT rule (docs/pseudo.md)")->group(sal);
  app.add_option("--sal-threshold", s.threshold, "Background only where saliency < T (OAA: 32/255)")
      ->check(cli::range(0, 1))->capture_default_str()->group(sal);
  app.add_option("--sal-floor", s.floor, "Scores (1 - saliency, min-max normalised maps) below F count as 0")
      ->check(cli::range(0, 1))->capture_default_str()->group(sal);
  app.add_option("--sal-conflict", s.conflict, "255 where two or more scores exceed C")
      ->check(cli::range(0, 1))->capture_default_str()->group(sal);
  app.add_option("--sal-object", s.object, "A map above A marks its pixel salient (255 unless a class wins)")
      ->check(cli::range(0, 1))->capture_default_str()->group(sal);
  app.add_option("--sal-min-fg", s.min_foreground, "An image with a smaller foreground share becomes all 255")
      ->check(cli::range(0, 1))->capture_default_str()->group(sal);
  action = [&app, &a] {
    return cli::run_per_image(app, a.stage, [&a](const cli::PerImageInputs& in) {
      a.options.background = a.background.rule({BackgroundRule::Threshold, 0.15});
      a.options.ignore = pseudo::IgnoreRule::parse(a.ignore);
      a.options.background_given = a.background.given();
      a.options.drop_bg_channel = a.background.drop_channel;
      return pseudo::make_pseudo_processor(in.vocab, in.manifest.path, in.args.out_dir, a.options);
    });
  };
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(
      argc, argv,
      {"wsss-pseudo",
       "Turns score maps into pseudo-label PNGs: a background score (constant threshold or (1 - max)^A), an "
       "optional dense CRF, an optional ignore rule (255), then argmax over the image's classes. IRN's IR labels "
       "are --ignore irn --crf irn --out-field ir_label.",
       "wsss-pseudo -j 8 --bg-threshold 0.15 exp/cam/manifest.jsonl exp/pseudo",
       "wsss-cam(1), wsss-refine(1), wsss-miou(1) --pred pseudo, docs/pseudo.md"},
      setup);
}
