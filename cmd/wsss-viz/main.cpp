// wsss-viz: pictures of a manifest's images, score maps, masks and errors.
#include "per_image.hpp"
#include "tool.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/parse.hpp"
#include "wsss/viz/viz_stage.hpp"

using namespace wsss;

namespace {

struct Args {
  cli::PerImageArgs stage;
  viz::VizOptions options;
  viz::VizSelection selection;
};

void setup(CLI::App& app, Args& a, cli::Action& action) {
  cli::add_per_image_arguments(app, a.stage, "Input manifest (needs image; the fields to draw)", cli::kClasses | cli::kSeed);
  auto& o = a.options;
  auto& s = a.selection;
  app.add_option("--scores", "Score-map fields drawn as heat maps, one panel per class, comma-separated (e.g. cam,refined)")
      ->each([&o](const std::string& t) { o.scores = parse_names(t, "--scores"); o.auto_fields = false; });
  app.add_option("--masks", "Mask fields drawn as palette overlays, comma-separated (e.g. mask,pseudo)")
      ->each([&o](const std::string& t) { o.masks = parse_names(t, "--masks"); o.auto_fields = false; });
  app.add_option("--errors", "Mask fields drawn as error maps against --gt, comma-separated (e.g. pred)")
      ->each([&o](const std::string& t) { o.errors = parse_names(t, "--errors"); o.auto_fields = false; });
  app.add_option("--gt", o.gt, "Ground-truth mask field of the error maps and --worst")->capture_default_str();
  app.add_option("--alpha", o.alpha, "Opacity of overlays and heat maps over the image")
      ->capture_default_str()->check(cli::range(0, 1));
  app.add_option("--size", o.size, "Longer side of each panel in pixels (0: the image's size)")
      ->capture_default_str()->check(CLI::Range(0, 4096));
  auto* ids = app.add_option("--ids", "Only these images, in this order (comma-separated ids)")
                  ->each([&s](const std::string& t) { s.ids = parse_names(t, "--ids"); });
  auto* sample = app.add_option("--sample", s.sample, "Only N images drawn at random with --seed (the same N "
                                                      "for the same seed and ids)");
  auto* worst = app.add_option("--worst", s.worst, "Only the N images with the lowest per-image mIoU of "
                                                   "--worst-field against --gt, lowest first");
  app.add_option("--worst-field", s.worst_field, "Prediction ranked by --worst (default: the first --errors field)");
  app.add_option("--grid-max", o.grid_max, "Write OUT_DIR/grid.png when the run covers at most N images")
      ->capture_default_str();
  ids->excludes(sample)->excludes(worst);
  sample->excludes(worst);
  action = [&app, &a] {
    cli::PerImageHooks hooks;
    hooks.select = [&a](const Manifest& m, const Vocabulary& vocab, const StageOptions& stage) {
      if (!m.records.empty()) viz::resolve_fields(a.options, m.records.front());
      a.selection.seed = stage.seed;
      if (!stage.shard.sharded()) check_can_write(viz::grid_file(stage.out_dir), stage.overwrite || stage.skip_existing);
      Manifest chosen = viz::select_records(m, vocab, a.selection, a.options, stage.threads);
      log::info("drawing ", chosen.records.size(), " of ", m.records.size(), " images");
      return chosen;
    };
    hooks.finish = [&a](const StageSummary& summary, const StageOptions& stage) {
      if (!summary.ok || summary.manifest.empty()) return;
      if (stage.shard.sharded()) {
        log::info("no grid for a shard: after wsss-data merge, run again unsharded with --skip-existing");
        return;
      }
      if (viz::write_grid(stage.out_dir, read_manifest(summary.manifest.string()), a.options))
        log::info("wrote ", viz::grid_file(stage.out_dir).string());
      else
        log::info("no grid: more than --grid-max ", a.options.grid_max, " images");
    };
    return cli::run_per_image(
        app, a.stage,
        [&a](const cli::PerImageInputs& in) {
          return viz::make_viz_processor(in.vocab, in.manifest.path, in.args.out_dir, a.options);
        },
        hooks);
  };
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(
      argc, argv,
      {"wsss-viz",
       "Draws each image of a manifest beside its score maps as heat maps (one panel per class, named), its masks "
       "as VOC-palette overlays (255 opaque in its own colour) and the error maps of predictions against the "
       "ground truth (correct, wrong class, missed foreground, false foreground), as OUT_DIR/viz/<id>.png; and, "
       "for a run of at most --grid-max images, all of them stacked as OUT_DIR/grid.png. Without --scores, "
       "--masks or --errors it draws every score map and mask the first record has, and the error maps of the "
       "masks against --gt.",
       "wsss-viz --worst 8 --errors pred --masks mask,pred exp/pred-cam/manifest.jsonl exp/viz-cam",
       "wsss-miou(1), wsss-report(1), docs/viz.md"},
      setup);
}
